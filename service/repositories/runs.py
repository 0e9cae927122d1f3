"""Linkage runs as their agreement's parties see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from service._tables import runs
from service.repositories._rows import typed

__all__ = ["ACTIVE", "RunRow", "active_run", "run", "runs_of", "succeeded"]

ACTIVE = ("queued", "running")  # a run with one of these statuses is not finished


@dataclass(frozen=True)
class RunRow:
    id: str
    agreement_id: str
    status: str  # queued | running | succeeded | failed
    stage: str
    progress: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    stats: dict[str, Any] | None


def active_run(conn: sa.Connection, agreement_id: str) -> str | None:
    """The id of the agreement's run that is queued or running, if any."""
    query = sa.select(runs.c.id).where(
        runs.c.agreement_id == agreement_id, runs.c.status.in_(ACTIVE)
    )
    found = conn.execute(query).scalar()
    return None if found is None else str(found)


def run(conn: sa.Connection, run_id: str, agreement_id: str | None = None) -> RunRow | None:
    """Run ``run_id`` (of ``agreement_id`` only, when given); None if there is no such run."""
    query = sa.select(runs).where(runs.c.id == run_id)
    if agreement_id is not None:
        query = query.where(runs.c.agreement_id == agreement_id)
    row = conn.execute(query).first()
    return None if row is None else typed(RunRow, row)


def runs_of(conn: sa.Connection, agreement_id: str) -> list[RunRow]:
    """The agreement's runs, newest first."""
    query = (
        sa.select(runs)
        .where(runs.c.agreement_id == agreement_id)
        .order_by(runs.c.created_at.desc())
    )
    return [typed(RunRow, r) for r in conn.execute(query).all()]


def succeeded(conn: sa.Connection, agreement_id: str) -> tuple[int, datetime | None]:
    """How many of the agreement's runs succeeded, and when the last one finished."""
    count, last = conn.execute(
        sa.select(sa.func.count(), sa.func.max(runs.c.finished_at)).where(
            runs.c.agreement_id == agreement_id, runs.c.status == "succeeded"
        )
    ).one()
    return int(count), last
