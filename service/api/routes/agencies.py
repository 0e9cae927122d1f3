"""Agencies and their API keys, under the role model of :mod:`service._keys`: an admin adds
agencies and issues keys to any of them; a steward manages its own agency's keys; any other
key may rotate itself. Every change, and every refusal, is audited in the service's own chain
(the checks are in :mod:`service.api.key_access`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path

from service._audit import append
from service._keys import new_key
from service.api.deps import EngineDep, PrincipalDep, need
from service.api.errors import ServiceError
from service.api.key_access import (
    check_issue,
    check_manage,
    key_tried,
    managed_key,
    refused,
    visible_keys,
)
from service.api.models import (
    AGENCY_NAME,
    AgencyCreate,
    AgencyPublic,
    KeyCreate,
    KeyIssued,
    KeyPublic,
    Me,
)
from service.repositories import agencies as repo

router = APIRouter(prefix="/v1", tags=["agencies and keys"])
NamePath = Annotated[str, Path(pattern=AGENCY_NAME, description="the agency's name")]


def issue_key(conn: sa.Connection, agency_id: int, agency: str, role: str) -> KeyIssued:
    """Store a new key's hash and return the key itself, to be shown once."""
    issued, now = new_key(), datetime.now(UTC)
    repo.add_key(conn, issued.key_id, agency_id, role, issued.key_hash, now)
    return KeyIssued(
        key_id=issued.key_id, agency=agency, role=role, created_at=now, api_key=issued.api_key
    )


def create_agency_row(conn: sa.Connection, name: str) -> int:
    """A new agency's id; 409 if the name is taken."""
    if repo.agency_id(conn, name) is not None:
        raise ServiceError(409, "conflict", f"agency {name} exists already")
    return repo.add_agency(conn, name)


@router.get(
    "/me",
    response_model=Me,
    summary="Who am I",
    response_description="The agency, role and id of the key the call was made with.",
)
def me(principal: PrincipalDep) -> Me:
    """Who this key belongs to, and its role: check a key with it before anything else.

    Any valid key may call it."""
    return Me(agency=principal.agency, role=principal.role, key_id=principal.key_id)


@router.post(
    "/agencies",
    response_model=AgencyPublic,
    status_code=201,
    summary="Add an agency",
    response_description="The agency added.",
)
def create_agency(body: AgencyCreate, engine: EngineDep, principal: PrincipalDep) -> AgencyPublic:
    """Add an agency to this service by name; it can then be issued keys and be a party to
    agreements. 409 if the name is taken.

    Only an `admin` key may call it. Audited in the service's own chain."""
    try:
        need(principal, "admin")
        with engine.begin() as conn:
            create_agency_row(conn, body.name)
            append(conn, "", principal.actor, "agency.create", details={"agency": body.name})
            row = repo.agency(conn, body.name)
    except ServiceError as e:
        raise refused(engine, principal, "agency.create", e, agency=body.name) from None
    assert row is not None  # made in this transaction
    return AgencyPublic(name=row.name, created_at=row.created_at)


@router.get(
    "/agencies",
    response_model=list[AgencyPublic],
    summary="List agencies",
    response_description="Every agency on this service, with when it was added.",
)
def list_agencies(engine: EngineDep, principal: PrincipalDep) -> list[AgencyPublic]:
    """Every agency on this service, by name.

    `admin` keys may call it, and `steward` keys, to name the parties of an agreement."""
    try:
        need(principal, "admin", "steward")
    except ServiceError as e:
        raise refused(engine, principal, "agency.list", e) from None
    with engine.connect() as conn:
        rows = repo.all_agencies(conn)
    return [AgencyPublic(name=r.name, created_at=r.created_at) for r in rows]


@router.post(
    "/agencies/{name}/keys",
    response_model=KeyIssued,
    status_code=201,
    summary="Issue an API key",
    response_description="The new key, with the key itself: shown this once.",
)
def create_key(
    name: NamePath, body: KeyCreate, engine: EngineDep, principal: PrincipalDep
) -> KeyIssued:
    """Issue a new API key with a role to an agency. The key itself is in this answer only:
    the service keeps a hash of it, so store it now.

    An `admin` key may issue keys of any role to any agency; a `steward` key only to its own
    agency, and no `admin` keys. Audited in the service's own chain."""
    try:
        check_issue(principal, name, body.role)
        with engine.begin() as conn:
            agency_id = repo.agency_id(conn, name)
            if agency_id is None:
                raise ServiceError(404, "not_found", f"no agency {name}; create it first")
            issued = issue_key(conn, agency_id, name, body.role)
            details = {"agency": name, "role": body.role, "new_key": issued.key_id}
            append(conn, "", principal.actor, "key.create", details=details)
    except ServiceError as e:
        raise refused(engine, principal, "key.create", e, agency=name, role=body.role) from None
    return issued


@router.get(
    "/keys",
    response_model=list[KeyPublic],
    summary="List API keys",
    response_description="The keys the caller manages, without the keys themselves.",
)
def list_keys(engine: EngineDep, principal: PrincipalDep) -> list[KeyPublic]:
    """The keys the caller manages, each with its id, agency, role and when it was made (and
    revoked). Never a key itself: the service does not keep them.

    An `admin` key sees every key, a `steward` key its own agency's; other roles get 403."""
    try:
        with engine.connect() as conn:
            rows = visible_keys(conn, principal)
    except ServiceError as e:
        raise refused(engine, principal, "key.list", e) from None
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


@router.post(
    "/keys/{key_id}/rotate",
    response_model=KeyIssued,
    status_code=201,
    summary="Rotate an API key",
    response_description="The new key, with the key itself: shown this once.",
)
def rotate_key(key_id: str, engine: EngineDep, principal: PrincipalDep) -> KeyIssued:
    """Replace a key by a new one with the same agency and role; the old key stops working at
    once. The new key is in this answer only. 409 if the key is revoked already.

    An `admin` key rotates any key, a `steward` key its agency's, and every other key only
    itself. Audited in the service's own chain."""
    try:
        check_manage(principal, key_id, rotating=True)
        with engine.begin() as conn:
            row = managed_key(conn, principal, key_id)
            repo.revoke_key(conn, row.id, datetime.now(UTC))
            issued = issue_key(conn, row.agency_id, row.name, row.role)
            details = {"key": row.id, "new_key": issued.key_id}
            append(conn, "", principal.actor, "key.rotate", details=details)
    except ServiceError as e:
        raise refused(engine, principal, "key.rotate", e, **key_tried(key_id)) from None
    return issued


@router.delete(
    "/keys/{key_id}",
    response_model=KeyPublic,
    summary="Revoke an API key",
    response_description="The key revoked, with the time it stopped working.",
)
def revoke_key(key_id: str, engine: EngineDep, principal: PrincipalDep) -> KeyPublic:
    """Revoke a key at once: every later call with it gets 401. 409 if it is revoked already.

    An `admin` key revokes any key, a `steward` key its agency's. Audited in the service's own
    chain."""
    now = datetime.now(UTC)
    try:
        check_manage(principal, key_id, rotating=False)
        with engine.begin() as conn:
            row = managed_key(conn, principal, key_id)
            repo.revoke_key(conn, row.id, now)
            append(conn, "", principal.actor, "key.revoke", details={"key": row.id})
    except ServiceError as e:
        raise refused(engine, principal, "key.revoke", e, **key_tried(key_id)) from None
    return KeyPublic(
        key_id=row.id, agency=row.name, role=row.role, created_at=row.created_at, revoked_at=now
    )
