"""Per-segment Dice of candidate pairs: the comparison vector field-aware scoring works on.

A schema splits each filter into segments (``name``, ``birth``, ``address``...); a segment with
no bit set on either side means the fields behind it were missing, which must not count
against a pair. :func:`segment_dice` returns NaN there.

One more comparison, :func:`crowd_levels`, is the pair's crowd: how many candidates its two
records have. It stands in for how common their identifiers are, which the service cannot see
(record linkage weighs an agreement on a rare name above one on a common name: splink's
term-frequency adjustment). Strangers who pass the candidate floor crowd around common names;
two records with no other candidate that look alike are seldom two people. Scoring lets EM
learn what each crowd is worth, as for any segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bloom import BatchMetadata
from bloom._arrays import F64, U64, Ints
from bloom._bitops import dice
from bloom._jit import njit
from linkage._kernels import _ctpop  # the same llvm.ctpop popcount the Dice kernels use

__all__ = ["CROWD_EDGES", "crowd_levels", "segment_bounds", "segment_dice", "segment_words"]

# crowd sizes (candidate pairs of the two records together, the pair itself once) where the
# crowd's comparison level steps down: 7 alone, 0 from 25
CROWD_EDGES = np.array([2, 3, 5, 8, 12, 17, 25])


def segment_bounds(segments: Sequence[Sequence[Any]], words: int) -> np.ndarray:
    """``(segments, 2)`` word ranges [lo, hi) of a layout ``[(name, bits), ...]`` of filters of
    ``words`` 64-bit words; the whole filter as one segment when the layout is unknown."""
    if not segments:
        return np.array([[0, words]], dtype=np.int64)
    bounds, lo = [], 0
    for _, bits in segments:
        bounds.append((lo, lo + int(bits) // 64))
        lo += int(bits) // 64
    return np.array(bounds, dtype=np.int64)


def segment_words(meta: BatchMetadata) -> np.ndarray:
    """``(segments, 2)`` word ranges [lo, hi) of each segment of a batch's filters."""
    return segment_bounds(meta.segments, meta.filter_bits // 64)


@njit(nogil=True)
def _segment_dice(
    a: U64, b: U64, i: Ints, j: Ints, bounds: Ints, out: F64
) -> None:  # pragma: no cover - compiled
    for t in range(i.shape[0]):
        ra, rb = a[i[t]], b[j[t]]
        for s in range(bounds.shape[0]):
            inter = 0
            ca = 0
            cb = 0
            for w in range(bounds[s, 0], bounds[s, 1]):
                inter += _ctpop(ra[w] & rb[w])
                ca += _ctpop(ra[w])
                cb += _ctpop(rb[w])
            if ca == 0 or cb == 0:
                out[t, s] = np.nan
            else:
                out[t, s] = dice(inter, ca + cb)


def segment_dice(
    a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, bounds: np.ndarray
) -> np.ndarray:
    """``(pairs, segments)`` Dice of rows ``a[i]`` and ``b[j]`` per segment; NaN = missing."""
    out = np.empty((len(i), len(bounds)), dtype=np.float64)
    _segment_dice(a, b, np.asarray(i, np.int64), np.asarray(j, np.int64), bounds, out)
    return out


def crowd_levels(g1: np.ndarray, g2: np.ndarray, second_share: float = 1.0) -> np.ndarray:
    """Per candidate pair ``(g1[t], g2[t])``, its crowd as a comparison level (``int8``, higher
    for a smaller crowd, as a higher Dice level is closer): ``len(CROWD_EDGES)`` when neither
    record has another candidate, 0 from ``CROWD_EDGES[-1]`` candidate pairs together.

    ``second_share``: the share of the searching records the pairs come from (a sample's):
    each found record's count is what that share of its finders gave, so it is scaled up by
    its inverse (1: every record searched, counts exact)."""
    if g1.size == 0:
        return np.zeros(0, np.int8)
    first = np.unique(g1, return_inverse=True)[1].ravel()
    second = np.unique(g2, return_inverse=True)[1].ravel()
    found = np.bincount(second)[second]
    if second_share != 1.0:
        found = np.rint(found / second_share).astype(np.int64)
    crowd = np.bincount(first)[first] + found - 1
    return (len(CROWD_EDGES) - np.searchsorted(CROWD_EDGES, crowd, side="right")).astype(np.int8)
