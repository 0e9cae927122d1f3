"""The candidate search a linking run uses: exhaustive when it is cheap, LSH blocking when not.

``find_candidates`` has the signature of :func:`linkage.candidates` and returns the same kind of
result. Up to ``blocking.choose_method``'s limit (2e9 comparisons, a few seconds of compiled
popcount) every pair is compared; above it MinHash LSH, planned for the Dice floor and a
target recall, proposes pairs, which are then scored exactly, filtered and cut to top-k.
"""

from __future__ import annotations

import logging

import numpy as np

from blocking import choose_method, lsh_candidate_pairs, plan_lsh
from linkage._candidates import _top_k_reference, candidates, dice_pairs
from linkage._types import CandidatePairs

__all__ = ["find_candidates"]

logger = logging.getLogger(__name__)


def find_candidates(
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    k: int | None = None,
    *,
    method: str = "auto",
    recall: float = 0.99,
    seed: int = 0,
) -> CandidatePairs:
    """Pairs with Dice >= ``threshold`` (best ``k`` per row of ``a``), found the cheap way."""
    chosen = choose_method(len(a), len(b), method=method)
    if chosen == "exhaustive":
        return candidates(a, b, threshold, k)
    params = plan_lsh(a, b, threshold, recall, seed=seed)
    pairs = lsh_candidate_pairs(a, b, params)
    score = dice_pairs(a, b, pairs.i, pairs.j)
    keep = score >= threshold
    i, j, s = pairs.i[keep], pairs.j[keep], score[keep]
    if k is not None:
        i, j, s = _top_k_reference(i, j, s, k)
    logger.info(
        "LSH (%s bands x %s rows) proposed %s pairs, %s at Dice >= %.3f",
        params.bands, params.rows_per_band, len(pairs.i), len(i), threshold,
    )  # fmt: skip
    return CandidatePairs(i, j, s)
