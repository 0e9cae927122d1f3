"""A whole linking computation in a Ray task of its own: :func:`ray_plan_link`.

:func:`linkage.plan_link` is a pure function of the batches and a registry's state, so it can
run in any process. A service that must keep answering queries while it links runs it here:
candidate search, EM, calibration and clustering then hold a Ray worker's interpreter and
``num_cpus`` CPUs, not the service's — the service only reads the inputs and stores the
result. The task searches candidates in its own process (exhaustive or LSH, as
:func:`linkage.find_candidates` chooses) on at most ``num_cpus`` numba threads; it never
starts tasks of its own, which could wait forever for the CPUs it holds. The result is the
same as ``plan_link`` in the calling process: same records, same cases, same confidence
(case ids are drawn at random, so new cases have other ids).

On a cluster the tasks are spread over the nodes (Ray's ``SPREAD`` strategy: round robin over
the nodes that have the CPUs free). Ray's default would keep putting them on the caller's
node while it has a CPU free — the service's own machine, whose CPUs answer the requests.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import resource
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from bloom import CaselinkError, EncodedBatch
from linkage._link import LinkReport, plan_link
from linkage._ray import ensure_ray
from linkage._registry import RegistryState
from linkage._types import LinkageError

__all__ = [
    "PlanInputs",
    "RunMemoryError",
    "lower_priority",
    "memory_budget",
    "ray_plan_link",
]

logger = logging.getLogger(__name__)


def lower_priority(niceness: int) -> None:
    """Every thread of this process at nice value ``niceness`` or lower priority (POSIX; a
    no-op elsewhere). On Linux a nice value belongs to a thread, so each is set."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    tasks = Path("/proc/self/task")
    ids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for tid in ids:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except OSError:  # the thread ended meanwhile
            continue


class PlanInputs(Protocol):
    """A run's inputs that the task reads itself, where it can reach them (a database that
    its process can open): the caller then ships a few ids, not every filter, and neither
    reads nor decrypts them in its own process."""

    def load(self) -> tuple[Sequence[EncodedBatch], RegistryState | None]:
        """The batches to link and the registry's state."""
        ...

    def prepare(self, report: LinkReport) -> None:
        """Work on the result that is best done in the task (sealing the new filters)."""
        ...


class RunMemoryError(CaselinkError):
    """A linking run needed more memory than its budget; nothing was stored."""


@contextlib.contextmanager
def memory_budget(gib: float | None) -> Iterator[None]:
    """Allocations in this process beyond ``gib`` GiB of data (heap and private mappings:
    arrays, not the shared object store) fail while inside, as a :class:`RunMemoryError`
    naming the budget; the limit is lifted on the way out. ``None``: no budget. POSIX
    (RLIMIT_DATA); elsewhere no limit is set."""
    if gib is None or not hasattr(resource, "RLIMIT_DATA"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = int(gib * 2**30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield
    except (MemoryError, ImportError, OSError) as e:
        if not isinstance(e, MemoryError) and not _out_of_memory(e):
            raise
        raise RunMemoryError(
            f"the run needed more than its memory budget of {gib:g} GiB and stopped; nothing "
            "was stored and the service carries on. Raise CASELINK_RUN_MEMORY_GIB on a host "
            "that has the memory, or link the agencies' batches in smaller runs"
        ) from None
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _out_of_memory(e: BaseException) -> bool:
    """An error that says memory could not be had: a library's segments that could not be
    mapped (a module imported lazily past the budget), or ENOMEM."""
    return getattr(e, "errno", None) == errno.ENOMEM or "failed to map segment" in str(e)


def _plan_task(batches: Sequence[EncodedBatch] | PlanInputs, state: RegistryState | None,
               threads: int, options: dict[str, Any], niceness: int = 0,
               memory_gib: float | None = None) -> LinkReport:  # fmt: skip
    """Task body: ``plan_link`` on at most ``threads`` numba threads, at ``niceness``, within
    ``memory_gib`` GiB of data (the worker's own, loading the inputs included)."""
    import numba

    lower_priority(niceness)
    before = numba.get_num_threads()  # starts numba's threads before any budget applies
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        with memory_budget(memory_gib):
            inputs = None
            if not isinstance(batches, Sequence):
                inputs = batches
                batches, state = inputs.load()
            report = plan_link(batches, state=state, **options)
            if inputs is not None:
                inputs.prepare(report)
            return report
    finally:
        numba.set_num_threads(before)


@functools.cache
def _remote_plan() -> Any:
    import ray

    return ray.remote(max_retries=0, scheduling_strategy="SPREAD")(_plan_task)


def _largest_node_cpus(ray: Any) -> int:
    """CPUs of the largest live node: a task runs on one node, so asking for more than that
    would wait for ever (the cluster's total is what an idle one-node Ray has)."""
    sizes = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    return int(max(sizes, default=0)) or int(ray.cluster_resources().get("CPU", 1))


def ray_plan_link(
    batches: Sequence[EncodedBatch] | PlanInputs,
    *,
    state: RegistryState | None = None,
    num_cpus: int = 1,
    niceness: int = 0,
    memory_gib: float | None = None,
    **options: Any,
) -> LinkReport:
    """:func:`linkage.plan_link` in one Ray task that takes ``num_cpus`` CPUs (capped at the
    largest node's). ``options`` are ``plan_link``'s (``threshold``, ``seed``...), except ``find``:
    the task searches in its own process. ``niceness`` (POSIX nice value, 0-19) lowers the
    CPU priority of the worker that runs it, for good: a service linking in the background
    gives way to its requests. ``batches`` may instead be :class:`PlanInputs` that the task
    loads itself (``state`` is then theirs). ``memory_gib``: the task's memory budget
    (:func:`memory_budget`); past it the run fails with :class:`RunMemoryError` and the
    worker lives on. Starts a local Ray if none is running."""
    if "find" in options:
        raise LinkageError("find: ray_plan_link searches candidates inside its task; leave it out")
    if isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1:
        raise LinkageError(f"num_cpus must be a whole number ≥ 1, got {num_cpus!r}")
    if isinstance(niceness, bool) or not isinstance(niceness, int) or not 0 <= niceness <= 19:
        raise LinkageError(f"niceness must be a whole number from 0 to 19, got {niceness!r}")
    if memory_gib is not None and (
        isinstance(memory_gib, bool) or not isinstance(memory_gib, int | float) or memory_gib <= 0
    ):
        raise LinkageError(f"memory_gib must be a number of GiB above 0, or None: {memory_gib!r}")
    ensure_ray()
    import ray

    cpus = max(1, min(num_cpus, _largest_node_cpus(ray)))
    task = _remote_plan().options(num_cpus=cpus)
    try:
        sent = list(batches) if isinstance(batches, Sequence) else batches
        return ray.get(task.remote(sent, state, cpus, options, niceness, memory_gib))
    except ray.exceptions.RayTaskError as e:  # bad input: the same error as in-process
        if isinstance(e.cause, LinkageError):
            raise LinkageError(list(e.cause.problems)) from None
        if isinstance(e.cause, CaselinkError):
            raise e.cause from None
        raise
