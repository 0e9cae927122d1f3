"""Operations straight on the database, for ``caselink admin``: bootstrap and verification.

These need no running service and no key: whoever can open the database is the operator.
"""

from __future__ import annotations

import sqlalchemy as sa

from service._audit import Actor, AuditCheck, append, verify
from service._checkpoint import KeptCheckpoints
from service._db import make_engine, migrate
from service._tables import agreements
from service.api.errors import ServiceError
from service.api.models import KeyIssued
from service.api.routes.agencies import create_agency_row, issue_key
from service.repositories import transparency as transparency_repo
from service.repositories.agencies import agency_id as agency_id_of

__all__ = ["bootstrap_agency", "open_database", "verify_all"]

OPERATOR = Actor(agency="operator", role="operator")


def open_database(url: str) -> sa.Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine


def bootstrap_agency(engine: sa.Engine, name: str, role: str) -> KeyIssued:
    """Create an agency (or reuse it) and issue it a key with ``role``; audited."""
    with engine.begin() as conn:
        known = agency_id_of(conn, name)
        agency_id = known if known is not None else create_agency_row(conn, name)
        issued = issue_key(conn, agency_id, name, role)
        append(
            conn,
            "",
            OPERATOR,
            "key.create",
            details={
                "agency": name,
                "role": role,
                "new_key": issued.key_id,
                "new_agency": known is None,
            },
        )
    return issued


def verify_all(
    engine: sa.Engine,
    agreement_id: str | None = None,
    kept: KeptCheckpoints | None = None,
    *,
    record: bool = False,
) -> list[AuditCheck]:
    """Verify the service chain and every agreement's chain (or one agreement's).

    With ``kept`` checkpoints (signatures checked), each chain is also held to them, and a
    chain they name is verified even when its agreement is gone from the database. With
    ``record``, each result is recorded (``caselink admin verify-audit``: what an agreement's
    transparency page shows); checking a backup records nothing in the file it checks.
    """
    named = set(kept.scopes) if kept is not None else set()
    with engine.begin() as conn:
        if agreement_id is not None:
            known = conn.execute(sa.select(agreements.c.id).where(agreements.c.id == agreement_id))
            if known.first() is None and agreement_id not in named:
                raise ServiceError(404, "not_found", f"no agreement {agreement_id} here")
            scopes = [agreement_id]
        else:
            listed = conn.execute(sa.select(agreements.c.id).order_by(agreements.c.id)).scalars()
            scopes = ["", *listed]
            scopes += sorted(named - set(scopes))
        checks = [verify(conn, s, kept.heads.get(s) if kept else None) for s in scopes]
    for check in checks if kept is not None else []:
        check.problems[:0] = kept.problems.get(check.scope, [])
    if record:
        with engine.begin() as conn:
            transparency_repo.record_verification(
                conn, checks, via="cli", against_checkpoints=kept is not None
            )
    return checks
