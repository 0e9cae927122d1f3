"""Prometheus metrics of the service, served at ``/metrics``.

Per app (one :class:`Metrics` and its own registry, so several apps in one process never
collide): requests by method, route template and status; request latency by route; runs
started and finished by outcome; tracing queries and query records; refusals by HTTP status;
and, read from the database at scrape time, records registered, records pending and
agreements. Labels hold route templates (``/v1/agreements/{agreement_id}/cases``), never an
id, a ref or anything an agency sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

import linkage
from service._tables import agreements, batch_records

__all__ = ["Metrics", "MetricsMiddleware"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _DatabaseCollector(Collector):
    """Counts read from the database when Prometheus scrapes."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.engine.connect() as conn:
            registered = linkage.Registry.records_everywhere(conn)
            pending = conn.execute(
                sa.select(sa.func.count())
                .select_from(batch_records)
                .where(batch_records.c.bloom.is_not(None))
            )
            n_agreements = conn.execute(sa.select(sa.func.count()).select_from(agreements))
            figures = (registered, pending.scalar_one(), n_agreements.scalar_one())
        names = ("caselink_records_registered", "caselink_records_pending", "caselink_agreements")
        helps = (
            "records in the case registries",
            "uploaded records not linked yet",
            "data-sharing agreements",
        )
        for name, help_text, value in zip(names, helps, figures, strict=True):
            yield GaugeMetricFamily(name, help_text, value=float(value))


class Metrics:
    def __init__(self, engine: sa.Engine) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "caselink_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "caselink_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.runs = Counter("caselink_runs", "linkage runs by outcome", ["outcome"], registry=r)
        self.queries = Counter("caselink_queries", "tracing queries answered", registry=r)
        self.query_records = Counter("caselink_query_records", "records queried", registry=r)
        self.refusals = Counter(
            "caselink_refusals", "refused calls by HTTP status", ["status"], registry=r
        )
        r.register(_DatabaseCollector(engine))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request by its route template."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            service = getattr(scope["app"].state, "service", None)  # None before start-up
            metrics = service.metrics if service is not None else None
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            if metrics is not None:
                metrics.requests.labels(scope["method"], route, str(status["code"])).inc()
                metrics.latency.labels(route).observe(time.perf_counter() - started)
                if status["code"] >= 400:
                    metrics.refusals.labels(str(status["code"])).inc()
