"""The top-k walk's cost per pair: one bucket that every row of both sides falls in, scored
whole (:func:`blocking.walk_bands`), so the figure is the kernel's own -- the bound, the
"kept already" check, the Dice and the offer to the row's table -- with the rows in cache.

Uses the public ``blocking`` API only, so the same function measures an older checkout too
(``PYTHONPATH=<checkout> python -c "exec(open('evaluation/_bench_walk.py').read()); ..."``).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from blocking import LshParams, SegmentPlan, walk_bands
from blocking import _topk_kernels as kern

__all__ = ["bench_topk_walk"]

WORDS = 18  # the person schema's filter: 1,152 bits


def bench_topk_walk(
    rows: int = 2000, *, k: int = 10, floor: float = 0.5, repeats: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Nanoseconds per pair visited when ``rows`` x ``rows`` records share one bucket (median
    of ``repeats`` walks, one thread)."""
    rng = np.random.default_rng(seed)
    bits = rng.random((2 * rows, 64 * WORDS)) < 0.4
    x = np.packbits(bits, axis=1, bitorder="little").view(np.uint64)
    a, b = np.ascontiguousarray(x[:rows]), np.ascontiguousarray(x[rows:])
    a[:, 0] = b[:, 0] = np.uint64(0x00FF00FF00FF00FF)  # the banded word: one bucket for all
    plans = [SegmentPlan(0, 1, LshParams("minhash", 1, 2, seed=1, words=1))]

    def walk():
        return walk_bands(a, b, plans, k, floor, [(0, 0)], bucket_cap=rows * rows, threads=1)

    walk()  # compiled
    seconds, visits = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        part = walk()
        seconds.append(time.perf_counter() - started)
        visits = int(part.counters.sum(axis=0)[kern.VISITS])
    median = statistics.median(seconds)
    return {
        "rows_a_side": rows,
        "pairs_visited": visits,
        "walk_seconds_median": round(median, 4),
        "ns_per_pair": round(1e9 * median / max(1, visits), 1),
    }
