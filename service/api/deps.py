"""Request dependencies: the database, the calling principal, its role, its agreement.

``EngineDep`` is the app's engine; ``PrincipalDep`` the agency and role behind the request's
``Authorization: Bearer`` key (401 without a valid, unrevoked key); :func:`need` narrows to
roles (403 otherwise). :func:`agreement_of` loads an agreement the caller is a party to and
answers 404 — not 403 — to everyone else, so an outsider cannot even learn that it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Request

from service._audit import Actor
from service._keys import hash_key
from service._tables import agencies, agreement_parties, agreements, api_keys
from service.api.errors import ServiceError

__all__ = ["EngineDep", "Principal", "PrincipalDep", "PurposeDep", "agreement_of", "need"]


@dataclass(frozen=True)
class Principal:
    key_id: str
    agency_id: int
    agency: str
    role: str

    @property
    def actor(self) -> Actor:
        return Actor(agency=self.agency, role=self.role, key_id=self.key_id)


def get_engine(request: Request) -> sa.Engine:
    return request.app.state.engine


EngineDep = Annotated[sa.Engine, Depends(get_engine)]


def get_principal(
    engine: EngineDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError(
            401, "unauthorized", "send your API key as 'Authorization: Bearer <key>'"
        )
    k, a = api_keys.c, agencies.c
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(k.id, k.role, k.revoked_at, a.id.label("agency_id"), a.name)
            .join(agencies, agencies.c.id == k.agency_id)
            .where(k.key_hash == hash_key(token.strip()))
        ).first()
    if row is None or row.revoked_at is not None:
        raise ServiceError(
            401,
            "unauthorized",
            "this API key is unknown or revoked; ask your steward for a new one",
        )
    return Principal(key_id=row.id, agency_id=int(row.agency_id), agency=row.name, role=row.role)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def need(principal: Principal, *roles: str) -> Principal:
    """The principal, if its key has one of ``roles``; 403 otherwise."""
    if principal.role not in roles:
        raise ServiceError(
            403,
            "forbidden",
            f"this call needs a key with role {' or '.join(roles)}; yours has role "
            f"{principal.role}",
        )
    return principal


def purpose_header(
    x_caselink_purpose: Annotated[str | None, Header(max_length=64)] = None,
) -> str | None:
    return x_caselink_purpose


PurposeDep = Annotated[str | None, Depends(purpose_header)]


def agreement_of(conn: sa.Connection, principal: Principal, agreement_id: str) -> Any:
    """The agreement row if the caller's agency is a party to it; 404 for everyone else."""
    g, p = agreements.c, agreement_parties.c
    row = conn.execute(
        sa.select(agreements)
        .join(agreement_parties, p.agreement_id == g.id)
        .where(g.id == agreement_id, p.agency_id == principal.agency_id)
    ).first()
    if row is None:
        raise ServiceError(
            404,
            "not_found",
            f"no agreement {agreement_id} among the agreements your agency is party to",
        )
    return row


def check_purpose(agreement: Any, purpose: str | None, default: str) -> str:
    """The stated purpose (or ``default``), if the agreement allows it; 403 otherwise."""
    chosen = purpose or default
    if purpose is not None and purpose not in agreement.purposes:
        raise ServiceError(
            403,
            "forbidden",
            f"purpose '{purpose}' is not allowed by agreement {agreement.id}; allowed: "
            f"{', '.join(agreement.purposes)}",
        )
    return chosen
