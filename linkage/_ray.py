"""Candidate generation on Ray: one task per chunk of rows of a, side b shared once.

The driver validates the input, prepares b (sorted by popcount, transposed) and ``ray.put``s
it once; each task (spread over a cluster's nodes: ``SPREAD``) scores thousands of rows of a
against it with the single-thread kernel
(Ray sets ``OMP_NUM_THREADS=1`` in workers but numba ignores it, so the task never asks for
more than one thread). At most ``max_pending`` tasks are in flight; finished chunks are
collected with ``ray.wait`` and reassembled in row order, so the result is exactly what
:func:`linkage.candidates` returns.

:func:`ensure_ray` starts a lean local Ray once per process, or joins a cluster by address
(argument or ``CASELINK_RAY_ADDRESS``). Ray is imported only when one of these is called.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import numbers
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from linkage._candidates import PreparedB, check_inputs, prepare_b, score_rows
from linkage._types import CandidatePairs, LinkageError

__all__ = ["ADDRESS_ENV", "ensure_ray", "ray_candidates"]

logger = logging.getLogger(__name__)

ADDRESS_ENV = "CASELINK_RAY_ADDRESS"
_CHUNK_ROWS = 2048
_INIT_LOCK = threading.Lock()  # two threads must not both start Ray

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


def _resolve_address(address: str | None) -> str | None:
    """The cluster to join: the argument, else ``$CASELINK_RAY_ADDRESS``, else None (local)."""
    return address or os.environ.get(ADDRESS_ENV) or None


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """Restore the SIGTERM handler afterwards: ``ray.init`` replaces it (e.g. uvicorn's)."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, handler)


def _positive_problems(**values: object) -> list[str]:
    """Each named value must be None or an int ≥ 1."""
    problems = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            problems.append(f"{name} must be a whole number ≥ 1 or None, got {value!r}")
    return problems


def ensure_ray(
    address: str | None = None,
    num_cpus: int | None = None,
    *,
    object_store_memory: int | None = None,
) -> bool:
    """Start a lean local Ray, or join the cluster at ``address``, unless Ray is already up.

    Local: no dashboard, no idle workers started ahead of the first task, usage statistics
    off and token auth off (``RAY_USAGE_STATS_ENABLED`` and ``RAY_AUTH_MODE`` are set only
    where unset), ``num_cpus`` and ``object_store_memory`` as given. Cluster: ``address`` or
    ``$CASELINK_RAY_ADDRESS`` (``"auto"`` or ``HOST:PORT``); sizes belong to the cluster then.
    The SIGTERM handler is preserved. Returns True when this call started or joined Ray,
    False when it was already initialised.
    """
    problems = _positive_problems(num_cpus=num_cpus, object_store_memory=object_store_memory)
    address = _resolve_address(address)
    if address is not None and (num_cpus is not None or object_store_memory is not None):
        problems.append(
            f"num_cpus and object_store_memory apply only to a local Ray; the cluster at "
            f"{address!r} has its own sizes (leave them unset)"
        )
    if problems:
        raise LinkageError(problems)
    import ray

    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address is None:  # "local": a Ray of our own, never one another process started
        kwargs.update(address="local", include_dashboard=False, num_cpus=num_cpus)
        kwargs.update(object_store_memory=object_store_memory)
        # no idle workers started ahead for this first driver (Ray starts one per CPU and
        # waits for them): a worker starts with the first task instead (~0.35 s later),
        # and a process that never sends one saves ~0.45 s of CPU and ~90 MB per CPU
        kwargs["_system_config"] = {"prestart_worker_first_driver": False}
    else:
        kwargs["address"] = address
    with _INIT_LOCK:
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if address is None:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        started = time.perf_counter()
        with _sigterm_kept():
            ray.init(**kwargs)
    where = f"joined at {address}" if address else "started locally"
    logger.info("Ray %s in %.1f s", where, time.perf_counter() - started)
    return True


def _score_chunk(
    a_chunk: np.ndarray, prep: PreparedB, threshold: float, k: int | None, niceness: int = 0
) -> Triple:
    """Task body: one chunk of rows of a against prepared b, on one thread, at ``niceness``."""
    if niceness:
        from linkage._task_limits import lower_priority

        lower_priority(niceness)
    return score_rows(a_chunk, prep, threshold, k, threads=1)


@functools.cache
def _remote_score_chunk() -> Any:
    """:func:`_score_chunk` as a Ray remote function (made once, on first use)."""
    import ray

    return ray.remote(num_cpus=1, scheduling_strategy="SPREAD")(_score_chunk)


def _collect(pending: dict[Any, tuple[int, int]], results: dict[int, Triple]) -> int:
    """Wait for at least one pending task; store its result by start row; return its rows."""
    import ray

    ready, _ = ray.wait(list(pending), num_returns=1)
    rows = 0
    for ref, (start, n_rows) in ((r, pending.pop(r)) for r in ready):
        i, j, s = ray.get(ref)
        results[start] = (i + start, j, s)
        rows += n_rows
    return rows


def cluster_cpus() -> int:
    """CPUs of the Ray cluster this process is joined to (at least 1)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def live_nodes() -> int:
    """Nodes of the Ray cluster that are alive (at least 1)."""
    import ray

    return max(1, sum(1 for n in ray.nodes() if n.get("Alive")))


def _default_max_pending() -> int:
    """Two tasks in flight per CPU of the cluster."""
    return max(2, 2 * cluster_cpus())


def _run_tasks(
    a: np.ndarray,
    prep_ref: Any,
    threshold: float,
    k: int | None,
    chunk_rows: int,
    limit: int,
    on_progress: Callable[[int, int], None] | None,
    niceness: int = 0,
) -> dict[int, Triple]:
    """Submit one task per chunk of a, at most ``limit`` in flight; results by start row."""
    import ray

    task = _remote_score_chunk()
    pending: dict[Any, tuple[int, int]] = {}
    results: dict[int, Triple] = {}
    done, total = 0, a.shape[0]

    def collect_one() -> None:
        nonlocal done
        done += _collect(pending, results)
        if on_progress is not None:
            on_progress(done, total)

    try:
        for start in range(0, total, chunk_rows):
            while len(pending) >= limit:
                collect_one()
            chunk = a[start : start + chunk_rows]
            pending[task.remote(chunk, prep_ref, threshold, k, niceness)] = (start, chunk.shape[0])
        while pending:
            collect_one()
    finally:
        for ref in pending:
            ray.cancel(ref)
    return results


def ray_candidates(
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    k: int | None = None,
    *,
    chunk_rows: int = _CHUNK_ROWS,
    max_pending: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    niceness: int = 0,
) -> CandidatePairs:
    """:func:`linkage.candidates` run as Ray tasks of ``chunk_rows`` rows of a each.

    Starts a local Ray if none is running (:func:`ensure_ray`). At most ``max_pending`` tasks
    (default: two per cluster CPU) are in flight; ``on_progress(done_rows, total_rows)`` is
    called in the driver as chunks finish; ``niceness``: each task's nice value (POSIX). Returns
    the same pairs as ``candidates``.
    """
    a, b, threshold, k = check_inputs(a, b, threshold, k)
    problems = _positive_problems(chunk_rows=chunk_rows, max_pending=max_pending)
    if problems:
        raise LinkageError(problems)
    ensure_ray()
    import ray

    started = time.perf_counter()
    prep_ref = ray.put(prepare_b(b))
    limit = max_pending or _default_max_pending()
    results = _run_tasks(a, prep_ref, threshold, k, chunk_rows, limit, on_progress, niceness)
    ordered = [results[start] for start in sorted(results)]
    i, j, s = (np.concatenate(col) for col in zip(*ordered, strict=True))
    logger.debug(
        "ray_candidates: %s x %s filters in %s tasks: %s pairs in %.3f s",
        a.shape[0],
        b.shape[0],
        len(ordered),
        len(i),
        time.perf_counter() - started,
    )
    return CandidatePairs(i, j, s)
