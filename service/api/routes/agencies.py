"""Agencies and their API keys: stewards add agencies and issue keys; a holder rotates or
revokes its own key. Every change is audited in the service's own chain."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import APIRouter

from service._audit import append
from service._keys import new_key
from service._tables import agencies, api_keys
from service.api.deps import EngineDep, Principal, PrincipalDep, need
from service.api.errors import ServiceError
from service.api.models import AgencyCreate, AgencyPublic, KeyCreate, KeyIssued, KeyPublic, Me

router = APIRouter(prefix="/v1", tags=["agencies and keys"])


def issue_key(conn: sa.Connection, agency_id: int, agency: str, role: str) -> KeyIssued:
    """Store a new key's hash and return the key itself, to be shown once."""
    issued, now = new_key(), datetime.now(UTC)
    conn.execute(
        api_keys.insert().values(
            id=issued.key_id,
            agency_id=agency_id,
            role=role,
            key_hash=issued.key_hash,
            created_at=now,
        )
    )
    return KeyIssued(
        key_id=issued.key_id, agency=agency, role=role, created_at=now, api_key=issued.api_key
    )


def create_agency_row(conn: sa.Connection, name: str) -> int:
    exists = conn.execute(sa.select(agencies.c.id).where(agencies.c.name == name)).first()
    if exists:
        raise ServiceError(409, "conflict", f"agency {name} exists already")
    now = datetime.now(UTC)
    return int(
        conn.execute(agencies.insert().values(name=name, created_at=now)).inserted_primary_key[0]
    )


@router.get("/me", response_model=Me)
def me(principal: PrincipalDep) -> Me:
    """Who this key belongs to, and its role."""
    return Me(agency=principal.agency, role=principal.role, key_id=principal.key_id)


@router.post("/agencies", response_model=AgencyPublic, status_code=201)
def create_agency(body: AgencyCreate, engine: EngineDep, principal: PrincipalDep) -> AgencyPublic:
    """Add an agency (stewards)."""
    need(principal, "steward")
    with engine.begin() as conn:
        create_agency_row(conn, body.name)
        append(conn, "", principal.actor, "agency.create", details={"agency": body.name})
        row = conn.execute(sa.select(agencies).where(agencies.c.name == body.name)).one()
    return AgencyPublic(name=row.name, created_at=row.created_at)


@router.get("/agencies", response_model=list[AgencyPublic])
def list_agencies(engine: EngineDep, principal: PrincipalDep) -> list[AgencyPublic]:
    """Every agency's name (stewards, to name parties of an agreement)."""
    need(principal, "steward")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(agencies).order_by(agencies.c.name)).all()
    return [AgencyPublic(name=r.name, created_at=r.created_at) for r in rows]


@router.post("/agencies/{name}/keys", response_model=KeyIssued, status_code=201)
def create_key(name: str, body: KeyCreate, engine: EngineDep, principal: PrincipalDep) -> KeyIssued:
    """Issue a key with a role to an agency (stewards). The key is in this answer only."""
    need(principal, "steward")
    with engine.begin() as conn:
        row = conn.execute(sa.select(agencies.c.id).where(agencies.c.name == name)).first()
        if row is None:
            raise ServiceError(404, "not_found", f"no agency {name}; create it first")
        issued = issue_key(conn, int(row.id), name, body.role)
        append(
            conn,
            "",
            principal.actor,
            "key.create",
            details={"agency": name, "role": body.role, "new_key": issued.key_id},
        )
    return issued


def _key_row(conn: sa.Connection, key_id: str, principal: Principal):
    """A key the caller may manage: its own agency's (any role) or any (stewards)."""
    k = api_keys.c
    row = conn.execute(
        sa.select(k.id, k.agency_id, k.role, k.created_at, k.revoked_at, agencies.c.name)
        .join(agencies, agencies.c.id == k.agency_id)
        .where(k.id == key_id)
    ).first()
    if row is None or (principal.role != "steward" and row.agency_id != principal.agency_id):
        raise ServiceError(404, "not_found", f"no key {key_id} that you may manage")
    if row.revoked_at is not None:
        raise ServiceError(409, "conflict", f"key {key_id} is revoked already")
    return row


@router.get("/keys", response_model=list[KeyPublic])
def list_keys(engine: EngineDep, principal: PrincipalDep) -> list[KeyPublic]:
    """Keys the caller may manage: all (stewards) or its own agency's. Never the keys."""
    k = api_keys.c
    q = sa.select(k.id, k.role, k.created_at, k.revoked_at, agencies.c.name).join(
        agencies, agencies.c.id == k.agency_id
    )
    if principal.role != "steward":
        q = q.where(k.agency_id == principal.agency_id)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(k.created_at)).all()
    return [
        KeyPublic(
            key_id=r.id,
            agency=r.name,
            role=r.role,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]


@router.post("/keys/{key_id}/rotate", response_model=KeyIssued, status_code=201)
def rotate_key(key_id: str, engine: EngineDep, principal: PrincipalDep) -> KeyIssued:
    """Replace a key by a new one with the same agency and role; the old one stops working."""
    with engine.begin() as conn:
        row = _key_row(conn, key_id, principal)
        conn.execute(
            api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=datetime.now(UTC))
        )
        issued = issue_key(conn, int(row.agency_id), row.name, row.role)
        append(
            conn,
            "",
            principal.actor,
            "key.rotate",
            details={"key": key_id, "new_key": issued.key_id},
        )
    return issued


@router.delete("/keys/{key_id}", response_model=KeyPublic)
def revoke_key(key_id: str, engine: EngineDep, principal: PrincipalDep) -> KeyPublic:
    """Revoke a key at once."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = _key_row(conn, key_id, principal)
        conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=now))
        append(conn, "", principal.actor, "key.revoke", details={"key": key_id})
    return KeyPublic(
        key_id=key_id, agency=row.name, role=row.role, created_at=row.created_at, revoked_at=now
    )
