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
a checkpoint of every chain that moved. (All of that is :mod:`service.api.state`: a typed
:class:`~service.api.state.ServiceState` the routes reach through :mod:`service.api.deps`.)

The OpenAPI document is FastAPI's, completed by :mod:`service.api.openapi`; ``/docs`` and
``/redoc`` are served with their files from the service itself (:mod:`service.api.docs`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from linkage.sealing import FilterCipher
from service import console
from service._metrics import MetricsMiddleware
from service._settings import Settings, get_settings
from service.api import docs, http_errors
from service.api.errors import install_handlers
from service.api.openapi import DESCRIPTION, operation_id
from service.api.openapi import install as install_openapi
from service.api.path_guard import PathGuard
from service.api.routes import (
    agencies,
    agreements,
    amendments,
    audit,
    batches,
    cases,
    consent,
    health,
    publication,
    queries,
    reviews,
    runs,
    withdrawals,
)
from service.api.state import start_services

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, cipher: FilterCipher | None = None) -> FastAPI:
    """The caselink service; ``settings`` default to :func:`get_settings`, ``cipher`` (the
    data keys, checked against the database) to :func:`open_cipher` at start-up."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = start_services(settings, cipher)
        app.state.service = state  # read through service.api.deps only
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(
        title="caselink",
        summary="Links encoded records across agencies; issues case ids with confidence.",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served by service.api.docs, from this service rather than a CDN
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    install_handlers(app)
    http_errors.install(app)
    install_openapi(app)
    docs.install(app)
    app.add_middleware(PathGuard)
    app.add_middleware(MetricsMiddleware)
    for module in (health, agencies, agreements, batches, runs, cases, queries, withdrawals, audit):
        app.include_router(module.router)
    app.include_router(amendments.router)  # PATCH /v1/agreements/{agreement_id}
    app.include_router(publication.router)  # the public transparency page and its switch
    app.include_router(consent.router)  # PUT /v1/agreements/{agreement_id}/records/consent
    app.include_router(reviews.router)  # clerical review: queue, decisions, labels
    console.install(app, settings)  # the web console under /console (not in the OpenAPI)
    return app
