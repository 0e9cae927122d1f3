"""Dice-coefficient kernels over ``(n, words)`` uint64 Bloom filters, with numpy references.

Bits are counted with LLVM's ``ctpop`` intrinsic, which compiles to POPCNT (or, where the CPU
has it, vectorised VPOPCNTQ). Nothing builds an n-by-m matrix:

- **Pruning.** Side b arrives sorted by popcount. Since ``Dice ≤ 2·min(|a|,|b|)/(|a|+|b|)``,
  each row of a binary-searches the range of b rows that can still reach the threshold.
- **Blocking.** Rows of a, also taken in popcount order, are scored four at a time against
  tiles of 256 rows of b transposed to (words, m): each word of b is loaded once for four
  rows and the inner loop vectorises, accumulating intersections in an L1-sized buffer.
  Blocks of 64 rows of a sweep b in L2-sized spans, so b streams from memory once per block.
- **Exact threshold without a division per pair.** For each (row, popcount of b) the least
  passing intersection is found once with the very float64 formula used for scores, so
  ``inter >= need`` is exactly ``(2.0 * inter) / (pa + pb) >= threshold``.
- **Bounded output.** All-pairs mode writes into caller-owned buffers and reports where it
  stopped when they fill up, so the caller grows them and resumes; top-k mode keeps a heap of
  k per row (higher score first, ties to the lower j).

Each driver kernel has a serial form and a ``parallel=True`` form (``prange`` over ranges of
rows of a). The ``*_reference`` functions compute the same numbers in plain numpy
(``np.bitwise_count``); both compute Dice as ``(2.0 * inter) / (pa + pb)`` in float64, so
scores agree bit for bit. Dice of two all-zero filters is 0.0.
"""

from __future__ import annotations

from typing import TypeAlias, cast

import numpy as np
from numba import prange

from bloom._arrays import F64, I32, I64, U64, Int, Ints
from bloom._bitops import dice, popcount
from bloom._jit import njit

__all__ = [
    "candidates_parallel",
    "candidates_serial",
    "dice_pairs_parallel",
    "dice_pairs_reference",
    "dice_pairs_serial",
    "popcounts",
    "popcounts_reference",
    "scores_reference",
]

_GROUP = 4  # rows of a scored together against each tile of b (register blocking)
_TILE = 256  # rows of b per tile: the (_GROUP, _TILE) int32 accumulators stay in L1
_BLOCK_ROWS = 64  # rows of a that share each span of b while it sits in L2
_SPAN_BYTES = 1 << 18  # bytes of (transposed) b per span


_ctpop = popcount  # one llvm.ctpop intrinsic for the project (bloom._bitops)

SideB: TypeAlias = tuple[U64, Ints, Ints]  # (bt, pb, order): b transposed, popcounts, rows
PairsOut: TypeAlias = tuple[Ints, Ints, F64, Ints]  # (out_i, out_j, out_s, counts)
_Buffers: TypeAlias = tuple[I32, U64, I32, I32, I64]  # (acc, xs, need, least, grp)


@njit(nogil=True)
def popcounts(x: U64) -> I64:  # pragma: no cover - compiled
    """Set bits of each row of ``x`` (int64)."""
    out = np.empty(x.shape[0], dtype=np.int64)
    for r in range(x.shape[0]):
        c = 0
        for w in range(x.shape[1]):
            c += _ctpop(x[r, w])
        out[r] = c
    return out


@njit(nogil=True)
def _dice(inter: Int, p: Int, q: Int) -> float:  # pragma: no cover - compiled
    """``2·inter / (p + q)`` in float64; 0.0 when both filters are empty."""
    return dice(inter, p + q)


@njit(nogil=True)
def _admissible(
    p: Int, threshold: float, pb: Ints, nbits: int
) -> tuple[Int, Int]:  # pragma: no cover - compiled
    """``[lo, hi)`` of the popcount-sorted rows ``pb`` that may reach ``threshold`` with ``p``.

    Dice ≥ t needs ``t·p/(2-t) ≤ q ≤ p·(2-t)/t``. The bounds are widened by one popcount on
    each side so float rounding can never drop a pair the exact test would keep.
    """
    if p == 0:
        return 0, 0
    q_lo = np.int64(np.floor(threshold * p / (2.0 - threshold))) - 1
    q_hi = np.int64(np.ceil(min(p * (2.0 - threshold) / threshold, nbits))) + 1
    return np.searchsorted(pb, q_lo, side="left"), np.searchsorted(pb, q_hi, side="right")


@njit(nogil=True)
def _min_inter(p: Int, q: Int, threshold: float) -> Int:  # pragma: no cover - compiled
    """Smallest intersection x with ``_dice(x, p, q) >= threshold``; ``min(p, q) + 1`` if none.

    ``_dice`` is monotone in x (correctly rounded division), so ``inter >= _min_inter(...)``
    is exactly ``_dice(inter, p, q) >= threshold`` — without a division per pair.
    """
    top = min(p, q)
    x = max(0, min(np.int64(np.ceil(threshold * (p + q) / 2.0)), top + 1))
    while x > 0 and _dice(x - 1, p, q) >= threshold:
        x -= 1
    while x <= top and _dice(x, p, q) < threshold:
        x += 1
    return x


@njit(nogil=True)
def _group(rows: Ints, g: int, end: Int, grp: Ints) -> Int:  # pragma: no cover - compiled
    """Fill ``grp`` with the rows at positions ``[g, g + _GROUP)`` (capped at end); count them.

    Slots past the count repeat the last row: they are scored but never reported.
    """
    cnt = min(_GROUP, end - g)
    for k in range(_GROUP):
        grp[k] = rows[g + min(k, cnt - 1)]
    return cnt


@njit(nogil=True)
def _group_range(
    pa: Ints, grp: Ints, cnt: Int, threshold: float, pb: Ints, nbits: int
) -> tuple[Int, Int]:  # pragma: no cover - compiled
    """Union of the admissible b ranges of the group's rows (empty: ``lo >= hi``)."""
    lo: Int = pb.shape[0]
    hi: Int = 0
    for k in range(cnt):
        r_lo, r_hi = _admissible(pa[grp[k]], threshold, pb, nbits)
        if r_lo < r_hi:
            lo = min(lo, r_lo)
            hi = max(hi, r_hi)
    return lo, hi


@njit(nogil=True)
def _fill_need(
    pa: Ints,
    grp: Ints,
    cnt: Int,
    pb: Ints,
    lo: Int,
    hi: Int,
    threshold: float,
    need: I32,
    least: I32,
) -> None:  # pragma: no cover - compiled
    """``need[k, q]``: least intersection that lets row k reach threshold against popcount q.

    ``least[k]`` is the smallest of row k's needs over the range: a tile whose intersections
    all stay below it holds no pair of row k.
    """
    for k in range(cnt):
        p = pa[grp[k]]
        least[k] = need.shape[1]  # above any need: at most min(p, q) + 1 <= nbits + 1
        for q in range(pb[lo], pb[hi - 1] + 1):
            need[k, q] = _min_inter(p, q, threshold)
            least[k] = min(least[k], need[k, q])


@njit(nogil=True)
def _row_max(acc: I32, g: int, n_cols: Int) -> int:  # pragma: no cover - compiled
    """Largest of ``acc[g, :n_cols]`` (a vectorised reduction)."""
    mx = 0
    for u in range(n_cols):
        mx = max(mx, acc[g, u])
    return mx


@njit(nogil=True)
def _tile_inter(
    a: U64, grp: Ints, bt: U64, u0: int, n_cols: Int, acc: I32, xs: U64
) -> None:  # pragma: no cover - compiled
    """``acc[k, u]`` = set bits of ``a[grp[k]] & b[u0 + u]`` for ``u < n_cols``.

    ``bt`` is b transposed (words, m): each word of a tile of b is loaded once and ANDed
    with the same word of every row in the group; the loop over u vectorises.
    """
    acc[:, :n_cols] = 0
    for w in range(bt.shape[0]):
        bw = bt[w, u0 : u0 + n_cols]
        for k in range(_GROUP):
            xs[k] = a[grp[k], w]
        for u in range(n_cols):
            y = bw[u]
            for k in range(_GROUP):
                acc[k, u] += np.int32(_ctpop(xs[k] & y))


@njit(nogil=True)
def _worse(s1: float, j1: int, s2: float, j2: int) -> bool:  # pragma: no cover - compiled
    """Whether candidate (s1, j1) ranks below (s2, j2): lower score, then higher j."""
    return s1 < s2 or (s1 == s2 and j1 > j2)


@njit(nogil=True)
def _heap_push(hs: F64, hj: Ints, n: int, s: float, j: int) -> None:  # pragma: no cover - compiled
    """Insert (s, j) into the heap of the first n slots, worst candidate at the root."""
    pos = n
    while pos > 0:
        parent = (pos - 1) >> 1
        if not _worse(s, j, hs[parent], hj[parent]):
            break
        hs[pos] = hs[parent]
        hj[pos] = hj[parent]
        pos = parent
    hs[pos] = s
    hj[pos] = j


@njit(nogil=True)
def _heap_replace_root(
    hs: F64, hj: Ints, n: int, s: float, j: int
) -> None:  # pragma: no cover - compiled
    """Replace the worst candidate (the root) by (s, j) and restore the heap."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and _worse(hs[child + 1], hj[child + 1], hs[child], hj[child]):
            child += 1
        if not _worse(hs[child], hj[child], s, j):
            break
        hs[pos] = hs[child]
        hj[pos] = hj[child]
        pos = child
    hs[pos] = s
    hj[pos] = j


@njit(nogil=True)
def _offer(
    out_j: Ints, out_s: F64, counts: Ints, r: Int, k: int, score: float, j: int
) -> None:  # pragma: no cover - compiled
    """Offer (score, j) to row r's top-k heap, held in ``out_*[r*k : (r+1)*k]``."""
    hs = out_s[r * k : (r + 1) * k]
    hj = out_j[r * k : (r + 1) * k]
    n = counts[r]
    if n < k:
        _heap_push(hs, hj, n, score, j)
        counts[r] = n + 1
    elif _worse(hs[0], hj[0], score, j):
        _heap_replace_root(hs, hj, n, score, j)


@njit(nogil=True)
def _emit_tile(
    acc: I32,
    grp: Ints,
    cnt: Int,
    u0: int,
    n_cols: Int,
    pa: Ints,
    side_b: SideB,
    need: I32,
    least: I32,
    k: int,
    out: PairsOut,
    pos: int,
    limit: int,
) -> int:  # pragma: no cover - compiled
    """Report the tile's pairs that reach the threshold; return the next slot, -1 if full."""
    _, pb, order = side_b
    out_i, out_j, out_s, counts = out
    for g in range(cnt):
        if _row_max(acc, g, n_cols) < least[g]:
            continue
        r = grp[g]
        for u in range(n_cols):
            x = acc[g, u]
            q = pb[u0 + u]
            if x < need[g, q]:
                continue
            score = _dice(x, pa[r], q)
            if k > 0:
                _offer(out_j, out_s, counts, r, k, score, order[u0 + u])
                continue
            if pos == limit:
                return -1
            out_i[pos] = r
            out_j[pos] = order[u0 + u]
            out_s[pos] = score
            pos += 1
    return pos


@njit(nogil=True)
def _scan_block(
    a: U64,
    pa: Ints,
    rows: Ints,
    side_b: SideB,
    threshold: float,
    k: int,
    g0: int,
    g1: Int,
    out: PairsOut,
    pos: int,
    limit: int,
    bufs: _Buffers,
) -> int:  # pragma: no cover - compiled
    """Rows at positions ``[g0, g1)`` against b, one L2-sized span of b at a time.

    Every group of the block meets a span while it is in cache, so b streams from memory once
    per block rather than once per group. Returns the next free slot, or -1 when full.
    """
    bt, pb, _ = side_b
    acc, xs, need, least, grp = bufs
    nbits = a.shape[1] * 64
    span = max(_TILE, _SPAN_BYTES // (8 * a.shape[1]) // _TILE * _TILE)
    for c0 in range(0, pb.shape[0], span):
        for g in range(g0, g1, _GROUP):
            cnt = _group(rows, g, g1, grp)
            lo, hi = _group_range(pa, grp, cnt, threshold, pb, nbits)
            lo, hi = max(lo, c0), min(hi, c0 + span)
            if lo >= hi:
                continue
            _fill_need(pa, grp, cnt, pb, lo, hi, threshold, need, least)
            for u0 in range(lo, hi, _TILE):
                n_cols = min(_TILE, hi - u0)
                _tile_inter(a, grp, bt, u0, n_cols, acc, xs)
                pos = _emit_tile(
                    acc, grp, cnt, u0, n_cols, pa, side_b, need, least, k, out, pos, limit
                )
                if pos < 0:
                    return -1
    return pos


@njit(nogil=True)
def _scan(
    a: U64,
    pa: Ints,
    rows: Ints,
    side_b: SideB,
    threshold: float,
    k: int,
    start: Int,
    end: Int,
    out: PairsOut,
    base: int,
    cap: int,
) -> tuple[int, Int]:  # pragma: no cover - compiled
    """Score the rows at positions ``[start, end)`` of ``rows`` against all of b.

    ``k == 0``: append pairs at ``out[*][base:]``, at most ``cap``; returns ``(written, stop)``.
    When the slots run out, the unfinished block's output is dropped and ``stop`` is its
    first position. ``k > 0``: keep row r's best k in ``out[*][r*k:]`` and ``counts[r]``.
    """
    bufs = (
        np.empty((_GROUP, _TILE), dtype=np.int32),  # intersections of a group and a tile
        np.empty(_GROUP, dtype=np.uint64),  # one word of each row of the group
        np.empty((_GROUP, a.shape[1] * 64 + 1), dtype=np.int32),  # need per popcount of b
        np.empty(_GROUP, dtype=np.int32),  # least need per row
        np.empty(_GROUP, dtype=np.int64),  # the group's rows
    )
    pos = base
    for g0 in range(start, end, _BLOCK_ROWS):
        g1 = min(g0 + _BLOCK_ROWS, end)
        nxt = _scan_block(a, pa, rows, side_b, threshold, k, g0, g1, out, pos, base + cap, bufs)
        if nxt < 0:
            return pos - base, g0
        pos = nxt
    return pos - base, end


@njit(nogil=True)
def candidates_serial(
    a: U64,
    pa: Ints,
    rows: Ints,
    side_b: SideB,
    threshold: float,
    k: int,
    starts: Ints,
    ends: Ints,
    cap: int,
    out: PairsOut,
    written: Ints,
    stops: Ints,
) -> None:  # pragma: no cover - compiled
    """Pairs ≥ threshold for the position ranges ``[starts[p], ends[p])``, one after another.

    ``rows`` orders the rows of a by popcount. ``side_b = (bt, pb, order)``: b sorted by
    popcount and transposed to (words, m), its popcounts, and the map from a sorted row back
    to its index in b. ``out = (out_i, out_j, out_s, counts)``. With ``k == 0`` range p
    appends to slots ``[p·cap, (p+1)·cap)`` and reports ``written[p]`` pairs and ``stops[p]``,
    the first position it did not finish; with ``k > 0`` row r's best k (higher score, then
    lower j) go to ``out_j/out_s[r·k : r·k + counts[r]]``.
    """
    for p in range(starts.shape[0]):
        written[p], stops[p] = _scan(
            a, pa, rows, side_b, threshold, k, starts[p], ends[p], out, p * cap, cap
        )


@njit(nogil=True, parallel=True)
def candidates_parallel(
    a: U64,
    pa: Ints,
    rows: Ints,
    side_b: SideB,
    threshold: float,
    k: int,
    starts: Ints,
    ends: Ints,
    cap: int,
    out: PairsOut,
    written: Ints,
    stops: Ints,
) -> None:  # pragma: no cover - compiled
    """:func:`candidates_serial` with the ranges spread over numba's threads."""
    for p in prange(starts.shape[0]):
        written[p], stops[p] = _scan(
            a, pa, rows, side_b, threshold, k, starts[p], ends[p], out, p * cap, cap
        )


@njit(nogil=True)
def _pair_score(a: U64, b: U64, r: Int, s: Int) -> float:  # pragma: no cover - compiled
    """Dice of ``a[r]`` and ``b[s]``."""
    inter = 0
    p = 0
    q = 0
    for w in range(a.shape[1]):
        x = a[r, w]
        y = b[s, w]
        inter += _ctpop(x & y)
        p += _ctpop(x)
        q += _ctpop(y)
    return _dice(inter, p, q)


@njit(nogil=True)
def dice_pairs_serial(
    a: U64, b: U64, i: Ints, j: Ints, out: F64
) -> None:  # pragma: no cover - compiled
    """``out[t]`` = Dice of ``a[i[t]]`` and ``b[j[t]]``."""
    for t in range(i.shape[0]):
        out[t] = _pair_score(a, b, i[t], j[t])


@njit(nogil=True, parallel=True)
def dice_pairs_parallel(
    a: U64, b: U64, i: Ints, j: Ints, out: F64
) -> None:  # pragma: no cover - compiled
    """:func:`dice_pairs_serial` with the pairs spread over numba's threads."""
    for t in prange(i.shape[0]):
        out[t] = _pair_score(a, b, i[t], j[t])


# --- plain numpy references -----------------------------------------------------------------


def popcounts_reference(x: np.ndarray) -> np.ndarray:
    """Set bits of each row of ``x`` (int64), with ``np.bitwise_count``."""
    return cast(np.ndarray, np.bitwise_count(x).sum(axis=1, dtype=np.int64))


def _dice_reference(inter: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Element-wise ``(2.0 * inter) / (p + q)`` in float64; 0.0 where ``p + q == 0``."""
    d = p + q
    out = np.zeros(np.broadcast_shapes(inter.shape, d.shape), dtype=np.float64)
    np.divide(2.0 * inter, d, out=out, where=d > 0)
    return out


def dice_pairs_reference(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Dice of ``a[i[t]]`` and ``b[j[t]]`` for each t."""
    inter = np.bitwise_count(a[i] & b[j]).sum(axis=1, dtype=np.int64)
    return _dice_reference(inter, popcounts_reference(a[i]), popcounts_reference(b[j]))


def scores_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The full ``(len(a), len(b))`` Dice matrix — for small blocks only.

    Intersections are summed word by word over b transposed, 64 rows of a at a time, in a
    uint16 accumulator when the filter length allows (small temporaries, fewer passes).
    """
    bt = np.ascontiguousarray(b.T)
    acc_type = np.uint16 if a.shape[1] * 64 <= np.iinfo(np.uint16).max else np.int64
    inter = np.empty((a.shape[0], b.shape[0]), dtype=np.int64)
    for start in range(0, a.shape[0], 64):
        rows = a[start : start + 64]
        acc = np.zeros((rows.shape[0], b.shape[0]), dtype=acc_type)
        for w in range(a.shape[1]):
            acc += np.bitwise_count(rows[:, w, None] & bt[w][None, :])
        inter[start : start + 64] = acc
    return _dice_reference(inter, popcounts_reference(a)[:, None], popcounts_reference(b)[None, :])
