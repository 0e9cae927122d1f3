"""A whole linking computation in a Ray task of its own: :func:`ray_plan_link`.

:func:`linkage.plan_link` is a pure function of the batches and a registry's state, so it can
run in any process. A service that must keep answering queries while it links runs it here:
candidate search, EM, calibration and clustering then hold a Ray worker's interpreter and
``num_cpus`` CPUs, not the service's — the service only reads the inputs and stores the
result. The candidate search (exhaustive or LSH, as :func:`linkage.search` chooses)
runs either in the task's own process on at most ``num_cpus`` numba threads (``search=
"process"``), or as Ray tasks of its own (``"tasks"``: :class:`linkage.RaySearch`, which can
use every node of a cluster; the run's task gives its CPUs back to Ray while it waits for
them); ``"auto"`` takes tasks when the cluster has more than one node. The result is the same
as ``plan_link`` in the calling process: same records, same cases, same confidence (case ids
are drawn at random, so new cases have other ids).

On a cluster the tasks are spread over the nodes (Ray's ``SPREAD`` strategy: round robin over
the nodes that have the CPUs free). Ray's default would keep putting them on the caller's
node while it has a CPU free — the service's own machine, whose CPUs answer the requests.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any, Protocol, cast

from bloom import CaselinkError, EncodedBatch
from linkage._features import segment_words
from linkage._link import LinkReport, plan_link
from linkage._ray import ensure_ray, live_nodes
from linkage._ray_search import RaySearch
from linkage._registry import RegistryState
from linkage._search import search
from linkage._task_limits import budget_lifted, limit_problems, lower_priority, memory_budget
from linkage._types import LinkageError

__all__ = ["RUN_TASK_NAME", "SEARCH_MODES", "PlanInputs", "ray_plan_link"]

logger = logging.getLogger(__name__)

SEARCH_MODES = ("auto", "process", "tasks")


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


def _plan_task(
    batches: Sequence[EncodedBatch] | PlanInputs,
    state: RegistryState | None,
    threads: int,
    options: dict[str, Any],
    niceness: int = 0,
    memory_gib: float | None = None,
) -> LinkReport:
    """Task body: ``plan_link`` on at most ``threads`` numba threads, at ``niceness``, within
    ``memory_gib`` GiB of data (the worker's own, loading the inputs included); the run's
    kernels are compiled first, outside the budget, when there is one (:func:`warm_up`)."""
    import numba

    lower_priority(niceness)
    before = numba.get_num_threads()  # starts numba's threads before any budget applies
    # numba.config assigns its settings dynamically, out of the type checker's sight
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    try:
        with memory_budget(memory_gib):
            inputs = None
            if not isinstance(batches, Sequence):
                inputs = batches
                batches, state = inputs.load()
            if memory_gib is not None:  # compiling must never meet the budget
                with budget_lifted():
                    warm_up(batches)
            report = plan_link(batches, state=state, **options)
            if inputs is not None:
                inputs.prepare(report)
            return report
    finally:
        numba.set_num_threads(before)


def warm_up(batches: Sequence[EncodedBatch], rows: int = 64) -> None:
    """Link the first ``rows`` records of each batch, and search them through LSH: numba
    compiles (or loads from its cache) the kernels a run calls, for these arrays, before
    the run's memory budget applies -- its compiler maps code itself and aborts the whole
    process when it cannot, so it must never meet the budget. Best effort: a problem here is
    the run's to report, so nothing is raised."""
    few = [EncodedBatch(b.record_refs[:rows], b.filters[:rows], b.metadata) for b in batches]
    try:
        plan_link(few)
        a, b = few[0].filters, few[-1].filters
        segments = cast(
            list[tuple[int, int]], [tuple(map(int, s)) for s in segment_words(few[0].metadata)]
        )
        search(a, b, 0.5, 10, method="lsh", segments=segments)
    except Exception as e:  # the run itself meets and reports any real problem
        logger.debug("warming the kernels up stopped early: %s", type(e).__name__)


RUN_TASK_NAME = _plan_task.__name__  # ray_plan_link's task, by the name Ray records it under


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
    search: str = "auto",
    **options: Any,
) -> LinkReport:
    """:func:`linkage.plan_link` in one Ray task that takes ``num_cpus`` CPUs (capped at the
    largest node's). ``options`` are ``plan_link``'s (``threshold``, ``seed``...), except
    ``find`` and ``executor``: ``search`` says where the candidate search runs — ``"process"``
    (the task's own, on its CPUs), ``"tasks"`` (Ray tasks over the cluster at the run's nice
    value, their memory checked against its budget before they start: :class:`RaySearch`) or
    ``"auto"`` (tasks when Ray has more than one live node). ``niceness`` (POSIX nice value,
    0-19) lowers the CPU priority of the worker that runs it, for good: a service linking in
    the background gives way to its requests. ``batches`` may instead be :class:`PlanInputs`
    that the task loads itself (``state`` is then theirs). ``memory_gib``: the task's memory budget
    (:func:`memory_budget`); past it the run fails with :class:`RunMemoryError` and the
    worker lives on. Starts a local Ray if none is running."""
    for name in ("find", "executor"):
        if name in options:
            raise LinkageError(f"{name}: ray_plan_link chooses the search itself (search=...)")
    if search not in SEARCH_MODES:
        raise LinkageError(f"search must be one of {', '.join(SEARCH_MODES)}, got {search!r}")
    if isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1:
        raise LinkageError(f"num_cpus must be a whole number ≥ 1, got {num_cpus!r}")
    if problems := limit_problems(niceness, memory_gib):
        raise LinkageError(problems)
    ensure_ray()
    import ray

    cpus = max(1, min(num_cpus, _largest_node_cpus(ray)))
    if search == "tasks" or (search == "auto" and live_nodes() > 1):
        options = options | {"executor": RaySearch(niceness=niceness, memory_gib=memory_gib)}
    task = _remote_plan().options(num_cpus=cpus)
    try:
        sent = list(batches) if isinstance(batches, Sequence) else batches
        return cast(
            LinkReport, ray.get(task.remote(sent, state, cpus, options, niceness, memory_gib))
        )
    except ray.exceptions.RayTaskError as e:  # bad input: the same error as in-process
        if isinstance(e.cause, LinkageError):
            raise LinkageError(list(e.cause.problems)) from None
        if isinstance(e.cause, CaselinkError):
            raise e.cause from None
        raise
