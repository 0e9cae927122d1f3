"""Retention: batches older than their agreement's retention period are purged, records and all.

A batch expires when its ``received_at`` lies more than the agreement's ``retention_days``
before the sweep's time (``as_of``, now by default). Purging it removes, in one transaction
per batch: the registry records that came from it (same agreement, agency and
``record_ref``) with their links — their cases re-formed as for a withdrawal
(:mod:`service._withdraw`) — its ``batch_records`` and the batch itself, and appends a
``retention.purge`` entry (batch id, counts) to the agreement's audit chain. A batch that
fails stays whole and the sweep goes on with the next; a sweep run twice purges nothing the
second time. An agreement with a run in progress is skipped until the next sweep.

:class:`RetentionSweeper` runs :func:`sweep` on a timer thread inside the service (a
:class:`~service._jobs.PeriodicJob`: its ``tick`` is one sweep, which an external scheduler
may run instead) and publishes each changed agreement to the change feed; ``caselink admin
sweep`` runs it once against the database. Either way each purge numbers its agreement's
change in the database (:func:`service._events.record_change`), so every replica's tracing
index reads the registry again before its next answer — no replica polls for purges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

import linkage
from service._audit import SERVICE_ACTOR, Actor, append
from service._events import ChangeFeed, record_change
from service._jobs import PeriodicJob
from service._tables import agencies, agreements, batch_records, batches
from service._withdraw import clustering_threshold, drop_batch_records, run_in_progress
from service.repositories import agreements as agreements_repo

__all__ = ["Purge", "RetentionSweeper", "SweepReport", "expired_batches", "sweep"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purge:
    agreement_id: str
    batch_id: str
    agency: str
    received_at: datetime
    records: int  # batch records purged
    registry_records: int  # of them, records that were linked
    cases_reformed: int
    split_off_cases: int


@dataclass
class SweepReport:
    as_of: datetime
    purged: list[Purge] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # batch ids left for a later sweep
    failed: list[tuple[str, str]] = field(default_factory=list)  # (batch id, error type)

    @property
    def agreements(self) -> list[str]:
        return sorted({p.agreement_id for p in self.purged})


def expired_batches(conn: sa.Connection, as_of: datetime) -> list[Any]:
    """Batches received more than their agreement's retention period before ``as_of``."""
    b, g = batches.c, agreements.c
    rows = conn.execute(
        sa.select(b.id, b.agreement_id, b.received_at, g.retention_days)
        .join(agreements, g.id == b.agreement_id)
        .order_by(b.received_at, b.id)
    ).all()
    return [r for r in rows if r.received_at < as_of - timedelta(days=r.retention_days)]


def _purge_details(p: Purge, as_of: datetime, retention_days: int) -> dict[str, Any]:
    return {
        "batch": p.batch_id,
        "agency": p.agency,
        "records_purged": p.records,
        "registry_records": p.registry_records,
        "cases_reformed": p.cases_reformed,
        "split_off_cases": p.split_off_cases,
        "retention_days": retention_days,
        "received_at": p.received_at.isoformat(),
        "as_of": as_of.isoformat(),
    }


def purge_batch(engine: sa.Engine, batch_id: str, as_of: datetime, actor: Actor) -> Purge | None:
    """Purge one expired batch in one transaction; None if it is gone or must wait."""
    b, a = batches.c, agencies.c
    with engine.connect() as conn:
        scope = conn.execute(sa.select(b.agreement_id).where(b.id == batch_id)).scalar()
    if scope is None:
        return None
    registry = linkage.Registry(engine, scope=scope, create_tables=False)
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(batches, a.name.label("agency"))
            .join(agencies, a.id == b.agency_id)
            .where(b.id == batch_id)
            .with_for_update(of=batches)  # a concurrent sweep waits, then finds it gone
        ).first()
        agreement = agreements_repo.agreement(conn, scope)
        if (
            agreement is None
            or row is None
            or row.received_at >= as_of - timedelta(days=agreement.retention_days)
        ):
            return None
        if run_in_progress(conn, scope) is not None:
            return None
        refs = conn.execute(
            sa.select(batch_records.c.record_ref).where(batch_records.c.batch_id == batch_id)
        ).scalars()
        wanted = [(row.agency, ref) for ref in refs]
        record_change(conn, scope)  # every replica's tracing index compares the registry
        report = registry.remove(
            wanted, threshold=clustering_threshold(conn, agreement), connection=conn
        )
        drop_batch_records(conn, batch_id, None)
        split = sum(len(c.split_off) for c in report.cases.values())
        purge = Purge(
            scope,
            batch_id,
            row.agency,
            row.received_at,
            len(wanted),
            len(report.removed),
            len(report.cases),
            split,
        )
        append(
            conn,
            scope,
            actor,
            "retention.purge",
            details=_purge_details(purge, as_of, agreement.retention_days),
        )
    return purge


def sweep(
    engine: sa.Engine,
    as_of: datetime | None = None,
    *,
    actor: Actor = SERVICE_ACTOR,
    changes: ChangeFeed | None = None,
) -> SweepReport:
    """Purge every expired batch, one transaction each; publish each changed agreement."""
    report = SweepReport(as_of or datetime.now(UTC))
    with engine.connect() as conn:
        due = expired_batches(conn, report.as_of)
    for batch in due:
        try:
            purge = purge_batch(engine, batch.id, report.as_of, actor)
        except Exception as e:  # this batch stays whole; the others still expire
            logger.exception("retention purge of batch %s failed", batch.id)
            report.failed.append((batch.id, type(e).__name__))
            continue
        if purge is None:
            report.skipped.append(batch.id)
        else:
            report.purged.append(purge)
    for agreement_id in report.agreements if changes is not None else []:
        changes.publish(agreement_id)
    if report.purged:
        logger.info("retention sweep purged %s batch(es)", len(report.purged))
    return report


class RetentionSweeper(PeriodicJob):
    """:func:`sweep` every ``interval`` seconds on a daemon thread, from start until stop."""

    def __init__(self, engine: sa.Engine, interval: float, changes: ChangeFeed) -> None:
        self.engine, self.interval, self.changes = engine, interval, changes
        self._first = True  # the first sweep at start-up
        super().__init__()

    name = "caselink-retention"

    def start(self) -> RetentionSweeper:
        self.start_thread()
        return self

    def wait_seconds(self) -> float:
        if self._first:
            self._first = False
            return 0.0
        return self.interval

    def tick(self) -> None:
        sweep(self.engine, changes=self.changes)
