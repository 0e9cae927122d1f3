"""Liveness (the process answers and its database does) and Prometheus metrics.

``/healthz`` needs no key. ``/metrics`` needs a Bearer credential: the metrics token
(``CASELINK_METRICS_TOKEN`` or ``CASELINK_METRICS_TOKEN_FILE``; Prometheus sends it with
``authorization: {credentials_file: ...}``) or an API key with role ``admin``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service._db import ping
from service.api.deps import EngineDep, MetricsDep, MetricsReader

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="Health check",
    response_description='`{"status": "ok"}`: the service and its database answer.',
)
def healthz(engine: EngineDep) -> dict[str, str]:
    """Whether the service answers and its database does: for load balancers and monitors.

    Needs no key, and says nothing else."""
    ping(engine)
    return {"status": "ok"}


@router.get("/metrics", include_in_schema=False, dependencies=[MetricsReader])
def metrics(figures: MetricsDep) -> Response:
    """Counts and latencies for Prometheus; no ids, refs or anything an agency sent."""
    return Response(figures.render(), media_type=CONTENT_TYPE_LATEST)
