"""Review items and bands: the queries of clerical review (:mod:`service._review` says what
they mean). Every read of an agency's items joins its own record for its ref and nothing of
the other side but the agency's name."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

import linkage
from service._review_tables import review_bands, review_items

__all__ = [
    "LabelRow",
    "Side",
    "SideRow",
    "StoredBand",
    "band",
    "candidates",
    "insert_items",
    "item_for_update",
    "labels",
    "page",
    "set_band",
    "set_decision",
]

_links = linkage.registry_metadata.tables["registry_links"]
_records = linkage.registry_metadata.tables["registry_records"]


@dataclass(frozen=True)
class Side:
    """Which side of an item an agency is: ``a`` or ``b``."""

    name: str

    @property
    def decision(self) -> str:
        return f"decision_{self.name}"

    @property
    def decided_at(self) -> str:
        return f"decided_{self.name}_at"


@dataclass(frozen=True)
class SideRow:
    """One item as one of its agencies sees it."""

    review_id: str
    record_ref: str
    other_agency: str
    probability: float  # the link's probability now (at queue time if it is gone)
    probability_queued: float
    decision: str | None
    decided_at: datetime | None
    status: str
    queued_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class LabelRow:
    """A reviewed pair for evaluation: no ref, no id."""

    agencies: tuple[str, str]
    probability_queued: float
    probability_latest: float | None
    status: str
    queued_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class StoredBand:
    """The band a steward set: ``(low, high)``, or None for no queue."""

    band: tuple[float, float] | None


def band(conn: sa.Connection, agreement_id: str) -> StoredBand | None:
    """The band a steward set (None: none was set)."""
    row = conn.execute(
        sa.select(review_bands.c.low, review_bands.c.high).where(
            review_bands.c.agreement_id == agreement_id
        )
    ).first()
    if row is None:
        return None
    return StoredBand(None if row.low is None else (float(row.low), float(row.high)))


def set_band(conn: sa.Connection, agreement_id: str, value: tuple[float, float] | None) -> None:
    low, high = value if value is not None else (None, None)
    b = review_bands.c
    conn.execute(review_bands.delete().where(b.agreement_id == agreement_id))
    conn.execute(review_bands.insert().values(agreement_id=agreement_id, low=low, high=high))


def _ordered(x: Any, y: Any) -> tuple[Any, Any]:
    """``(smaller, larger)`` of two SQL expressions, on every database."""
    return sa.case((x < y, x), else_=y), sa.case((x < y, y), else_=x)


def candidates(conn: sa.Connection, agreement_id: str, low: float, high: float) -> list[Any]:
    """The registry's cross-agency links inside ``[low, high]`` not queued yet: ``rec_a``,
    ``rec_b`` (ascending), their agencies and the probability (computed by the database)."""
    lk, i = _links.c, review_items.c
    ra, rb = _records.alias("ra"), _records.alias("rb")
    lo, hi = _ordered(lk.rec_a, lk.rec_b)
    queued = (
        sa.select(sa.literal(1))
        .where(i.agreement_id == agreement_id, i.rec_a == lo, i.rec_b == hi)
        .exists()
    )
    agency_lo = sa.case((lk.rec_a < lk.rec_b, ra.c.agency), else_=rb.c.agency)
    agency_hi = sa.case((lk.rec_a < lk.rec_b, rb.c.agency), else_=ra.c.agency)
    query = (
        sa.select(
            lo.label("rec_a"),
            hi.label("rec_b"),
            agency_lo.label("agency_a"),
            agency_hi.label("agency_b"),
            lk.probability,
        )
        .select_from(_links.join(ra, ra.c.id == lk.rec_a).join(rb, rb.c.id == lk.rec_b))
        .where(
            lk.scope == agreement_id,
            lk.probability >= low,
            lk.probability <= high,
            ra.c.agency != rb.c.agency,
            ~queued,
        )
        .order_by(lk.probability, lo, hi)
    )
    return list(conn.execute(query).all())


def insert_items(
    conn: sa.Connection, agreement_id: str, run_id: str, found: list[Any], now: datetime
) -> int:
    """Queue ``found`` (:func:`candidates`) as open items; returns how many."""
    rows = [
        {
            "id": "rev_" + secrets.token_hex(8),
            "agreement_id": agreement_id,
            "rec_a": int(x.rec_a),
            "rec_b": int(x.rec_b),
            "agency_a": x.agency_a,
            "agency_b": x.agency_b,
            "probability": float(x.probability),
            "queued_by_run": run_id,
            "queued_at": now,
            "status": "open",
        }
        for x in found
    ]
    if rows:
        conn.execute(review_items.insert(), rows)
    return len(rows)


def _latest(i: Any) -> Any:
    """The stored link's probability now, NULL when it is gone (a correlated subquery)."""
    lk = _links.c
    return (
        sa.select(lk.probability)
        .where(
            lk.scope == i.agreement_id,
            sa.or_(
                sa.and_(lk.rec_a == i.rec_a, lk.rec_b == i.rec_b),
                sa.and_(lk.rec_a == i.rec_b, lk.rec_b == i.rec_a),
            ),
        )
        .limit(1)
        .scalar_subquery()
    )


def page(
    conn: sa.Connection,
    agreement_id: str,
    agency: str,
    statuses: tuple[str, ...],
    offset: int,
    limit: int,
    review_id: str | None = None,
) -> tuple[list[SideRow], int]:
    """``agency``'s side of the agreement's items with one of ``statuses`` (all: empty),
    oldest first, from ``offset`` (only ``review_id`` if given); and how many there are."""
    i, r = review_items.c, _records.c
    mine_a = i.agency_a == agency
    where = [i.agreement_id == agreement_id, sa.or_(mine_a, i.agency_b == agency)]
    if statuses:
        where.append(i.status.in_(statuses))
    if review_id is not None:
        where.append(i.id == review_id)
    total = conn.execute(
        sa.select(sa.func.count()).select_from(review_items).where(*where)
    ).scalar_one()
    own = sa.case((mine_a, i.rec_a), else_=i.rec_b)
    latest = _latest(i)
    rows = conn.execute(
        sa.select(
            i.id,
            r.record_ref,
            sa.case((mine_a, i.agency_b), else_=i.agency_a).label("other"),
            sa.func.coalesce(latest, i.probability).label("now"),
            i.probability,
            sa.case((mine_a, i.decision_a), else_=i.decision_b).label("decision"),
            sa.case((mine_a, i.decided_a_at), else_=i.decided_b_at).label("decided_at"),
            i.status,
            i.queued_at,
            i.resolved_at,
        )
        .select_from(review_items.join(_records, r.id == own))
        .where(*where)
        .order_by(i.queued_at, i.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return [
        SideRow(
            review_id=x.id,
            record_ref=x.record_ref,
            other_agency=x.other,
            probability=float(x.now),
            probability_queued=float(x.probability),
            decision=x.decision,
            decided_at=x.decided_at,
            status=x.status,
            queued_at=x.queued_at,
            resolved_at=x.resolved_at,
        )
        for x in rows
    ], int(total)


def item_for_update(conn: sa.Connection, agreement_id: str, review_id: str) -> Any:
    """The item, its row locked to the end of the transaction (PostgreSQL); None if the
    agreement has no such item."""
    i = review_items.c
    query = sa.select(review_items).where(i.id == review_id, i.agreement_id == agreement_id)
    return conn.execute(query.with_for_update()).first()


def set_decision(
    conn: sa.Connection,
    review_id: str,
    side: Side,
    decision: str,
    status: str,
    now: datetime,
    resolved: bool,
) -> None:
    values: dict[str, Any] = {side.decision: decision, side.decided_at: now, "status": status}
    if resolved:
        values["resolved_at"] = now
    conn.execute(review_items.update().where(review_items.c.id == review_id).values(**values))


def labels(conn: sa.Connection, agreement_id: str) -> list[LabelRow]:
    """The agreement's items both agencies decided, oldest first: for evaluation."""
    i = review_items.c
    rows = conn.execute(
        sa.select(
            i.agency_a,
            i.agency_b,
            i.probability,
            _latest(i).label("latest"),
            i.status,
            i.queued_at,
            i.resolved_at,
        )
        .where(i.agreement_id == agreement_id, i.status != "open")
        .order_by(i.queued_at, i.id)
    ).all()
    return [
        LabelRow(
            agencies=(x.agency_a, x.agency_b),
            probability_queued=float(x.probability),
            probability_latest=None if x.latest is None else float(x.latest),
            status=x.status,
            queued_at=x.queued_at,
            resolved_at=x.resolved_at,
        )
        for x in rows
    ]
