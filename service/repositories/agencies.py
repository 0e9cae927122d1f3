"""Agencies and their API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from service._tables import agencies, api_keys
from service.repositories._rows import typed

__all__ = [
    "AgencyRow",
    "KeyRow",
    "add_agency",
    "add_key",
    "agency",
    "agency_id",
    "agency_ids",
    "agency_name",
    "all_agencies",
    "key_by_hash",
    "key_in_reach",
    "keys_in_reach",
    "revoke_key",
]


@dataclass(frozen=True)
class AgencyRow:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class KeyRow:
    """An API key as its managers see it: never its hash."""

    id: str
    agency_id: int
    name: str  # the agency's
    role: str
    created_at: datetime
    revoked_at: datetime | None


def agency_id(conn: sa.Connection, name: str) -> int | None:
    """The id of agency ``name``; None if there is none."""
    found = conn.execute(sa.select(agencies.c.id).where(agencies.c.name == name)).scalar()
    return None if found is None else int(found)


def agency(conn: sa.Connection, name: str) -> AgencyRow | None:
    row = conn.execute(sa.select(agencies).where(agencies.c.name == name)).first()
    return None if row is None else typed(AgencyRow, row)


def agency_ids(conn: sa.Connection, names: list[str]) -> dict[str, int]:
    """Name -> id of those of ``names`` that are agencies here."""
    rows = conn.execute(sa.select(agencies.c.name, agencies.c.id).where(agencies.c.name.in_(names)))
    return {name: int(i) for name, i in rows.all()}


def agency_name(conn: sa.Connection, agency_id: int) -> str:
    return str(
        conn.execute(sa.select(agencies.c.name).where(agencies.c.id == agency_id)).scalar_one()
    )


def all_agencies(conn: sa.Connection) -> list[AgencyRow]:
    rows = conn.execute(sa.select(agencies).order_by(agencies.c.name)).all()
    return [typed(AgencyRow, r) for r in rows]


def add_agency(conn: sa.Connection, name: str) -> int:
    """A new agency (its name not taken: the caller checked); returns its id."""
    result = conn.execute(agencies.insert().values(name=name, created_at=datetime.now(UTC)))
    return int(result.inserted_primary_key[0])


def add_key(
    conn: sa.Connection, key_id: str, agency_id: int, role: str, key_hash: str, now: datetime
) -> None:
    """Store a new key (its hash only)."""
    conn.execute(
        api_keys.insert().values(
            id=key_id, agency_id=agency_id, role=role, key_hash=key_hash, created_at=now
        )
    )


def revoke_key(conn: sa.Connection, key_id: str, now: datetime) -> None:
    conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=now))


def _reach(role: str, agency_id: int, key_id: str) -> list[sa.ColumnElement[bool]]:
    """Conditions on ``api_keys`` for the keys a caller of ``role`` manages: every key
    (admin), its agency's but admin keys (steward), else only the key it calls with."""
    k = api_keys.c
    if role == "admin":
        return []
    if role == "steward":
        return [k.agency_id == agency_id, k.role != "admin"]
    return [k.id == key_id]


def _keys() -> sa.Select:
    k = api_keys.c
    return sa.select(k.id, k.agency_id, agencies.c.name, k.role, k.created_at, k.revoked_at).join(
        agencies, agencies.c.id == k.agency_id
    )


def key_by_hash(conn: sa.Connection, key_hash: str) -> KeyRow | None:
    """The key whose hash this is (revoked or not); None if there is none."""
    row = conn.execute(_keys().where(api_keys.c.key_hash == key_hash)).first()
    return None if row is None else typed(KeyRow, row)


def key_in_reach(
    conn: sa.Connection, key_id: str, *, role: str, agency_id: int, own_key: str
) -> KeyRow | None:
    """Key ``key_id`` if a caller (``role``, ``agency_id``, calling with ``own_key``)
    manages it; None otherwise (it does not exist, or is out of reach)."""
    row = conn.execute(
        _keys().where(api_keys.c.id == key_id, *_reach(role, agency_id, own_key))
    ).first()
    return None if row is None else typed(KeyRow, row)


def keys_in_reach(conn: sa.Connection, *, role: str, agency_id: int, own_key: str) -> list[KeyRow]:
    """Every key such a caller manages, oldest first."""
    query = _keys().where(*_reach(role, agency_id, own_key)).order_by(api_keys.c.created_at)
    return [typed(KeyRow, r) for r in conn.execute(query).all()]
