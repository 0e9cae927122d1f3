"""The tracers' side of the load benchmark: paced clients over loopback, and their figures.

Each client is one tracing agency's key sending one-record queries (its own bodies, in turn)
every ``interval`` seconds — late requests are not made up in a burst — while ``going``. A
:class:`Watch` holds the timeline of what the run was doing (upload, its stages), so that
latency can be cut by stage. The clients speak HTTP/1.1 themselves over keep-alive
connections (:class:`_Connection`): on two cores, what the load generator spends is taken
from the service it measures.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from evaluation._bench_service import PURPOSE, percentiles

__all__ = ["Phase", "Tracer", "Watch", "by_stage", "figures", "loads", "traffic", "while_running"]

TIMEOUT = 1800.0  # longest wait for one answer, seconds
_PATH = "/v1/agreements/{}/queries"
Phase = list[tuple[float, float, str]]  # (start, seconds, status) per request


@dataclass
class Watch:
    """What the uploading agency saw in phase 2, on the bench's clock (``perf_counter``)."""

    stages: list[tuple[float, str]] = field(default_factory=list)  # (since, stage)
    upload: tuple[float, float] | None = None
    run: tuple[float, float] | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    poll_errors: dict[str, int] = field(default_factory=dict)  # 5xx answers to run polls
    done: threading.Event = field(default_factory=threading.Event)

    def mark(self, stage: str) -> None:
        stage = stage.split(" (", 1)[0]  # "candidates (3 searches)" -> "candidates"
        if not self.stages or self.stages[-1][1] != stage:
            self.stages.append((time.perf_counter(), stage))


def loads() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass(frozen=True)
class Tracer:
    """One tracing client: its agency's key and the query bodies it encoded for its agency."""

    key: str
    bodies: list[bytes]


class _Connection:
    """One keep-alive HTTP/1.1 connection over loopback, as lean as a load generator must be.

    A tracer's request is written whole (its head built once) and the answer read by its
    ``Content-Length``; the connection is opened again after a transport error or a
    ``Connection: close``. An HTTP library costs the client several milliseconds of CPU a
    request, which on a machine of two cores is taken from the service being measured."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._io: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, request: bytes) -> str:
        """Send ``request``; the answer's status, or ``transport:<error>``."""
        try:
            if self._io is None:
                self._io = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._io
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status, length, close = _parse_head(head)
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            self.close()
            return f"transport:{type(e).__name__}"
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self._io is not None:
            self._io[1].close()
            self._io = None


def _parse_head(head: bytes) -> tuple[str, int, bool]:
    """(status, body length, closing) of an answer's head; ValueError if it is not HTTP/1.1
    with a Content-Length (the service sends one with every answer)."""
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)[1]
    fields = {
        k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
    }
    if "content-length" not in fields:
        raise ValueError("an answer without Content-Length")
    return status, int(fields["content-length"]), fields.get("connection", "").lower() == "close"


def _request(host: str, path: str, key: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"X-Caselink-Purpose: {PURPOSE}\r\nContent-Type: application/vnd.apache.parquet\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def client(
    url: str,
    agreement: str,
    tracer: Tracer,
    offset: float,
    interval: float,
    bound: int,
    going: Callable[[float], bool],
    out: Phase,
) -> None:
    """One tracer: a query every ``interval`` s (back to back at 0) while ``going``."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise ValueError("the load bench talks plain HTTP to a local service: http://host:port")
    path = _PATH.format(agreement) + "?top_k=5"
    requests = [_request(parts.netloc, path, tracer.key, b) for b in tracer.bodies]
    conn = _Connection(parts.hostname, parts.port)
    due = time.perf_counter() + offset
    try:
        for k in range(bound):
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            t = time.perf_counter()
            if not going(t):
                return
            try:
                status = await asyncio.wait_for(conn.post(requests[k % len(requests)]), TIMEOUT)
            except TimeoutError:
                conn.close()  # the answer may still come: this connection is done
                status = "transport:TimeoutError"
            out.append((t, time.perf_counter() - t, status))
            due = max(due + interval, time.perf_counter())  # late: no catch-up burst
    finally:
        conn.close()


async def traffic(
    url: str,
    agreement: str,
    tracers: list[Tracer],
    interval: float,
    going: Callable[[float], bool],
    bound: int,
    side: Callable[[], None] | None = None,
) -> Phase:
    """Every client at once, their starts spread over one interval (and ``side`` on a
    thread); the requests they made."""
    out: Phase = []
    async with asyncio.TaskGroup() as tasks:
        for i, tracer in enumerate(tracers):
            offset = interval * i / len(tracers)
            tasks.create_task(client(url, agreement, tracer, offset, interval, bound, going, out))
        if side is not None:
            tasks.create_task(asyncio.to_thread(side))
    return out


def figures(reqs: Phase, seconds: float, before: list[float]) -> dict[str, Any]:
    status = Counter(s for _, _, s in reqs)
    answered = np.array([d * 1000 for _, d, s in reqs if s == "200"])
    return {
        "seconds": round(seconds, 1),
        "requests": len(reqs),
        "answered": int(status["200"]),
        "by_status": dict(sorted(status.items())),
        "rate_limited_429": int(status["429"]),
        "errors_other_than_429": len(reqs) - int(status["200"]) - int(status["429"]),
        "answered_per_second": round(len(answered) / seconds, 1) if seconds else None,
        "latency_ms": percentiles(answered) if answered.size else None,
        "load_average_before": before,
        "load_average_after": loads(),
    }


def by_stage(reqs: Phase, watch: Watch) -> dict[str, Any]:
    """Latency of the answered requests by what the run was doing when each was sent."""
    starts = [t for t, _ in watch.stages]
    groups: dict[str, list[float]] = {}
    for t, d, s in reqs:
        if s == "200":
            k = bisect.bisect_right(starts, t) - 1
            name = watch.stages[k][1] if k >= 0 else "before the upload"
            groups.setdefault(name, []).append(d * 1000)
    ends = [*starts[1:], None]
    spans = {
        stage: round(end - t, 2)
        for (t, stage), end in zip(watch.stages, ends, strict=True)
        if end is not None
    }
    return {
        name: {"requests": len(ms), "stage_seconds": spans.get(name), **percentiles(np.array(ms))}
        for name, ms in groups.items()
    }


def while_running(reqs: Phase, watch: Watch) -> dict[str, Any] | None:
    if watch.run is None:
        return None
    lo, hi = watch.run
    ms = np.array([d * 1000 for t, d, s in reqs if s == "200" and lo <= t <= hi])
    return percentiles(ms) if ms.size else None
