"""Linkage runs: queued in the database, executed one at a time on a background thread.

A run links the agreement's pending batches against its registry (``linkage.link`` with a
:class:`linkage.Registry` scoped to the agreement): only new records are compared, existing
case ids are kept. Candidate search runs as Ray tasks when the service has Ray. The
registry's changes are applied in one transaction; the batches are then marked linked and
their filters cleared from ``batch_records`` (the registry holds them). A run cut off by a
crash is found ``running`` at the next start-up and marked failed (:func:`fail_interrupted`);
its batches are still pending, so a new run picks them up — and records that did reach the
registry are recognised as already there, not linked twice.
"""

from __future__ import annotations

import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

import linkage
from blocking import choose_method
from linkage._sealing import FilterCodec
from service._audit import SERVICE_ACTOR, append
from service._batches import load_batch
from service._events import ChangeFeed
from service._metrics import Metrics
from service._tables import agencies, agreements, batch_records, batches, runs

__all__ = ["RunExecutor", "fail_interrupted", "queue_run"]

logger = logging.getLogger(__name__)
ACTIVE = ("queued", "running")
VIEW_WAIT_SECONDS = 300.0  # longest wait for the tracing index to take a run
# what a failed run may say as it is: bad input, or stored filters it cannot open
_TOLD = (linkage.LinkageError | linkage.RegistryError
         | linkage.DataKeyError | linkage.SealedValueError)  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


def queue_run(conn: sa.Connection, agreement_id: str, agency_id: int) -> str:
    run_id = "run_" + secrets.token_hex(8)
    conn.execute(
        runs.insert().values(
            id=run_id,
            agreement_id=agreement_id,
            started_by=agency_id,
            status="queued",
            stage="queued",
            progress=0.0,
            created_at=_now(),
        )
    )
    return run_id


def fail_interrupted(engine: sa.Engine) -> int:
    """Mark runs left queued or running by a previous process as failed; returns how many."""
    with engine.begin() as conn:
        left = conn.execute(
            sa.select(runs.c.id, runs.c.agreement_id).where(runs.c.status.in_(ACTIVE))
        ).all()
        for run in left:
            conn.execute(
                runs.update()
                .where(runs.c.id == run.id)
                .values(
                    status="failed",
                    finished_at=_now(),
                    stage="interrupted",
                    error="the service stopped during this run; nothing of it was kept. "
                    "Start a new run",
                )
            )
            append(
                conn, run.agreement_id, SERVICE_ACTOR, "run.interrupted", details={"run": run.id}
            )
    return len(left)


class RunExecutor:
    """Runs queued linkage runs on one worker thread, in the order they were queued."""

    def __init__(
        self,
        engine: sa.Engine,
        use_ray: bool,
        changes: ChangeFeed | None = None,
        metrics: Metrics | None = None,
        *,
        codec: FilterCodec,
    ) -> None:
        self.engine, self.use_ray, self.metrics, self.codec = engine, use_ray, metrics, codec
        self.changes = changes or ChangeFeed()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caselink-run")
        self._lock = threading.Lock()

    def submit(self, run_id: str) -> None:
        self._pool.submit(self._execute, run_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _set(self, run_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(**values))

    def _execute(self, run_id: str) -> None:
        try:
            self._set(run_id, status="running", stage="loading", started_at=_now())
            stats = self._link(run_id)
        except Exception as e:  # a failed run is recorded, never lost
            logger.exception("run %s failed", run_id)
            message = (
                str(e)
                if isinstance(e, _TOLD)
                else (f"internal error ({type(e).__name__}); the registry is unchanged")
            )
            self._finish(run_id, "failed", error=message)
        else:  # succeeded once tracing queries see it too (bounded: the run is committed)
            self._set(run_id, stage="indexing", progress=0.97)
            self.changes.publish(stats["agreement_id"], wait=VIEW_WAIT_SECONDS)
            self._finish(run_id, "succeeded", stats=stats)

    def _finish(self, run_id: str, status: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(
                    status=status,
                    stage="done" if status == "succeeded" else run.stage,
                    progress=1.0 if status == "succeeded" else run.progress,
                    finished_at=_now(),
                    **values,
                )
            )
            details = {"run": run_id, "status": status, **(values.get("stats") or {})}
            append(conn, run.agreement_id, SERVICE_ACTOR, "run.finish", details=details)
        if self.metrics is not None:
            self.metrics.runs.labels(status).inc()

    def _pending(self, agreement: Any) -> tuple[list[str], list]:
        b, a = batches.c, agencies.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(batches, a.name.label("agency"))
                .join(agencies, a.id == b.agency_id)
                .where(b.agreement_id == agreement.id, b.status == "pending")
                .order_by(b.received_at, b.id)
            ).all()
            loaded = [load_batch(conn, r, r.agency, agreement.schema_fingerprint,
                                 codec=self.codec) for r in rows]  # fmt: skip
        return [r.id for r in rows], loaded

    def _link(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()
            agreement = conn.execute(
                sa.select(agreements).where(agreements.c.id == run.agreement_id)
            ).one()
        ids, loaded = self._pending(agreement)
        if not loaded:
            return {"agreement_id": agreement.id, "batches": 0, "new_records": 0}
        self._set(run_id, stage="linking", progress=0.1)
        threshold = (
            agreement.threshold if agreement.threshold == "auto" else float(agreement.threshold)
        )
        report = linkage.link(
            loaded,
            registry=linkage.Registry(
                self.engine, scope=agreement.id, create_tables=False, codec=self.codec
            ),
            threshold=threshold,
            allow_duplicates_within_agency=agreement.allow_duplicates,
            find=self._finder(run_id),
        )
        self._set(run_id, stage="storing", progress=0.95)
        with self.engine.begin() as conn:
            conn.execute(
                batches.update()
                .where(batches.c.id.in_(ids))
                .values(status="linked", linked_by_run=run_id)
            )
            conn.execute(
                batch_records.update().where(batch_records.c.batch_id.in_(ids)).values(bloom=None)
            )
        a = report.assignments
        return {
            "agreement_id": agreement.id,
            "batches": len(ids),
            "new_records": int(sum(len(b) for b in loaded)),
            "cases_touched": int(a["case_id"].nunique()),
            "links_accepted": report.links_accepted,
            "pairs_scored": report.pairs_scored,
            "merges": len(report.merges),
            "threshold": round(float(report.threshold), 6),
        }

    def _finder(self, run_id: str):
        """Candidate search with progress: Ray tasks when exhaustive, else LSH blocking."""
        if not self.use_ray:
            return None
        searches = [0]

        def find(a, b, threshold, k):
            searches[0] += 1
            exhaustive = choose_method(len(a), len(b)) == "exhaustive"
            search = linkage.ray_candidates if exhaustive else linkage.find_candidates
            result = search(a, b, threshold, k)
            self._set(
                run_id,
                stage=f"candidates ({searches[0]} searches)",
                progress=min(0.9, 0.1 + 0.1 * searches[0]),
            )
            return result

        return find
