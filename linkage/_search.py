"""The one candidate search: exhaustive when it is cheap, LSH blocking when not.

:func:`search` is the entry point every caller uses (a linking run, the Ray executor, the
evaluation): it owns the choice. It has the signature of :func:`linkage.candidates` (the
exhaustive kernel) and returns the same kind of result. Up to ``blocking.choose_method``'s
limit (2e9 comparisons, a few seconds of compiled popcount) every pair is compared. Above it,
with ``k`` (as every linking run has), MinHash LSH bands each segment of the filters
(``segments``; the whole filter if not given) for pairs that agree closely on it, and keeps
each record's best k at Dice >= ``threshold`` as the bands are walked
(:func:`blocking.lsh_top_k`): memory is records x k, never the colliding pairs, however many
records share a name. Without ``k``, LSH planned for ``threshold`` proposes every pair, which
is scored exactly and filtered (memory grows with the pairs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from blocking import (
    SegmentPlan,
    TopKResult,
    choose_method,
    lsh_candidates,
    lsh_top_k,
    plan_lsh,
    plan_segments,
)
from linkage._candidates import candidates, dice_pairs
from linkage._types import CandidatePairs

__all__ = ["SEGMENT_THRESHOLD", "SearchExecutor", "search"]

logger = logging.getLogger(__name__)

# A true pair nearly always agrees this closely on at least one segment (synthetic registers
# under `person`: 99.6% at 0.8 on some segment, against 86% at 0.8 over the whole filter).
SEGMENT_THRESHOLD = 0.8


class SearchExecutor(Protocol):
    """Where the search runs, when not in this process (:class:`linkage.RaySearch`): the
    exhaustive search, and the LSH top-k walk over plans made here. Both must return what
    :func:`linkage.candidates` and :func:`blocking.lsh_top_k` would."""

    def candidates(
        self, a: np.ndarray, b: np.ndarray, threshold: float, k: int | None
    ) -> CandidatePairs: ...

    def top_k(
        self, a: np.ndarray, b: np.ndarray, plans: Sequence[SegmentPlan], k: int, floor: float
    ) -> TopKResult: ...


def search(
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    k: int | None = None,
    *,
    method: str = "auto",
    recall: float = 0.99,
    seed: int = 0,
    segments: Sequence[tuple[int, int]] | None = None,
    segment_threshold: float = SEGMENT_THRESHOLD,
    executor: SearchExecutor | None = None,
) -> CandidatePairs:
    """Pairs with Dice >= ``threshold`` (best ``k`` per row of ``a``), found the cheap way.

    ``segments``: the filters' segments as word ranges (``linkage`` passes the schema's); with
    ``k``, LSH proposes the pairs whose Dice on some segment is at least ``segment_threshold``
    (each segment at ``recall``), and keeps the best k per row by Dice over the whole filter.
    ``executor`` runs the exhaustive search and the LSH top-k walk elsewhere (on Ray): the
    same pairs; the LSH plan is made here either way. Without ``k`` (evaluation only), LSH
    planned for ``threshold`` proposes every pair, scored exactly: memory grows with them."""
    chosen = choose_method(len(a), len(b), method=method)
    if chosen == "exhaustive":
        if executor is not None:
            return executor.candidates(a, b, threshold, k)
        return candidates(a, b, threshold, k)
    if k is not None:
        plans = plan_segments(a, b, segments, max(segment_threshold, threshold), recall, seed=seed)
        walk = lsh_top_k if executor is None else executor.top_k
        found = walk(a, b, plans, k, threshold)
        return CandidatePairs(found.i, found.j, found.score)
    params = plan_lsh(a, b, threshold, recall, seed=seed)
    pairs = lsh_candidates(a, b, params).pairs
    score = dice_pairs(a, b, pairs.i, pairs.j)
    keep = score >= threshold
    i, j, s = pairs.i[keep], pairs.j[keep], score[keep]
    logger.info(
        "LSH (%s bands x %s rows) proposed %s pairs, %s at Dice >= %.3f",
        params.bands,
        params.rows_per_band,
        len(pairs.i),
        len(i),
        threshold,
    )
    return CandidatePairs(i, j, s)
