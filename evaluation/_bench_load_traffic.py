"""The tracers' side of the load benchmark: paced clients over loopback, and their figures.

Each client is one tracing agency's key sending one-record queries (its own bodies, in turn)
every ``interval`` seconds — late requests are not made up in a burst — while ``going``. A
:class:`Watch` holds the timeline of what the run was doing (upload, its stages), so that
latency can be cut by stage.
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


async def client(url: str, agreement: str, tracer: Tracer, offset: float, interval: float,
                  bound: int, going: Callable[[float], bool], out: Phase) -> None:  # fmt: skip
    """One tracer: a query every ``interval`` s (back to back at 0) while ``going``."""
    import httpx

    headers = {"Authorization": f"Bearer {tracer.key}", "X-Caselink-Purpose": PURPOSE,
               "Content-Type": "application/vnd.apache.parquet"}  # fmt: skip
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT) as http:
        due = time.perf_counter() + offset
        for k in range(bound):
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            t = time.perf_counter()
            if not going(t):
                return
            body = tracer.bodies[k % len(tracer.bodies)]
            try:
                r = await http.post(_PATH.format(agreement), content=body, params={"top_k": 5})
                status = str(r.status_code)
            except httpx.TransportError as e:
                status = f"transport:{type(e).__name__}"
            out.append((t, time.perf_counter() - t, status))
            due = max(due + interval, time.perf_counter())  # late: no catch-up burst


async def traffic(url: str, agreement: str, tracers: list[Tracer], interval: float,
                 going: Callable[[float], bool], bound: int,
                 side: Callable[[], None] | None = None) -> Phase:  # fmt: skip
    """Every client at once, their starts spread over one interval (and ``side`` on a
    thread); the requests they made."""
    out: Phase = []
    async with asyncio.TaskGroup() as tasks:
        for i, tracer in enumerate(tracers):
            offset = interval * i / len(tracers)
            tasks.create_task(client(url, agreement, tracer, offset, interval, bound, going,
                                      out))  # fmt: skip
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
    spans = {stage: round(end - t, 2) for (t, stage), end in zip(watch.stages, ends,
             strict=True) if end is not None}  # fmt: skip
    return {name: {"requests": len(ms), "stage_seconds": spans.get(name),
                   **percentiles(np.array(ms))}
            for name, ms in groups.items()}  # fmt: skip


def while_running(reqs: Phase, watch: Watch) -> dict[str, Any] | None:
    if watch.run is None:
        return None
    lo, hi = watch.run
    ms = np.array([d * 1000 for t, d, s in reqs if s == "200" and lo <= t <= hi])
    return percentiles(ms) if ms.size else None
