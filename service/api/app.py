"""The FastAPI application: routers, error handlers, and the resources of its lifetime.

At start-up the app migrates the database, marks runs interrupted by a previous stop as
failed, starts (or joins) Ray once — keeping the SIGTERM handler uvicorn installed — builds
the tracing indexes (rebuilt whenever the change feed names an agreement), and starts the run
executor, the retention sweeper and the audit checkpoint writer (with the signing key, made on
first start). At shutdown it stops them in reverse order; the writer's last act is a
checkpoint of every chain that moved.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from service._checkpoint_writer import CheckpointWriter
from service._db import make_engine, migrate
from service._events import ChangeFeed
from service._index import IndexStore
from service._metrics import Metrics, MetricsMiddleware
from service._ratelimit import RateLimiter
from service._retention import RetentionSweeper
from service._runs import RunExecutor, fail_interrupted
from service._settings import Settings, get_settings
from service._signing import load_signer
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


def create_app(settings: Settings | None = None) -> FastAPI:
    """The caselink service; ``settings`` default to :func:`get_settings`."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        migrate(engine)
        signer = load_signer(settings.audit_key_path, create=True)  # before anything starts:
        checkpoints = CheckpointWriter(  # a service that cannot anchor its audit fails here
            engine, signer, settings.audit_checkpoint_path, settings.audit_checkpoint_seconds
        ).start()
        failed = fail_interrupted(engine)
        if failed:
            logger.warning("%s run(s) were interrupted by the last stop; marked failed", failed)
        started_ray = _start_ray(settings)
        app.state.settings, app.state.engine = settings, engine
        app.state.changes, app.state.metrics = ChangeFeed(), Metrics(engine)
        app.state.indexes = IndexStore(engine)  # tracing: built now, rebuilt on changes
        app.state.changes.subscribe(app.state.indexes.refresh)
        app.state.indexes.refresh_all()
        app.state.query_limiter = RateLimiter(settings.query_rate_per_minute, settings.query_burst)
        app.state.executor = RunExecutor(
            engine, use_ray=True, changes=app.state.changes, metrics=app.state.metrics
        )
        app.state.sweeper = RetentionSweeper(
            engine, settings.retention_sweep_seconds, app.state.changes
        ).start()
        app.state.checkpoints = checkpoints
        try:
            yield
        finally:
            app.state.sweeper.stop()
            app.state.executor.shutdown()
            app.state.indexes.shutdown()
            app.state.checkpoints.stop()  # after the others: their last entries are signed
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
    for module in (health, agencies, agreements, batches, runs, cases, queries, withdrawals,
                   audit):  # fmt: skip
        app.include_router(module.router)
    return app
