"""Agreements, their parties and the agencies named as their auditors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from service._tables import agencies, agreement_auditors, agreement_parties, agreements
from service.repositories._rows import typed

__all__ = [
    "AgreementRow",
    "add_agreement",
    "agreement",
    "agreements_of",
    "amend",
    "audited_by",
    "auditors",
    "filter_bits",
    "of_auditor",
    "of_party",
    "parties",
]


@dataclass(frozen=True)
class AgreementRow:
    id: str
    name: str
    schema_fingerprint: str
    filter_bits: int
    segments: list[list[Any]] | None  # [[name, bits], ...]; None: its first batch's layout
    purposes: list[str]
    retention_days: int
    threshold: str  # "auto" or a probability
    allow_duplicates: bool
    created_by: int  # agency id
    created_at: datetime
    index_version: int
    key_check: str | None  # the secret's key check value; None until a batch or steward sets it
    purpose_scopes: dict[str, str] | None  # purpose -> consent scope it needs; None: none

    def scope_of(self, purpose: str | None) -> str | None:
        """The consent scope a call with ``purpose`` needs; None: every record serves it."""
        return (self.purpose_scopes or {}).get(purpose) if purpose else None


def agreement(
    conn: sa.Connection, agreement_id: str, *, for_update: bool = False
) -> AgreementRow | None:
    """The agreement; ``for_update`` locks its row to the end of the transaction (PostgreSQL;
    SQLite's write transactions are serial already)."""
    query = sa.select(agreements).where(agreements.c.id == agreement_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return None if row is None else typed(AgreementRow, row)


def _through(link: sa.Table, agency_id: int, agreement_id: str | None = None) -> sa.Select[Any]:
    """The agreements agency ``agency_id`` belongs to through the membership table ``link``
    (``agreement_parties`` or ``agreement_auditors``), oldest first; ``agreement_id`` alone
    when given."""
    g = agreements.c
    query = (
        sa.select(agreements)
        .join(link, link.c.agreement_id == g.id)
        .where(link.c.agency_id == agency_id)
    )
    if agreement_id is not None:
        query = query.where(g.id == agreement_id)
    return query.order_by(g.created_at)


def _first(conn: sa.Connection, query: sa.Select[Any]) -> AgreementRow | None:
    row = conn.execute(query).first()
    return None if row is None else typed(AgreementRow, row)


def _every(conn: sa.Connection, query: sa.Select[Any]) -> list[AgreementRow]:
    return [typed(AgreementRow, r) for r in conn.execute(query).all()]


def of_party(conn: sa.Connection, agreement_id: str, agency_id: int) -> AgreementRow | None:
    """The agreement if agency ``agency_id`` is a party to it; None otherwise."""
    return _first(conn, _through(agreement_parties, agency_id, agreement_id))


def agreements_of(conn: sa.Connection, agency_id: int) -> list[AgreementRow]:
    """The agreements agency ``agency_id`` is a party to, oldest first."""
    return _every(conn, _through(agreement_parties, agency_id))


def of_auditor(conn: sa.Connection, agreement_id: str, agency_id: int) -> AgreementRow | None:
    """The agreement if agency ``agency_id`` is named as its auditor; None otherwise."""
    return _first(conn, _through(agreement_auditors, agency_id, agreement_id))


def audited_by(conn: sa.Connection, agency_id: int) -> list[AgreementRow]:
    """The agreements agency ``agency_id`` is named as auditor of, oldest first."""
    return _every(conn, _through(agreement_auditors, agency_id))


def _names(conn: sa.Connection, link: sa.Table, agreement_id: str) -> list[str]:
    a = agencies.c
    query = (
        sa.select(a.name)
        .join(link, link.c.agency_id == a.id)
        .where(link.c.agreement_id == agreement_id)
        .order_by(a.name)
    )
    return [str(x) for x in conn.execute(query).scalars()]


def parties(conn: sa.Connection, agreement_id: str) -> list[str]:
    """The names of the agreement's parties, sorted."""
    return _names(conn, agreement_parties, agreement_id)


def auditors(conn: sa.Connection, agreement_id: str) -> list[str]:
    """The names of the agencies named as the agreement's auditors, sorted."""
    return _names(conn, agreement_auditors, agreement_id)


def _relink(
    conn: sa.Connection,
    link: sa.Table,
    agreement_id: str,
    add: Sequence[int],
    remove: Sequence[int],
) -> None:
    """Link agencies ``add`` to the agreement through ``link`` and unlink ``remove``."""
    if remove:
        conn.execute(
            link.delete().where(
                link.c.agreement_id == agreement_id, link.c.agency_id.in_(list(remove))
            )
        )
    if add:
        conn.execute(link.insert(), [{"agreement_id": agreement_id, "agency_id": a} for a in add])


def filter_bits(conn: sa.Connection, agreement_id: str) -> int:
    query = sa.select(agreements.c.filter_bits).where(agreements.c.id == agreement_id)
    return int(conn.execute(query).scalar_one())


def add_agreement(
    conn: sa.Connection,
    agreement_id: str,
    *,
    name: str,
    schema_fingerprint: str,
    filter_bits: int,
    segments: list[list[Any]],
    purposes: list[str],
    retention_days: int,
    threshold: str,
    allow_duplicates: bool,
    created_by: int,
    party_ids: list[int],
    auditor_ids: Sequence[int] = (),
    key_check: str | None = None,
    purpose_scopes: dict[str, str] | None = None,
) -> AgreementRow:
    """A new agreement with its parties and auditors; returns it as stored."""
    conn.execute(
        agreements.insert().values(
            id=agreement_id,
            name=name,
            schema_fingerprint=schema_fingerprint,
            filter_bits=filter_bits,
            segments=segments,
            purposes=purposes,
            retention_days=retention_days,
            threshold=threshold,
            allow_duplicates=allow_duplicates,
            created_by=created_by,
            created_at=datetime.now(UTC),
            key_check=key_check,
            purpose_scopes=purpose_scopes or None,
        )
    )
    _relink(conn, agreement_parties, agreement_id, party_ids, ())
    _relink(conn, agreement_auditors, agreement_id, auditor_ids, ())
    stored = agreement(conn, agreement_id)
    assert stored is not None  # written in this transaction
    return stored


def amend(
    conn: sa.Connection,
    agreement_id: str,
    *,
    add_party_ids: list[int],
    remove_party_ids: list[int],
    purposes: list[str] | None,
    retention_days: int | None,
    add_auditor_ids: Sequence[int] = (),
    remove_auditor_ids: Sequence[int] = (),
    purpose_scopes: dict[str, str] | None = None,
) -> AgreementRow:
    """Add and remove parties and auditors, replace the purposes, set the retention period,
    replace the consent scope of each purpose (each when given); returns the agreement as
    stored now."""
    _relink(conn, agreement_parties, agreement_id, add_party_ids, remove_party_ids)
    _relink(conn, agreement_auditors, agreement_id, add_auditor_ids, remove_auditor_ids)
    values: dict[str, Any] = {}
    if purposes is not None:
        values["purposes"] = purposes
    if retention_days is not None:
        values["retention_days"] = retention_days
    if purpose_scopes is not None:
        values["purpose_scopes"] = purpose_scopes or None
    if values:
        conn.execute(agreements.update().where(agreements.c.id == agreement_id).values(**values))
    stored = agreement(conn, agreement_id)
    assert stored is not None  # amended in this transaction
    return stored
