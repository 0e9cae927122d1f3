"""Linkage runs: queued in the database, executed one at a time on a background thread.

A run screens the agreement's pending batches (:mod:`service._screen`: a batch that cannot
be linked is quarantined with its reason, the others go on), then computes their linkage
against the registry (:func:`linkage.plan_link` on the registry's state, scoped to the
agreement: only new records are compared, existing case ids are kept). With Ray (always, in
the service) that computation is one Ray task of its own (:func:`linkage.ray_plan_link`,
``CASELINK_RUN_NUM_CPUS`` CPUs, default 1): candidate search, EM and clustering hold a
worker's interpreter and cores, not the service's, so tracing queries are not starved while
a run goes. The service process only reads the inputs and stores the result.

Then ONE transaction stores everything the run decided: the registry's changes, the batches'
status (``linked``, or ``quarantined``), the run's outcome (``stats``, stage ``indexing``)
and its audit entries (``batch.quarantine``, ``run.finish``). After it, the linked batches'
filters are dropped from ``batch_records`` (the registry holds them now), a few thousand
rows per transaction: inside the run's one transaction that rewrite held SQLite's write
lock, which every tracing query's audit entry waits for, for a large part of its time. Once
the tracing index holds the change, the run reads ``succeeded``. A crash before that
transaction leaves nothing of the run; a crash after it leaves it all (and start-up drops
the filters a crash left behind).

:func:`recover_interrupted` runs at start-up and tells each run left queued or running
which of the two it was: a run whose transaction landed (stage ``indexing``) is completed as
``succeeded`` with a note (the index is rebuilt at start-up anyway); any other is ``failed``
— nothing of it was kept and its batches are still pending, so a new run links them.

Several replicas may serve one database (:mod:`service._runlease`): a run is executed by the
replica that queued it, under a lease it renews, and every write of the run is fenced by
that lease. Recovery settles only the runs no live replica holds — at start-up and at every
heartbeat of the lease keeper — and audits each takeover (``run.takeover``: whose lease,
why) before the run's ``run.interrupted`` or ``run.recovered``. Queueing takes a lock per
agreement (PostgreSQL: an advisory lock for the transaction; SQLite: its one writer), so two
replicas asked at once never queue two runs of one agreement.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

import linkage
from caselink_errors import RunConflictError, RunLeaseLostError
from linkage.sealing import FilterCodec
from service import _review as review
from service._audit import SERVICE_ACTOR, append
from service._batches import drop_linked_filters, load_batch
from service._db import reader_engine
from service._events import ChangeFeed, record_change
from service._faults import Faults
from service._metrics import Metrics
from service._run_inputs import RunInputs
from service._runlease import RunLeases
from service._screen import Screened, screen
from service._tables import agencies, batches, runs
from service.api.errors import ServiceError
from service.repositories import agreements as agreements_repo
from service.repositories.agreements import AgreementRow
from service.repositories.runs import active_run

__all__ = ["RunExecutor", "RunLeaseLostError", "queue_run", "recover_interrupted"]

logger = logging.getLogger(__name__)
COMMITTED = "indexing"  # the stage a run's own transaction writes: its changes are stored
VIEW_WAIT_SECONDS = 300.0  # longest wait for the tracing index to take a run
INTERRUPTED = "the service stopped during this run; nothing of it was kept. Start a new run"
RECOVERED = (
    "the service stopped after this run was stored, before its status was written; its "
    "links were kept, and the tracing index was rebuilt at start-up"
)
# what a failed run may say as it is: bad input, or stored filters it cannot open
_TOLD = (
    linkage.LinkageError
    | linkage.RegistryError
    | linkage.RunMemoryError
    | linkage.DataKeyError
    | linkage.SealedValueError
)


def _now() -> datetime:
    return datetime.now(UTC)


def _lock_key(agreement_id: str) -> int:
    """The PostgreSQL advisory lock key of queueing runs of one agreement (64 signed bits)."""
    digest = hashlib.blake2b(f"caselink.runs:{agreement_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _one_active_run(conn: sa.Connection, agreement_id: str) -> None:
    """Refuse (409) a second active run of the agreement, with the agreement's queueing lock
    held until the caller commits: a run another replica queued meanwhile is seen here."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(agreement_id))))
    active = active_run(conn, agreement_id)
    if active is not None:
        raise ServiceError(
            409,
            "conflict",
            f"run {active} of this agreement is not finished yet; wait for it, then start another",
        )


def queue_run(conn: sa.Connection, agreement_id: str, agency_id: int) -> str:
    """Queue a run of the agreement in the caller's transaction (409 if one is active); the
    replica's executor claims its lease once the transaction is committed."""
    _one_active_run(conn, agreement_id)
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


@dataclass
class Recovery:
    """What :func:`recover_interrupted` found: run ids completed, and failed, and the
    agreements whose registry the completed runs changed."""

    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    agreements: set[str] = field(default_factory=set)


def _stored(conn: sa.Connection, run: Any) -> bool:
    """Did the run's transaction land? Its stage says so (a batch it marked linked, too:
    runs of versions that stored in several steps)."""
    if run.stage == COMMITTED:
        return True
    marked = sa.select(batches.c.id).where(batches.c.linked_by_run == run.id).limit(1)
    return conn.execute(marked).first() is not None


def recover_interrupted(
    engine: sa.Engine, leases: RunLeases, changes: ChangeFeed | None = None
) -> Recovery:
    """Settle the runs left queued or running that no live replica holds (``leases``
    judges; see the module docstring); ``changes`` is told of each agreement a completed
    run changed (at start-up the tracing indexes are built afterwards anyway)."""
    found = Recovery()
    if not leases.any_abandoned():  # a plain read: no write lock on most heartbeats
        return found
    with engine.begin() as conn:
        for run, why in leases.abandoned(conn):
            append(
                conn,
                run.agreement_id,
                SERVICE_ACTOR,
                "run.takeover",
                details={
                    "run": run.id,
                    "lease_owner": run.lease_owner,
                    "reason": why,
                    "taken_by": leases.owner,
                },
            )
            stored = _stored(conn, run)
            values: dict[str, Any] = {"finished_at": _now()}
            if stored:
                values |= {
                    "status": "succeeded",
                    "stage": "done",
                    "progress": 1.0,
                    "stats": {**(run.stats or {}), "note": RECOVERED},
                }
                action, details = "run.recovered", {"run": run.id, "status": "succeeded"}
                found.completed.append(run.id)
                found.agreements.add(run.agreement_id)
            else:
                values |= {"status": "failed", "stage": "interrupted", "error": INTERRUPTED}
                action, details = "run.interrupted", {"run": run.id}
                found.failed.append(run.id)
            conn.execute(runs.update().where(runs.c.id == run.id).values(**values))
            append(conn, run.agreement_id, SERVICE_ACTOR, action, details=details)
            logger.warning(
                "run %s of %s taken over from %s (%s): %s",
                run.id,
                run.agreement_id,
                run.lease_owner,
                why,
                values["status"],
            )
        done = sa.select(batches.c.id).where(batches.c.linked_by_run.in_(found.completed))
        kept = list(conn.execute(done).scalars()) if found.completed else []
    # a run stopped between its commit and dropping its batches' filters (run.filters_kept)
    drop_linked_filters(engine, kept)
    for agreement_id in sorted(found.agreements) if changes is not None else ():
        changes.publish(agreement_id)
    return found


def _stats(agreement_id: str, good: list, report: Any, screened: Screened) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "agreement_id": agreement_id,
        "batches": len(good),
        "new_records": int(sum(r.record_count for r in good)),
        "quarantined": sorted(screened.quarantined),
    }
    if report is not None:
        stats |= {
            "cases_touched": int(report.assignments["case_id"].nunique()),
            "links_accepted": report.links_accepted,
            "pairs_scored": report.pairs_scored,
            "merges": len(report.merges),
            "threshold": float(report.threshold),  # exact: withdrawal re-forms cases with it
            "labelled_pairs_used": report.labelled_pairs,  # reviewed pairs EM learnt from
        }
    return stats


class RunExecutor:
    """Runs queued linkage runs on one worker thread, in the order they were queued."""

    def __init__(
        self,
        engine: sa.Engine,
        use_ray: bool,
        changes: ChangeFeed | None = None,
        metrics: Metrics | None = None,
        faults: Faults | None = None,
        run_cpus: int = 1,
        *,
        codec: FilterCodec,
        niceness: int = 0,
        inputs_url: str | None = None,
        memory_gib: float | None = None,
        leases: RunLeases,
        search: str = "auto",
    ) -> None:
        """``use_ray``: compute each run in a Ray task taking ``run_cpus`` CPUs at nice value
        ``niceness`` within ``memory_gib`` GiB (past it the run fails, saying so, and the
        service carries on), which reads its inputs from ``inputs_url`` when given
        (:func:`service._run_inputs.inputs_url`); ``codec`` opens and seals stored filters;
        ``leases``: this replica's run leases (renewed by its :class:`LeaseKeeper`);
        ``search``: where the run's candidate search works (:func:`linkage.ray_plan_link`)."""
        self.leases = leases
        self.niceness, self.inputs_url, self.memory_gib = niceness, inputs_url, memory_gib
        self.engine, self.use_ray, self.metrics = engine, use_ray, metrics
        self.run_cpus, self.codec, self.search = run_cpus, codec, search
        self.changes = changes or ChangeFeed()
        self.faults = faults or Faults()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caselink-run")

    def submit(self, run_id: str) -> None:
        """Claim the queued run's lease (now, in the caller's thread) and execute it."""
        if not self.leases.claim(run_id):
            logger.warning(
                "run %s is not this replica's to execute (settled, or leased by "
                "another replica); leaving it",
                run_id,
            )
            return
        self._pool.submit(self._execute, run_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _hold(self, conn: sa.Connection, run_id: str, **values: Any) -> None:
        """Write ``values`` to the run, fenced by its lease (renewed with them)."""
        if not self.leases.hold(conn, run_id, **values):
            raise RunLeaseLostError(
                f"run {run_id}: this replica ({self.leases.owner}) "
                "lost its lease; another replica settled it"
            )

    def _set(self, run_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            self._hold(conn, run_id, **values)

    def _execute(self, run_id: str) -> None:
        started = time.perf_counter()
        logger.info("run %s started", run_id)
        try:
            self._set(run_id, status="running", stage="loading", started_at=_now())
            agreement_id = self._run(run_id)
        except RunLeaseLostError:  # another replica settled the run: its status is written
            logger.exception("run %s stopped: its lease was lost, nothing more stored", run_id)
            return
        except Exception as e:  # a failed run is recorded, never lost
            logger.exception("run %s failed after %.1f s", run_id, time.perf_counter() - started)
            message = (
                str(e)
                if isinstance(e, _TOLD | RunConflictError)
                else (f"internal error ({type(e).__name__}); the registry is unchanged")
            )
            self._fail(run_id, message)
            return
        self.faults.reach("run.committed")
        # succeeded once tracing queries see it too (bounded: the run is stored)
        self.changes.publish(agreement_id, wait=VIEW_WAIT_SECONDS)
        self.faults.reach("run.indexed")
        try:
            self._set(run_id, status="succeeded", stage="done", progress=1.0, finished_at=_now())
        except RunLeaseLostError:  # stored already; the replica that took it over said so
            logger.exception(
                "run %s: stored, but its final status was another replica's to write", run_id
            )
            return
        self._count("succeeded")
        logger.info("run %s succeeded in %.1f s", run_id, time.perf_counter() - started)

    def _fail(self, run_id: str, error: str) -> None:
        with self.engine.begin() as conn:
            run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()
            if not self.leases.hold(conn, run_id, status="failed", finished_at=_now(), error=error):
                logger.warning(
                    "run %s failed after its lease was lost; another replica settled it", run_id
                )
                return
            append(
                conn,
                run.agreement_id,
                SERVICE_ACTOR,
                "run.finish",
                details={"run": run_id, "status": "failed"},
            )
        self._count("failed")

    def _count(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.runs.labels(status).inc()

    def _pending(self, conn: sa.Connection, agreement_id: str) -> list:
        b, a = batches.c, agencies.c
        return conn.execute(
            sa.select(batches, a.name.label("agency"))
            .join(agencies, a.id == b.agency_id)
            .where(b.agreement_id == agreement_id, b.status == "pending")
            .order_by(b.received_at, b.id)
        ).all()

    def _run(self, run_id: str) -> str:
        """Screen, link and store one run; returns its agreement's id. Everything it reads
        is read from a snapshot (:func:`reader_engine`): it never holds the write lock that
        uploads and the audit entries of queries wait for, except in its one commit."""
        reader = reader_engine(self.engine)
        with reader.connect() as conn:
            run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()
            agreement = agreements_repo.agreement(conn, run.agreement_id)
            assert agreement is not None  # a run's agreement is never deleted
            screened = screen(
                conn, agreement, self._pending(conn, agreement.id), sealed=self.codec is not None
            )
        registry = linkage.Registry(
            self.engine, scope=agreement.id, create_tables=False, codec=self.codec, reader=reader
        )
        good = list(screened.good)
        report = self._plan(run_id, agreement, registry, good) if good else None
        if report is None:  # no new batch: the review decisions are applied all the same
            report = review.apply_without_batches(registry, agreement)
        self.faults.reach("run.linked")
        stats = _stats(agreement.id, good, report, screened) | review.run_figures(run_id, report)
        self._set(run_id, stage="storing", progress=0.95)
        self._store(run_id, registry, report, screened, stats)
        return agreement.id

    def _plan(self, run_id: str, agreement: AgreementRow, registry: linkage.Registry, good: list):
        """The run's linkage, computed in a Ray task of its own when the service has Ray; the
        task reads its inputs itself where it can open the database (:mod:`service._run_inputs`)."""
        t = agreement.threshold
        options = {
            "threshold": t if t == "auto" else float(t),
            "allow_duplicates_within_agency": agreement.allow_duplicates,
            "constraints": review.run_constraints(registry),  # clerical review's decisions
        }
        ray_options = {
            "num_cpus": self.run_cpus,
            "niceness": self.niceness,
            "memory_gib": self.memory_gib,
            "search": self.search,
        }
        if self.use_ray and self.inputs_url is not None:
            self._set(run_id, stage="linking", progress=0.1)
            key_file = getattr(self.codec, "path", None)
            inputs = RunInputs(
                self.inputs_url,
                str(key_file) if key_file else None,
                agreement.id,
                agreement.schema_fingerprint,
                tuple(r.id for r in good),
            )
            return linkage.ray_plan_link(inputs, **ray_options, **options)
        with registry.reader.connect() as conn:
            fp = agreement.schema_fingerprint
            loaded = [load_batch(conn, r, r.agency, fp, codec=self.codec) for r in good]
        state = registry.state()
        self._set(run_id, stage="linking", progress=0.1)
        if self.use_ray:
            return linkage.ray_plan_link(loaded, state=state, **ray_options, **options)
        return linkage.plan_link(loaded, state=state, **options)

    def _store(
        self,
        run_id: str,
        registry: linkage.Registry,
        report: Any,
        screened: Screened,
        stats: dict[str, Any],
    ) -> None:
        """The run's one transaction: registry, batches, outcome and audit, or none of them."""
        scope, ids = registry.scope, [r.id for r in screened.good]
        b = batches.c
        if report is not None:
            registry.prepare(report.update)  # sealed before the transaction takes its locks
        started = time.perf_counter()
        with self.engine.begin() as conn:
            # first: the run's row (its lease) before the registry, as recovery takes them
            self._hold(conn, run_id, stats=stats, stage=COMMITTED, progress=0.97)
            if report is not None:  # numbered: every replica's index compares the registry
                record_change(conn, scope)
                registry.apply(report.update, connection=conn)
            marked = conn.execute(
                batches.update()
                .where(b.id.in_(ids), b.status == "pending")
                .values(status="linked", linked_by_run=run_id)
            )
            if marked.rowcount != len(ids):
                raise RunConflictError(
                    "batches of this run changed while it ran; nothing was stored. Start a new run"
                )
            for batch_id, reason in screened.quarantined.items():
                conn.execute(
                    batches.update()
                    .where(b.id == batch_id)
                    .values(status="quarantined", quarantine_reason=reason)
                )
                append(
                    conn,
                    scope,
                    SERVICE_ACTOR,
                    "batch.quarantine",
                    details={"batch": batch_id, "run": run_id, "reason": reason},
                )
            review.queue_reviews(conn, scope, run_id)  # the uncertain links, for both agencies
            append(
                conn,
                scope,
                SERVICE_ACTOR,
                "run.finish",
                details={"run": run_id, "status": "succeeded", **stats},
            )
        logger.info(
            "run %s stored %s records in one transaction of %.2f s",
            run_id,
            stats.get("new_records", 0),
            time.perf_counter() - started,
        )
        self.faults.reach("run.filters_kept")
        drop_linked_filters(self.engine, ids)  # in the registry now: the batches' copies go
