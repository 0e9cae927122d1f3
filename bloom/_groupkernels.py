"""Compiled kernels of near-identical grouping: a union-find over distinct bit patterns.

A pair of patterns is near-identical when ``2·|a ∧ b| / (|a| + |b|) ≥ dice``; each such pair
unites two components, and the root of a component is its smallest pattern index, so the
result does not depend on the order pairs are met. :func:`all_pairs_join` checks every pair
(skipping pairs already in one component); :func:`lsh_join` checks the pairs MinHash LSH
proposes: per band, patterns sorted by the band's key, each checked against the first of its
run of equal keys and against its predecessor. :mod:`bloom._exposure` drives them.
"""

from __future__ import annotations

import math

import numpy as np

from bloom._arrays import I32, U64, Ints
from bloom._bitops import dice as dice_of
from bloom._bitops import popcount
from bloom._jit import njit

__all__ = ["all_pairs_join", "compress", "lsh_join"]

_LSH_SEED = 0x5EED
_PAIR_RECALL = 0.999  # LSH: chance that a pair right at the Dice bound shares a band
_BAND_HIT = 0.4  # LSH: rows per band chosen so such a pair shares one band about this often


@njit(nogil=True)
def _near(x: U64, counts: Ints, i: int, j: int, dice: float) -> bool:  # pragma: no cover - compiled
    inter = 0
    for w in range(x.shape[1]):
        inter += popcount(x[i, w] & x[j, w])
    return dice_of(inter, counts[i] + counts[j]) >= dice


@njit(nogil=True)
def _find(parent: Ints, x: int) -> int:  # pragma: no cover - compiled
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(nogil=True)
def compress(parent: Ints) -> None:  # pragma: no cover - compiled
    """Point every element at its root (roots are the smallest index, so one pass does it)."""
    for k in range(parent.shape[0]):
        parent[k] = parent[parent[k]]


@njit(nogil=True)
def _join(
    x: U64, counts: Ints, parent: Ints, i: int, j: int, dice: float
) -> None:  # pragma: no cover - compiled
    """Unite i and j when near-identical; the smaller index stays the root."""
    ri, rj = _find(parent, i), _find(parent, j)
    if ri != rj and _near(x, counts, i, j, dice):
        if ri < rj:
            parent[rj] = ri
        else:
            parent[ri] = rj


@njit(nogil=True)
def all_pairs_join(
    x: U64, counts: Ints, parent: Ints, dice: float
) -> None:  # pragma: no cover - compiled
    for i in range(x.shape[0]):
        for j in range(i + 1, x.shape[0]):
            _join(x, counts, parent, i, j, dice)


@njit(nogil=True)
def _minhashes(x: U64, ranks: I32) -> I32:  # pragma: no cover - compiled
    """(rows, hashes): least rank of a set bit under each bit order; ``ranks`` is (bits, hashes)."""
    n_hash = ranks.shape[1]
    out = np.full((x.shape[0], n_hash), np.iinfo(np.int32).max, dtype=np.int32)
    for r in range(x.shape[0]):
        row = out[r]
        for w in range(x.shape[1]):
            word = x[r, w]
            while word != 0:
                low = word & (~word + np.uint64(1))
                rank = ranks[w * 64 + popcount(low - np.uint64(1))]
                word ^= low
                for h in range(n_hash):
                    row[h] = min(row[h], rank[h])
    return out


@njit(nogil=True)
def _band_keys(mh: I32, lo: int, hi: int) -> U64:  # pragma: no cover - compiled
    keys = np.empty(mh.shape[0], dtype=np.uint64)
    for r in range(mh.shape[0]):
        k = np.uint64(0x9E3779B97F4A7C15)
        for h in range(lo, hi):
            k = (k ^ np.uint64(mh[r, h])) * np.uint64(0xBF58476D1CE4E5B9)
            k ^= k >> np.uint64(31)
        keys[r] = k
    return keys


@njit(nogil=True)
def _join_runs(
    x: U64, counts: Ints, parent: Ints, order: Ints, keys: U64, dice: float
) -> None:  # pragma: no cover - compiled
    """Inside each run of equal keys: each pattern against the run's first and its predecessor."""
    start = 0
    for k in range(1, order.shape[0] + 1):
        if k < order.shape[0] and keys[order[k]] == keys[order[start]]:
            m = order[k]
            _join(x, counts, parent, order[start], m, dice)
            if k - 1 > start:
                _join(x, counts, parent, order[k - 1], m, dice)
        else:
            start = k


def _lsh_shape(dice: float) -> tuple[int, int]:
    """(bands, rows per band) for MinHash at the Jaccard bound that Dice ``dice`` implies."""
    jaccard = dice / (2.0 - dice)
    if jaccard >= 1.0:
        return 1, 1
    rows = max(1, int(math.log(_BAND_HIT) / math.log(jaccard)))
    hit = jaccard**rows
    bands = max(1, math.ceil(math.log(1 - _PAIR_RECALL) / math.log(1 - hit)))
    return bands, rows


def lsh_join(x: np.ndarray, counts: np.ndarray, parent: np.ndarray, dice: float) -> None:
    bands, rows = _lsh_shape(dice)
    rng = np.random.default_rng(_LSH_SEED)
    nbits = x.shape[1] * 64
    ranks = np.stack([rng.permutation(nbits) for _ in range(bands * rows)], axis=1)
    mh = _minhashes(x, np.ascontiguousarray(ranks, dtype=np.int32))
    for b in range(bands):
        keys = _band_keys(mh, b * rows, (b + 1) * rows)
        order = np.argsort(keys, kind="stable")  # ties keep content order
        _join_runs(x, counts, parent, order, keys, dice)
