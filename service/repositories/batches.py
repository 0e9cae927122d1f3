"""Uploaded batches, as their agency sees them, and the records waiting for a run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from service._tables import agencies, batch_records, batches
from service.repositories._rows import typed

__all__ = ["BatchRow", "batches_held", "batches_of", "pending_records", "stored_records"]


@dataclass(frozen=True)
class BatchRow:
    id: str
    agreement_id: str
    agency_id: int
    content_hash: str
    record_count: int
    encoded_at: str
    status: str  # pending | linked | quarantined
    received_at: datetime
    linked_by_run: str | None
    quarantine_reason: str | None


def batches_of(conn: sa.Connection, agreement_id: str, agency_id: int) -> list[BatchRow]:
    """Agency ``agency_id``'s batches in the agreement, in the order they arrived."""
    b = batches.c
    query = (
        sa.select(batches)
        .where(b.agreement_id == agreement_id, b.agency_id == agency_id)
        .order_by(b.received_at)
    )
    return [typed(BatchRow, r) for r in conn.execute(query).all()]


def batches_held(
    conn: sa.Connection, agreement_id: str, agency_id: int | None = None
) -> list[tuple[BatchRow, str]]:
    """The agreement's stored batches (of one agency's, when given) with their agency's name,
    in the order they arrived: what retention will purge."""
    b = batches.c
    query = (
        sa.select(batches, agencies.c.name.label("agency"))
        .join(agencies, agencies.c.id == b.agency_id)
        .where(b.agreement_id == agreement_id)
        .order_by(b.received_at, b.id)
    )
    if agency_id is not None:
        query = query.where(b.agency_id == agency_id)
    return [(typed(BatchRow, r), str(r.agency)) for r in conn.execute(query).all()]


def pending_records(conn: sa.Connection, agreement_id: str, agency_id: int | None = None) -> int:
    """Records of the agreement's pending batches (of one agency's, when given)."""
    br, b = batch_records.c, batches.c
    query = (
        sa.select(sa.func.count())
        .select_from(batch_records)
        .join(batches, b.id == br.batch_id)
        .where(b.agreement_id == agreement_id, b.status == "pending")
    )
    if agency_id is not None:
        query = query.where(b.agency_id == agency_id)
    return int(conn.execute(query).scalar_one())


def stored_records(conn: sa.Connection, agreement_id: str, agency_id: int) -> int:
    """Records agency ``agency_id`` has stored in the agreement, in batches of any status
    (a withdrawn or purged record is no longer stored)."""
    br, b = batch_records.c, batches.c
    query = (
        sa.select(sa.func.count())
        .select_from(batch_records)
        .join(batches, b.id == br.batch_id)
        .where(b.agreement_id == agreement_id, b.agency_id == agency_id)
    )
    return int(conn.execute(query).scalar_one())
