"""What a running service holds, typed: :class:`ServiceState`, made at start-up and stopped at
shutdown, in one place.

:func:`start_services` settles what a previous stop left (interrupted runs, upload bodies),
opens the database and the data keys, and starts the background work — the tracing indexes
(:class:`~service._index_store.IndexStore`), the run executor and its lease keeper, the audit
writer and checkpoints, the retention sweeper, the rate-limit refusal counter, SQLite's WAL
checkpointer. :meth:`ServiceState.stop` ends them in the order their writes need (every
writer before the checkpoints that sign their last entries, the WAL checkpointer last).

Requests reach the parts through the typed dependencies of :mod:`service.api.deps`
(``SettingsDep``, ``ExecutorDep``, ``IndexesDep``, ``MetricsDep``, ``LimiterDep`` ...), never
through ``app.state`` itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from linkage.sealing import FilterCipher
from service._audit_journal import AuditJournal
from service._audit_writer import AuditWriter
from service._checkpoint_writer import CheckpointWriter
from service._datakeys import open_cipher
from service._db import make_engine, migrate, reader_engine
from service._events import ChangeFeed
from service._faults import Faults
from service._index_store import IndexStore
from service._metrics import Metrics
from service._ratelimit import RateLimiter
from service._refusals import RefusalAudit
from service._retention import RetentionSweeper
from service._run_inputs import inputs_url
from service._runlease import LeaseKeeper, RunLeases
from service._runs import RunExecutor, recover_interrupted
from service._serving import ServingLock
from service._settings import Settings
from service._signing import load_signer
from service._uploads import clear_uploads, upload_dir
from service._wal import WalCheckpointer

__all__ = ["ServiceState", "start_services"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ServiceState:
    """Every part of a running service a request may use."""

    settings: Settings
    engine: sa.Engine  # every write (on SQLite: BEGIN IMMEDIATE)
    reader: sa.Engine  # pure reads (on SQLite: a WAL snapshot, no write lock)
    cipher: FilterCipher  # the data keys: filters sealed at rest
    metrics_token: str | None
    upload_dir: Path
    faults: Faults
    leases: RunLeases
    changes: ChangeFeed
    metrics: Metrics
    indexes: IndexStore
    query_limiter: RateLimiter
    rate_refusals: RefusalAudit
    sign_in_refusals: RefusalAudit  # the console's refused sign-ins (401), counted likewise
    audit_writer: AuditWriter
    executor: RunExecutor
    lease_keeper: LeaseKeeper
    sweeper: RetentionSweeper
    checkpoints: CheckpointWriter
    wal: WalCheckpointer | None
    started_ray: bool
    serving: ServingLock  # held while running: no restore under this service

    def stop(self) -> None:
        """End the background work, each writer before what signs or checkpoints its
        writes, then close the database."""
        self.faults.release()
        self.sweeper.stop()
        self.rate_refusals.stop()  # writes every count it still holds
        self.sign_in_refusals.stop()
        self.audit_writer.stop()  # writes every entry still queued
        self.executor.shutdown()
        self.lease_keeper.stop()
        self.leases.release()  # another replica settles this one's runs at once
        self.indexes.shutdown()
        self.checkpoints.stop()  # after the others: their last entries are signed
        if self.wal is not None:
            self.wal.stop()  # after every writer: leaves the log empty
        if self.reader is not self.engine:
            self.reader.dispose()
        self.engine.dispose()
        if self.started_ray:
            import ray

            ray.shutdown()
        self.serving.release()


def _start_ray(settings: Settings) -> bool:
    from linkage import ensure_ray

    store = settings.ray_object_store_mb * 1024 * 1024 if settings.ray_object_store_mb else None
    local = settings.ray_address is None
    return ensure_ray(
        settings.ray_address,
        settings.ray_num_cpus if local else None,
        object_store_memory=store if local else None,
    )


def _settle_last_stop(engine: sa.Engine, leases: RunLeases) -> None:
    """Runs a previous stop interrupted: failed (nothing kept) or completed (stored)."""
    recovered = recover_interrupted(engine, leases)
    if recovered.failed or recovered.completed:
        logger.warning(
            "runs interrupted by the last stop: %s failed (nothing kept), %s "
            "completed (stored before the stop)",
            len(recovered.failed),
            len(recovered.completed),
        )


def start_services(settings: Settings, cipher: FilterCipher | None = None) -> ServiceState:
    """Open the database (migrated), the data keys (``cipher``, else checked against the
    database by :func:`open_cipher`) and the audit's signing key, settle what the last stop
    left, and start every background part."""
    metrics_token = settings.read_metrics_token()  # a missing file stops us here
    serving = ServingLock(settings.database_url)  # refused while a restore is under way
    try:
        return _start(settings, cipher, metrics_token, serving)
    except BaseException:
        serving.release()
        raise


def _start(
    settings: Settings, cipher: FilterCipher | None, metrics_token: str | None, serving: ServingLock
) -> ServiceState:
    engine = make_engine(settings.database_url, autocheckpoint=False)
    migrate(engine)
    signer = load_signer(settings.audit_key_path, create=True)  # before anything starts:
    checkpoints = CheckpointWriter(  # a service that cannot anchor its audit fails here
        engine, signer, settings.audit_checkpoint_path, settings.audit_checkpoint_seconds
    ).start()
    codec = cipher or open_cipher(settings, engine)
    leases = RunLeases(engine, settings.run_lease_seconds)
    _settle_last_stop(engine, leases)
    uploads = upload_dir(settings.database_url, settings.upload_dir)
    clear_uploads(uploads)
    faults = Faults(settings.test_faults_file)
    if settings.test_faults_file is not None:
        logger.warning("fault injection is on (CASELINK_TEST_FAULTS_FILE): for tests only")
    started_ray = _start_ray(settings)
    reader = reader_engine(engine)  # the key lookup of every request
    wal = WalCheckpointer(reader).start() if reader is not engine else None  # SQLite
    changes, metrics = ChangeFeed(), Metrics(engine)
    indexes = IndexStore(engine, codec=codec, niceness=settings.background_niceness)
    changes.subscribe(indexes.changed)  # tracing: changed in place
    indexes.refresh_all()
    journal = AuditJournal(settings.audit_journal_dir)  # while a run holds the lock
    audit_writer = AuditWriter(  # queries' entries, group-committed; at start it folds what
        engine, journal=journal, lock_wait=settings.audit_lock_wait_seconds
    ).start()  # the last stop left in the journal
    executor = RunExecutor(
        engine,
        True,
        changes,
        metrics,
        faults,
        settings.run_num_cpus,
        codec=codec,
        niceness=settings.background_niceness,
        inputs_url=inputs_url(engine, codec, local_ray=settings.ray_address is None),
        memory_gib=settings.run_memory_gib,
        leases=leases,
        search=settings.run_search,
    )
    lease_keeper = LeaseKeeper(
        leases, lambda: recover_interrupted(engine, leases, changes), faults
    ).start()
    return ServiceState(
        settings=settings,
        engine=engine,
        reader=reader,
        cipher=codec,
        metrics_token=metrics_token,
        upload_dir=uploads,
        faults=faults,
        leases=leases,
        changes=changes,
        metrics=metrics,
        indexes=indexes,
        query_limiter=RateLimiter(settings.query_rate_per_minute, settings.query_burst),
        rate_refusals=RefusalAudit(engine).start(),  # 429s counted a minute at a time
        sign_in_refusals=RefusalAudit(engine, outcome="unauthorized", status=401).start(),
        audit_writer=audit_writer,
        executor=executor,
        lease_keeper=lease_keeper,
        sweeper=RetentionSweeper(engine, settings.retention_sweep_seconds, changes).start(),
        checkpoints=checkpoints,
        wal=wal,
        started_ray=started_ray,
        serving=serving,
    )
