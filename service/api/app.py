"""The FastAPI application: routers, error handlers, and the resources of its lifetime.

At start-up the app migrates the database, opens the data keys that seal stored filters
(:func:`service._datakeys.open_cipher`: it refuses to start without the keys the database
needs), settles the runs a previous stop interrupted
(:func:`service._runs.recover_interrupted`: completed if their transaction landed, else
failed — only runs no live replica holds a lease on, :mod:`service._runlease`), clears the
upload directory of bodies a killed process left, starts (or joins) Ray once — keeping the
SIGTERM handler uvicorn installed — builds the tracing indexes (changed in place whenever the
change feed names an agreement), and starts the run executor with its lease keeper (renewing this
replica's run leases, settling the runs other replicas abandoned), the retention sweeper and
the audit checkpoint writer (with the signing key, made on first start). At shutdown it
stops them in reverse order, letting this replica's run leases go; the writer's last act is
a checkpoint of every chain that moved.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import sqlalchemy as sa
from fastapi import FastAPI

from linkage.sealing import FilterCipher
from service._audit_journal import AuditJournal
from service._audit_writer import AuditWriter
from service._checkpoint_writer import CheckpointWriter
from service._datakeys import open_cipher
from service._db import make_engine, migrate, reader_engine
from service._events import ChangeFeed
from service._faults import Faults
from service._index_store import IndexStore
from service._metrics import Metrics, MetricsMiddleware
from service._ratelimit import RateLimiter
from service._refusals import RefusalAudit
from service._retention import RetentionSweeper
from service._run_inputs import inputs_url
from service._runlease import LeaseKeeper, RunLeases
from service._runs import RunExecutor, recover_interrupted
from service._settings import Settings, get_settings
from service._signing import load_signer
from service._uploads import clear_uploads, upload_dir
from service._wal import WalCheckpointer
from service.api import http_errors
from service.api.errors import install_handlers
from service.api.openapi import install as install_openapi
from service.api.path_guard import PathGuard
from service.api.routes import (
    agencies,
    agreements,
    audit,
    batches,
    cases,
    health,
    queries,
    runs,
    withdrawals,
)

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def _start_ray(settings: Settings) -> bool:
    from linkage import ensure_ray

    store = settings.ray_object_store_mb * 1024 * 1024 if settings.ray_object_store_mb else None
    local = settings.ray_address is None
    return ensure_ray(
        settings.ray_address,
        settings.ray_num_cpus if local else None,
        object_store_memory=store if local else None,
    )


def _after_a_stop(app: FastAPI, engine: sa.Engine, settings: Settings) -> None:
    """Settle what a previous stop left: interrupted runs, upload bodies; arm fault points."""
    app.state.leases = RunLeases(engine, settings.run_lease_seconds)
    recovered = recover_interrupted(engine, app.state.leases)
    if recovered.failed or recovered.completed:
        logger.warning(
            "runs interrupted by the last stop: %s failed (nothing kept), %s "
            "completed (stored before the stop)",
            len(recovered.failed),
            len(recovered.completed),
        )
    app.state.upload_dir = upload_dir(settings.database_url, settings.upload_dir)
    clear_uploads(app.state.upload_dir)
    app.state.faults = Faults(settings.test_faults_file)
    if settings.test_faults_file is not None:
        logger.warning("fault injection is on (CASELINK_TEST_FAULTS_FILE): for tests only")


def create_app(settings: Settings | None = None, *, cipher: FilterCipher | None = None) -> FastAPI:
    """The caselink service; ``settings`` default to :func:`get_settings`, ``cipher`` (the
    data keys, checked against the database) to :func:`open_cipher` at start-up."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.metrics_token = settings.read_metrics_token()  # a missing file stops us here
        engine = make_engine(settings.database_url, autocheckpoint=False)
        migrate(engine)
        signer = load_signer(settings.audit_key_path, create=True)  # before anything starts:
        checkpoints = CheckpointWriter(  # a service that cannot anchor its audit fails here
            engine, signer, settings.audit_checkpoint_path, settings.audit_checkpoint_seconds
        ).start()
        codec = cipher or open_cipher(settings, engine)
        _after_a_stop(app, engine, settings)
        started_ray = _start_ray(settings)
        app.state.settings, app.state.engine, app.state.cipher = settings, engine, codec
        app.state.reader = reader_engine(engine)  # the key lookup of every request
        app.state.wal = (
            WalCheckpointer(app.state.reader).start()  # SQLite: off the write path
            if app.state.reader is not engine
            else None
        )
        app.state.changes, app.state.metrics = ChangeFeed(), Metrics(engine)
        app.state.indexes = IndexStore(
            engine,
            codec=codec,  # tracing: changed in place
            niceness=settings.background_niceness,
        )
        app.state.changes.subscribe(app.state.indexes.changed)
        app.state.indexes.refresh_all()
        app.state.query_limiter = RateLimiter(settings.query_rate_per_minute, settings.query_burst)
        app.state.rate_refusals = RefusalAudit(engine).start()  # 429s counted a minute at a time
        journal = AuditJournal(settings.audit_journal_dir)  # while a run holds the lock
        app.state.audit_writer = AuditWriter(  # queries' entries, group-committed; at start
            engine, journal=journal, lock_wait=settings.audit_lock_wait_seconds
        ).start()  # it folds what the last stop left in the journal
        app.state.executor = RunExecutor(
            engine,
            True,
            app.state.changes,
            app.state.metrics,
            app.state.faults,
            settings.run_num_cpus,
            codec=codec,
            niceness=settings.background_niceness,
            inputs_url=inputs_url(engine, codec, local_ray=settings.ray_address is None),
            memory_gib=settings.run_memory_gib,
            leases=app.state.leases,
            search=settings.run_search,
        )
        app.state.lease_keeper = LeaseKeeper(
            app.state.leases,
            lambda: recover_interrupted(engine, app.state.leases, app.state.changes),
            app.state.faults,
        ).start()
        app.state.sweeper = RetentionSweeper(
            engine, settings.retention_sweep_seconds, app.state.changes
        ).start()
        app.state.checkpoints = checkpoints
        try:
            yield
        finally:
            app.state.faults.release()
            app.state.sweeper.stop()
            app.state.rate_refusals.stop()  # writes every count it still holds
            app.state.audit_writer.stop()  # writes every entry still queued
            app.state.executor.shutdown()
            app.state.lease_keeper.stop()
            app.state.leases.release()  # another replica settles this one's runs at once
            app.state.indexes.shutdown()
            app.state.checkpoints.stop()  # after the others: their last entries are signed
            if app.state.wal is not None:
                app.state.wal.stop()  # after every writer: leaves the log empty
            if app.state.reader is not engine:
                app.state.reader.dispose()
            engine.dispose()
            if started_ray:
                import ray

                ray.shutdown()

    app = FastAPI(
        title="caselink",
        summary="Links encoded records across agencies; issues case ids with confidence.",
        version="1",
        lifespan=lifespan,
    )
    install_handlers(app)
    http_errors.install(app)
    install_openapi(app)
    app.add_middleware(PathGuard)
    app.add_middleware(MetricsMiddleware)
    for module in (health, agencies, agreements, batches, runs, cases, queries, withdrawals, audit):
        app.include_router(module.router)
    return app
