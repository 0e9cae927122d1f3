"""Per-segment Dice of candidate pairs: the comparison vector field-aware scoring works on.

A schema splits each filter into segments (``name``, ``birth``, ``address``...); a segment with
no bit set on either side means the fields behind it were missing, which must not count
against a pair. :func:`segment_dice` returns NaN there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit

from bloom import BatchMetadata
from bloom._arrays import F64, U64, Ints
from bloom._bitops import dice
from linkage._kernels import _ctpop  # the same llvm.ctpop popcount the Dice kernels use

__all__ = ["segment_bounds", "segment_dice", "segment_words"]


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


@njit(cache=True, nogil=True)
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
