"""Undoing per-record bit noise before grouping, as an attacker who knows the noise would.

BLIP flips every bit of a record with probability ``f``, each record with its own flips. Two
encodings of one value in a 64-bit segment then differ in ``2f(1-f)·64`` bits on average (13
at epsilon 2), as much as encodings of two different values, so no Dice bound separates them
pair by pair. Many noisy copies of one value still agree bit by bit by majority. The attacker
knows ``f`` (it is in the schema), and does what this module does:

1. takes a sample of the records (at most :data:`SAMPLE` of them, a fixed seed);
2. replaces each sampled record by the bitwise majority of its :data:`NEIGHBOURS` nearest
   sampled records (Hamming distance) within the distance two noisy copies of one pattern
   keep with 99.9% probability -- mostly copies of its own value, whose noise the vote
   cancels: these are the *centres*;
3. merges centres that are near-identical (Dice ≥ the grouping bound; one group of patterns
   keeps its most common member) and moves every record within the distance a noisy copy
   keeps from its pattern (99.9%) onto its nearest centre -- or onto the empty pattern, when
   that is nearer: a record whose field is missing shows only noise there, and stays out of
   every group as an empty segment does without noise;
4. repeats on the records still unplaced (:data:`ROUNDS` in all), so values too rare to be
   sampled in the first round get their turn.

Records placed on a centre get its bits; the others keep their own. Rows with no bit set stay
as they are. The result goes to the ordinary near-identical grouping of :mod:`bloom._exposure`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from bloom._arrays import I64, U64, Bools, Int, Ints
from bloom._bitops import popcount
from bloom._jit import njit

__all__ = ["NEIGHBOURS", "ROUNDS", "SAMPLE", "denoise"]

SAMPLE = 4000
NEIGHBOURS = 15  # odd: with the record itself, a strict majority of 16 is 9 of 16
ROUNDS = 3
_Z = 3.1  # one-sided 99.9% quantile of the normal: the distances' allowance
_SEED = 0xB11F


def _binomial_bound(trials: int, p: float) -> int:
    """Bits a Binomial(trials, p) count stays within with 99.9% probability (normal approx.)."""
    mean = trials * p
    return math.ceil(mean + (_Z * math.sqrt(trials * p * (1.0 - p))))


@njit(nogil=True)
def _hamming(a: U64, i: Int, b: U64, j: Int) -> int:  # pragma: no cover - compiled
    d = 0
    for w in range(a.shape[1]):
        d += popcount(a[i, w] ^ b[j, w])
    return d


@njit(nogil=True)
def _vote(s: U64, rows: Ints, count: int, out: U64, r: int) -> None:  # pragma: no cover - compiled
    """out[r] = the bitwise strict majority of the ``count`` sampled rows listed in ``rows``."""
    votes = np.zeros(s.shape[1] * 64, dtype=np.int64)
    for t in range(count):
        for w in range(s.shape[1]):
            x = s[rows[t], w]
            while x != 0:
                low = x & (~x + np.uint64(1))
                votes[w * 64 + popcount(low - np.uint64(1))] += 1
                x ^= low
    for p in range(votes.shape[0]):
        if 2 * votes[p] > count:
            out[r, p >> 6] |= np.uint64(1) << np.uint64(p & 63)


@njit(nogil=True)
def _majorities(s: U64, k: int, radius: int) -> tuple[U64, I64]:  # pragma: no cover - compiled
    """Each sampled row replaced by the bitwise majority of its k nearest rows within radius
    (ties at the last distance go to the lower index); also how many rows voted."""
    n = s.shape[0]
    out = np.zeros_like(s)
    used = np.zeros(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.int64)
    hist = np.empty(radius + 2, dtype=np.int64)
    rows = np.empty(k, dtype=np.int64)
    for r in range(n):
        hist[:] = 0
        for q in range(n):
            dist[q] = _hamming(s, r, s, q)
            if dist[q] <= radius:
                hist[dist[q]] += 1
        cutoff, taken = -1, 0  # every row at distance <= cutoff fits among the k
        while cutoff < radius and taken + hist[cutoff + 1] <= k:
            cutoff += 1
            taken += hist[cutoff]
        count = 0
        for q in range(n):
            d = dist[q]
            if (d <= cutoff or (d == cutoff + 1 and d <= radius)) and count < k:
                rows[count] = q
                count += 1
        used[r] = count
        _vote(s, rows, count, out, r)
    return out, used


@njit(nogil=True)
def _nearest(
    x: U64, centres: U64, counts: Ints, radius: int, placed: Bools
) -> I64:  # pragma: no cover - compiled
    """Index of the nearest centre within radius of each unplaced row (-1: none).

    ``centres`` are sorted by popcount (``counts``); since two rows differ in at least the
    difference of their popcounts, each row scans only the centres that can still be nearer.
    """
    out = np.full(x.shape[0], -1, dtype=np.int64)
    m = centres.shape[0]
    for r in range(x.shape[0]):
        if placed[r]:
            continue
        pc = 0
        for w in range(x.shape[1]):
            pc += popcount(x[r, w])
        start = np.searchsorted(counts, pc)
        best: Int
        best, best_d = -1, radius + 1
        lo, hi = start - 1, start
        while lo >= 0 or hi < m:
            if hi < m and (lo < 0 or counts[hi] - pc <= pc - counts[lo]):
                c, gap = hi, counts[hi] - pc
                hi += 1
            else:
                c, gap = lo, pc - counts[lo]
                lo -= 1
            if gap >= best_d:
                break
            d = _hamming(x, r, centres, c)
            if d < best_d or (d == best_d and c < best):
                best, best_d = c, d
        out[r] = best
    return out


def _centres(
    sample: np.ndarray, radius: int, group: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Distinct majority patterns of the sample, one per group of near-identical ones.

    A sampled row with no other row within ``radius`` votes alone: it denoises nothing and
    makes no centre. The empty pattern comes first, always.
    """
    voted, used = _majorities(sample, NEIGHBOURS + 1, radius)
    voted = voted[(used > 1) & (np.bitwise_count(voted).sum(axis=1) > 0)]
    empty = np.zeros((1, sample.shape[1]), dtype=np.uint64)
    if len(voted) == 0:
        return empty
    uniq, counts = np.unique(voted, axis=0, return_counts=True)
    labels = group(np.ascontiguousarray(uniq))
    best: dict[int, int] = {}
    for k in np.argsort(-counts, kind="stable"):  # most common member first
        best.setdefault(int(labels[k]), int(k))
    return np.vstack([empty, uniq[sorted(best.values())]])


def denoise(bits: np.ndarray, flip: float, group: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``bits`` with each record moved onto the majority pattern of its value, where found.

    ``flip``: the per-bit flip probability of the noise; ``group``: the near-identical grouping
    (labels per row) used to merge centres.
    """
    if flip <= 0 or len(bits) == 0:
        return bits
    nbits = bits.shape[1] * 64
    pair_radius = _binomial_bound(nbits, 2 * flip * (1 - flip))
    copy_radius = _binomial_bound(nbits, flip)
    out = bits.copy()
    placed = np.bitwise_count(bits).sum(axis=1) == 0  # empty rows stay as they are
    rng = np.random.default_rng(_SEED)
    for _ in range(ROUNDS):
        todo = np.flatnonzero(~placed)
        if todo.size == 0:
            break
        pick = np.sort(rng.choice(todo, size=min(SAMPLE, todo.size), replace=False))
        centres = _centres(np.ascontiguousarray(bits[pick]), pair_radius, group)
        counts = np.bitwise_count(centres).sum(axis=1).astype(np.int64)
        order = np.argsort(counts, kind="stable")
        centres, counts = np.ascontiguousarray(centres[order]), counts[order]
        near = _nearest(bits, centres, counts, copy_radius, placed)
        hit = near >= 0
        out[hit] = centres[near[hit]]
        placed |= hit
    return out
