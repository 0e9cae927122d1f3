"""Choosing between all pairs and LSH, and measuring what blocking kept.

* pairs completeness: share of the true pairs (e.g. every pair at or above the threshold,
  found by comparing all pairs) that are among the candidates -- blocking's recall;
* pairs quality: share of candidates that are true pairs;
* reduction ratio: ``1 - candidates / (n_a * n_b)``, the share of comparisons saved.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from blocking._errors import raise_problems

__all__ = ["EXHAUSTIVE_LIMIT", "METHODS", "blocking_report", "choose_method"]

# all pairs of 2e9 at ~400M Dice comparisons per second per core: ~5 s on one core
EXHAUSTIVE_LIMIT = 2_000_000_000
METHODS = ("auto", "exhaustive", "lsh")

PairArrays = tuple[npt.ArrayLike, npt.ArrayLike]


def choose_method(
    n_a: int,
    n_b: int,
    *,
    method: str = "auto",
    exhaustive_limit: int = EXHAUSTIVE_LIMIT,
) -> Literal["exhaustive", "lsh"]:
    """``"exhaustive"`` when ``n_a * n_b <= exhaustive_limit`` comparisons, else ``"lsh"``.

    ``method="exhaustive"`` or ``"lsh"`` overrides the choice.
    """
    problems: dict[str, str] = {}
    for name, value in (("n_a", n_a), ("n_b", n_b), ("exhaustive_limit", exhaustive_limit)):
        if not _is_count(value):
            problems[name] = "must be a whole number >= 0"
    if method not in METHODS:
        problems["method"] = f"must be one of {', '.join(METHODS)}"
    raise_problems(problems)
    if method == "exhaustive":
        return "exhaustive"
    if method == "lsh":
        return "lsh"
    return "exhaustive" if n_a * n_b <= exhaustive_limit else "lsh"


def _is_count(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0


def _pair_keys(name: str, pairs: PairArrays, n_a: int, n_b: int, problems: dict[str, str]):
    """Unique ``i * n_b + j`` keys of ``pairs``; a problem is recorded instead if invalid."""
    try:
        i, j = (np.asarray(x) for x in pairs)
    except (TypeError, ValueError):
        problems[name] = "must be a pair of index arrays (i, j)"
        return None
    if i.ndim != 1 or j.shape != i.shape or not (_is_int_array(i) and _is_int_array(j)):
        problems[name] = "must be two 1-D integer arrays of the same length"
    elif i.size and (i.min() < 0 or i.max() >= n_a or j.min() < 0 or j.max() >= n_b):
        problems[name] = f"has row indices outside 0..n_a-1 ({n_a}) or 0..n_b-1 ({n_b})"
    else:
        return np.unique(i.astype(np.int64) * np.int64(n_b) + j.astype(np.int64))
    return None


def _is_int_array(x: np.ndarray) -> bool:
    return x.size == 0 or np.issubdtype(x.dtype, np.integer)


def blocking_report(
    candidate_pairs: PairArrays, exhaustive_pairs: PairArrays, n_a: int, n_b: int
) -> dict[str, float | int | None]:
    """Pairs completeness, pairs quality and reduction ratio of ``candidate_pairs``.

    ``exhaustive_pairs`` are the true pairs, e.g. every pair scoring at or above the
    threshold when all pairs are compared. Repeated pairs count once. Completeness (quality)
    is ``None`` when there are no true pairs (no candidates): nothing to measure.
    """
    problems: dict[str, str] = {}
    for name, value in (("n_a", n_a), ("n_b", n_b)):
        if not _is_count(value) or value == 0:
            problems[name] = "must be a whole number >= 1"
    raise_problems(problems)
    cand = _pair_keys("candidate_pairs", candidate_pairs, n_a, n_b, problems)
    true = _pair_keys("exhaustive_pairs", exhaustive_pairs, n_a, n_b, problems)
    raise_problems(problems)
    assert cand is not None and true is not None
    found = int(np.intersect1d(cand, true, assume_unique=True).size)
    return {
        "n_a": int(n_a),
        "n_b": int(n_b),
        "candidates": int(cand.size),
        "true_pairs": int(true.size),
        "true_pairs_found": found,
        "pairs_completeness": found / true.size if true.size else None,
        "pairs_quality": found / cand.size if cand.size else None,
        "reduction_ratio": 1.0 - cand.size / (float(n_a) * float(n_b)),
    }
