"""A run's candidate search as Ray tasks: :class:`RaySearch`, an executor for
:func:`linkage.search`.

Large inputs (LSH top-k): the bands of every segment's plan are dealt round robin into tasks
(:func:`blocking.band_work`); each task walks its bands over all the records into one k-slot
table per row of a (:func:`blocking.walk_bands`, one thread), and the tables are folded
into one (:func:`blocking.combine_parts`) as the tasks finish. The filters
travel once through the object store (read in place by every task on a node), never pickled
per task. A register of millions of rows is also cut into windows of rows of a, so that no
task's tables pass ``max_table_bytes`` (every task still bands all rows, so buckets are split
as in one walk). Two finished tables of one window are folded by a task of their own, where
they lie (a tree of folds, in parallel, not one after another in the caller), and the caller
fetches one table per window at the end; the tasks in flight are limited so that their
tables stay under ``max_bytes_in_flight`` per node. Small inputs (exhaustive
search): chunks of rows of a, as ``linkage._ray.ray_candidates``. Either way the pairs are
exactly those of the search in one process (tested): which band finds a pair does not depend
on which bands a task walks, and the best k of a row do not depend on the order they were
offered in.

Each task runs at the run's nice value, and the memory a task needs (known from the sizes:
:func:`task_bytes`) is checked against the run's memory budget before any starts. A task
blocked waiting for others gives its CPUs back to Ray meanwhile, so the
run's own task can start these and wait for them without holding CPUs they need. On a
cluster the tasks are spread over the nodes (``SPREAD``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from blocking import (
    DEFAULT_BUCKET_CAP,
    DEFAULT_MEMBER_CAP,
    SegmentPlan,
    TopKPart,
    TopKResult,
    band_work,
    combine_parts,
    merge_parts,
    walk_bands,
)
from blocking._lsh import _BANDS_PER_GROUP
from linkage._ray import _score_chunk, cluster_cpus, ensure_ray, live_nodes, ray_candidates
from linkage._task_limits import RunMemoryError, limit_problems, lower_priority
from linkage._types import CandidatePairs, LinkageError

__all__ = ["SEARCH_TASK_NAMES", "RaySearch", "deal", "task_bytes", "windows"]

logger = logging.getLogger(__name__)

Unit = tuple[int, int]


def _walk_task(
    a: np.ndarray,
    b: np.ndarray,
    plans: list[SegmentPlan],
    k: int,
    floor: float,
    units: list[Unit],
    window: tuple[int, int],
    bucket_cap: int,
    member_cap: int,
    niceness: int,
) -> TopKPart:
    """Task body: the given bands walked on one thread, at ``niceness``, for ``window``."""
    lower_priority(niceness)
    return walk_bands(
        a,
        b,
        plans,
        k,
        floor,
        units,
        bucket_cap=bucket_cap,
        member_cap=member_cap,
        threads=1,
        window=window,
    )


def _fold_task(x: TopKPart, y: TopKPart, niceness: int) -> TopKPart:
    """Task body: two tables of one window folded into one."""
    lower_priority(niceness)
    return combine_parts([x, y])


def task_bytes(n_a: int, n_b: int, plans: Sequence[SegmentPlan], k: int, window: int) -> int:
    """The most memory one walk or fold task takes beyond the shared filters, from the sizes
    alone: a segment's copy of both sides, their popcounts and digests, a group of bands'
    keys of both sides, and the tables of a window (three of them in a fold). Checked
    against the run's budget before any task starts: a Ray worker limited by the kernel
    dies (numba's compiler and Ray's own threads abort when an allocation fails) instead
    of failing cleanly, so search tasks carry no kernel limit of their own."""
    widest = max((p.word_hi - p.word_lo for p in plans), default=0)
    rows = n_a + n_b
    walk = rows * (8 * widest + 8 + 8 + 8 * _BANDS_PER_GROUP) + window * (16 * k + 8)
    return max(walk, 3 * window * 16 * k)


@functools.cache
def _remote_fold() -> Any:
    import ray

    return ray.remote(num_cpus=1)(_fold_task)  # Ray's default: near its inputs


@functools.cache
def _remote_walk() -> Any:
    import ray

    return ray.remote(num_cpus=1, scheduling_strategy="SPREAD")(_walk_task)


# RaySearch's tasks, by the names Ray records them under (a cluster's task list shows them)
SEARCH_TASK_NAMES = (_score_chunk.__name__, _walk_task.__name__)


def windows(rows: int, k: int, max_table_bytes: int) -> list[tuple[int, int]]:
    """Rows of a cut into windows whose k-slot tables (16 bytes a slot) fit in
    ``max_table_bytes``: one window up to 1.6 million rows at k = 10 and 256 MiB."""
    step = max(1, min(rows, max_table_bytes // (16 * k)))
    return [(lo, min(rows, lo + step)) for lo in range(0, rows, step)]


def deal(units: Sequence[Unit], shares: int) -> list[list[Unit]]:
    """``units`` dealt round robin into at most ``shares`` non-empty shares: each plan's bands
    (some far heavier than others, e.g. a name's) spread over every share."""
    shares = max(1, min(shares, len(units)))
    return [list(units[s::shares]) for s in range(shares)]


@dataclass(frozen=True)
class RaySearch:
    """Runs :func:`linkage.search`' search as Ray tasks (pass it as ``executor``).

    ``tasks_per_cpu``: tasks per CPU of the cluster (more than one evens out heavy bands);
    ``max_table_bytes``: a task's k-slot tables at most -- a register of millions of rows is
    cut into windows of rows of a, each walked by its own tasks (every row is still banded,
    so the result is the same); ``max_bytes_in_flight``: per node, the tables of running
    tasks at most (they wait in the node's object store until folded); ``niceness``: each
    task's CPU priority (:func:`linkage.lower_priority`); ``memory_gib``: the budget a task's
    memory (:func:`task_bytes`) must fit, or the search fails with
    :class:`linkage.RunMemoryError` before it starts. Starts a local Ray if none is running.
    """

    tasks_per_cpu: int = 2
    max_table_bytes: int = 256 * 2**20
    max_bytes_in_flight: int = 2 * 2**30
    niceness: int = 0
    memory_gib: float | None = None

    def __post_init__(self) -> None:
        problems = []
        for name in ("tasks_per_cpu", "max_table_bytes", "max_bytes_in_flight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be a whole number ≥ 1, got {value!r}")
        problems += limit_problems(self.niceness, self.memory_gib)
        if problems:
            raise LinkageError(problems)

    def candidates(
        self, a: np.ndarray, b: np.ndarray, threshold: float, k: int | None
    ) -> CandidatePairs:
        """The exhaustive search: ``linkage._ray.ray_candidates``, each task at ``niceness``."""
        return ray_candidates(a, b, threshold, k, niceness=self.niceness)

    def top_k(
        self,
        a: np.ndarray,
        b: np.ndarray,
        plans: Sequence[SegmentPlan],
        k: int,
        floor: float,
        *,
        bucket_cap: int = DEFAULT_BUCKET_CAP,
        member_cap: int = DEFAULT_MEMBER_CAP,
    ) -> TopKResult:
        """:func:`blocking.lsh_top_k` with the bands walked as Ray tasks: the same result."""
        ensure_ray()
        import ray

        started = time.perf_counter()
        plans = list(plans)
        cut = windows(a.shape[0], int(k), self.max_table_bytes)
        need = task_bytes(a.shape[0], b.shape[0], plans, int(k), cut[0][1] - cut[0][0])
        if self.memory_gib is not None and need > self.memory_gib * 2**30:
            raise RunMemoryError(
                f"the run's search tasks would each need about {need / 2**30:.2f} GiB, more "
                f"than its memory budget of {self.memory_gib:g} GiB; nothing was stored and "
                "the service carries on. Raise CASELINK_RUN_MEMORY_GIB on hosts that have the "
                "memory, or link the agencies' batches in smaller runs"
            )
        # the tasks' own checks, here on one row: bad input is refused before any task starts
        # (a task's error reaching the caller through the folds is Ray's, not ours)
        walk_bands(
            a[:1],
            b[:1],
            plans,
            k,
            floor,
            [],
            bucket_cap=bucket_cap,
            member_cap=member_cap,
            threads=1,
        )
        shares = deal(band_work(plans), -(-self.tasks_per_cpu * cluster_cpus() // len(cut)))
        work = [(w, share) for w in cut for share in shares]
        table = (cut[0][1] - cut[0][0]) * int(k) * 16
        per_node = max(1, self.max_bytes_in_flight // table)
        limit = max(1, min(len(work), per_node * live_nodes()))
        a_ref, b_ref = ray.put(np.ascontiguousarray(a)), ray.put(np.ascontiguousarray(b))
        walk, fold = _remote_walk(), _remote_fold()
        rest = (bucket_cap, member_cap, self.niceness)
        pending: dict[Any, tuple[int, int]] = {}  # walks and folds running -> their window
        waiting: dict[tuple[int, int], Any] = {}  # per window: a finished table, unpaired
        folds = 0
        todo = iter(work)

        def fill() -> None:  # new walks while fewer than ``limit`` tasks run
            while len(pending) < limit and (nxt := next(todo, None)) is not None:
                w, share = nxt
                pending[walk.remote(a_ref, b_ref, plans, k, floor, share, w, *rest)] = w

        try:
            fill()
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    w = pending.pop(ref)
                    mate = waiting.pop(w, None)
                    if mate is None:
                        waiting[w] = ref
                    else:  # two tables of a window: folded in a task, where they are
                        pending[fold.remote(mate, ref, self.niceness)] = w
                        folds += 1
                fill()
            kept = ray.get([waiting[w] for w in cut])
        finally:
            for ref in pending:
                ray.cancel(ref)
        logger.info(
            "LSH top-%d walked as %d Ray tasks (%d windows of rows x %d shares of the "
            "bands; %d in flight at most), folded in %d tasks",
            k,
            len(work),
            len(cut),
            len(shares),
            limit,
            folds,
        )
        return merge_parts(
            a,
            b,
            plans,
            k,
            floor,
            kept,
            bucket_cap=bucket_cap,
            member_cap=member_cap,
            seconds=time.perf_counter() - started,
        )
