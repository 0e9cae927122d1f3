"""Compiled kernels for LSH with a bounded candidate set: the best k rows of b per row of a.

Instead of collecting every colliding pair, each band's buckets are scored as they are walked
and each pair is offered to its row's k-slot table (:func:`offer`), so memory is
``rows of a x k`` whatever the buckets hold.

A bucket of more than ``cap`` pairs -- a name thousands of people share -- is not skipped and
not scored whole: it is split by more hashes, drawn from the bits its members do *not* all
share (what tells namesakes apart: birth date, father's name, place), until every part is
under the cap (:func:`score_bucket`). A pair stays together through one more hash with
probability about their Jaccard index on those bits, so close pairs (true matches) survive the
split and namesakes that differ elsewhere are parted. Each band splits with its own hashes, so
a pair parted in one band is not parted the same way in the next. A part that no hash can
split further (rows identical on every varying bit) is scored up to the cap, each row of a
against the first rows of b, and counted. With a member cap, a part is also split while it
holds more than that many pairs per member, so what a row meets in a band stays bounded
however many namesakes the register holds (:func:`_limit`).

A walk that keeps tables for a window of rows of a only (a Ray task's share) skips the buckets
and parts that hold none of them: parts are split alike whatever the window, so its rows come
out as in a walk of every row.

Scores are Dice coefficients ``2.0 * |x & y| / (|x| + |y|)`` in float64, as
:mod:`linkage` computes them, so the k kept are the k the exhaustive search would keep when
both see the same pairs (ties go to the lower row of b).
"""

from __future__ import annotations

import numpy as np

from blocking._kernels import _K1, _bucket_end, _first_set_rank
from blocking._kernels import _finalise as _mix
from bloom._bitops import dice, popcount
from bloom._jit import njit

__all__ = [
    "fold_tables",
    "merge_tables",
    "new_tables",
    "score_bucket",
    "segment_digests",
    "walk_band",
]

_EMPTY = -1.0
_MIN_BLOCK = 64  # a block of two spellings this large is met in one band only
_FULL = np.uint64(0xFFFFFFFFFFFFFFFF)

# counters (int64 array): what a band's walk did
SCORED, SPLIT_BUCKETS, CAPPED_PARTS, CAPPED_PAIRS, LARGEST_BUCKET, HASHED, VISITS = range(7)
N_COUNTERS = 7


def new_tables(n_a: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empty k-slot tables for ``n_a`` rows: scores (-1 = empty), rows of b, worst slot."""
    return (
        np.full((n_a, k), _EMPTY, dtype=np.float64),
        np.full((n_a, k), -1, dtype=np.int64),
        np.zeros(n_a, dtype=np.int64),
    )


@njit(nogil=True, inline="always")
def offer(hs, hj, worst, i, j, s):  # pragma: no cover - compiled
    """Put (j, s) in row i's table if it beats the worst kept (higher score, then lower j)
    and is not there yet. Returns True when it was kept."""
    w = worst[i]
    ws = hs[i, w]
    if s < ws or (s == ws and hj[i, w] >= 0 and j >= hj[i, w]):
        return False
    k = hs.shape[1]
    for t in range(k):
        if hj[i, t] == j:
            return False
    hs[i, w] = s
    hj[i, w] = j
    w = 0
    for t in range(1, k):
        if hs[i, t] < hs[i, w] or (hs[i, t] == hs[i, w] and hj[i, t] > hj[i, w]):
            w = t
    worst[i] = w
    return True


@njit(nogil=True, inline="always")
def _score_row(  # pragma: no cover - compiled
    a, b, pa, pb, i, js, count, floor, hs, hj, worst, counters, row_lo, qb, q_skip, skip
):
    """Score row i of a against rows ``js[:count]`` of b into row i's table, which is row
    ``i - row_lo`` of the tables (rows of a outside the tables' window are another walk's);
    with ``skip``, rows of b whose segment digest is ``q_skip`` are passed over.

    One call per row of a and bucket, not per pair: a numba call taking arrays costs atomic
    reference counts, several times the ~10 ns a pair's Dice takes."""
    r = i - row_lo
    if r < 0 or r >= hs.shape[0]:
        return
    visits, scored = 0, 0
    p_i = pa[i]
    for t in range(count):
        j = js[t]
        if skip and qb[j] == q_skip:
            continue
        visits += 1
        total = p_i + pb[j]
        if total == 0:
            continue
        bound = 2.0 * min(p_i, pb[j]) / total  # Dice can be no higher
        if bound < floor or bound < hs[r, worst[r]]:
            continue
        kept = False
        for u in range(hj.shape[1]):  # kept already (close pairs meet in many bands)
            if hj[r, u] == j:
                kept = True
                break
        if kept:
            continue
        inter = 0
        for w in range(a.shape[1]):
            inter += popcount(a[i, w] & b[j, w])
        s = dice(inter, total)
        scored += 1
        if s >= floor:
            offer(hs, hj, worst, r, j, s)
    counters[VISITS] += visits
    counters[SCORED] += scored


@njit(nogil=True, inline="always")
def _limit(ca, cb, cap, per_member):  # pragma: no cover - compiled
    """The most pairs a part of ``ca`` rows of a and ``cb`` of b is scored whole with: the
    cap, and with ``per_member`` > 0 also that many pairs per member of the part, so the
    pairs a row meets in a band do not grow with the register."""
    if per_member > 0 and per_member * (ca + cb) < cap:
        return per_member * (ca + cb)
    return cap


@njit(nogil=True)
def _part_hash(x, row, common, order):  # pragma: no cover - compiled
    """MinHash of ``x[row]`` on the bits outside ``common``: the rank in ``order`` (a keyed
    permutation of the bit positions) of its first such set bit."""
    for t in range(order.shape[0]):
        p = order[t]
        w = p >> 6
        if (x[row, w] & ~common[w]) >> np.uint64(p & 63) & np.uint64(1):
            return np.uint64(t)
    return np.uint64(order.shape[0])


@njit(nogil=True)
def _met_before(sa, sb, x, y, band, tables):  # pragma: no cover - compiled
    """Whether row x of ``sa`` and row y of ``sb`` share every MinHash of some band before
    ``band`` (``tables``: the plan's permutations, ``(bands, r, bits)``)."""
    for g in range(band):
        same = True
        for k in range(tables.shape[1]):
            if _first_set_rank(sa[x], tables[g, k]) != _first_set_rank(sb[y], tables[g, k]):
                same = False
                break
        if same:
            return True
    return False


@njit(nogil=True)
def _runs(q, rows):  # pragma: no cover - compiled
    """Each member's value (segment digest) as a run number (runs in ascending value), and
    each run's size. One stable sort of the values: the argsort :func:`score_bucket` compiles
    for its keys (np.unique and np.searchsorted would compile their own)."""
    values = q[rows]
    order = np.argsort(values, kind="mergesort")
    ids = np.empty(rows.shape[0], dtype=np.int64)
    sizes = np.zeros(rows.shape[0], dtype=np.int64)
    run = -1
    for t in range(order.shape[0]):
        if t == 0 or values[order[t]] != values[order[t - 1]]:
            run += 1
        ids[order[t]] = run
        sizes[run] += 1
    return ids, sizes[: run + 1]


@njit(nogil=True)
def _block_unmet(u, v, i, j, band, decided, sa, sb, tables):  # pragma: no cover - compiled
    """Whether no earlier band met block (u, v) -- the rows of one segment value on side a
    against those of another on side b, two spellings of a name, rows i and j among them:
    decided once per block in ``decided`` by :func:`_met_before`."""
    d = decided[u, v]
    if d == 0:
        d = 2 if _met_before(sa, sb, i, j, band, tables) else 1
        decided[u, v] = d
    return d == 1


@njit(nogil=True)
def score_bucket(  # pragma: no cover - compiled
    a,
    b,
    pa,
    pb,
    ra,
    rb,
    floor,
    cap,
    per_member,
    orders,
    qa,
    qb,
    band,
    same_bands,
    sa,
    sb,
    tables,
    hs,
    hj,
    worst,
    counters,
    row_lo,
):
    """Score one over-full bucket (rows ``ra`` of a, ``rb`` of b): split it while a part is
    over ``cap`` pairs by one more MinHash per level, level d ordering the bits by
    ``orders[d]``, and score each part's pairs that no earlier band met."""
    levels = orders.shape[0]
    na, nb = ra.shape[0], rb.shape[0]
    n = na + nb
    ida, size_a = _runs(qa, ra)
    idb, size_b = _runs(qb, rb)
    one = size_a.shape[0] == 1 and size_b.shape[0] == 1 and qa[ra[0]] == qb[rb[0]]
    if one and band >= same_bands:
        return  # one value on both sides: the first bands met these pairs
    cells = size_a.shape[0] * size_b.shape[0]
    shape = (size_a.shape[0], size_b.shape[0]) if tables.shape[0] and cells <= 1 << 22 else (0, 0)
    decided = np.zeros(shape, dtype=np.int8)
    blocks = decided.shape[0] > 0
    counters[SPLIT_BUCKETS] += 1
    perm = np.arange(n)  # members: < na are ra[m], else rb[m - na]
    keys = np.empty(n, dtype=np.uint64)
    common = np.empty(a.shape[1], dtype=np.uint64)
    js = np.empty(nb, dtype=np.int64)  # the rows of b one row of a is scored against
    stack = np.empty((4 * n + 4, 3), dtype=np.int64)  # (lo, hi, depth)
    stack[0, 0], stack[0, 1], stack[0, 2] = 0, n, 0
    top = 1
    while top > 0:
        top -= 1
        lo, hi, depth = stack[top, 0], stack[top, 1], stack[top, 2]
        ca, mine = 0, 0  # rows of a in the part, and of them in the tables' window
        for t in range(lo, hi):
            if perm[t] < na:
                ca += 1
                if row_lo <= ra[perm[t]] < row_lo + hs.shape[0]:
                    mine += 1
        cb = hi - lo - ca
        if mine == 0 or cb == 0:
            continue  # parts are split alike whatever the window: nothing of this one is ours
        limit = _limit(ca, cb, cap, per_member)
        if ca * cb <= limit or depth >= levels:
            per = cb  # identical on every varying bit: each row of a against the first of b
            if ca * cb > limit:
                per = max(hs.shape[1], limit // ca)  # at least k, to fill the tables
                counters[CAPPED_PARTS] += 1
                counters[CAPPED_PAIRS] += ca * cb - ca * min(per, cb)
            for x in range(lo, hi):
                if perm[x] >= na or not row_lo <= ra[perm[x]] < row_lo + hs.shape[0]:
                    continue
                mx = perm[x]
                i, u = ra[mx], ida[mx]
                seen, count = 0, 0
                for y in range(lo, hi):
                    if perm[y] < na:
                        continue
                    if seen == per:
                        break
                    seen += 1
                    my = perm[y] - na
                    j, v = rb[my], idb[my]
                    # pairs no earlier band met: identical segments are met in the plan's
                    # first same_bands bands; a block of at least _MIN_BLOCK pairs in the
                    # first band where its two values meet
                    if qa[i] == qb[j]:
                        wanted = band < same_bands
                    elif band == 0 or not blocks or size_a[u] * size_b[v] < _MIN_BLOCK:
                        wanted = True
                    else:
                        wanted = _block_unmet(u, v, i, j, band, decided, sa, sb, tables)
                    if wanted:
                        js[count] = j
                        count += 1
                _score_row(
                    a, b, pa, pb, i, js, count, floor, hs, hj, worst, counters, row_lo, qb, 0, False
                )
            continue
        for w in range(common.shape[0]):
            common[w] = _FULL
        for t in range(lo, hi):
            m = perm[t]
            for w in range(common.shape[0]):
                common[w] &= a[ra[m], w] if m < na else b[rb[m - na], w]
        counters[HASHED] += hi - lo
        for t in range(lo, hi):
            m = perm[t]
            if m < na:
                keys[t] = _part_hash(a, ra[m], common, orders[depth])
            else:
                keys[t] = _part_hash(b, rb[m - na], common, orders[depth])
        order = np.argsort(keys[lo:hi], kind="mergesort")
        moved_perm, moved_keys = perm[lo:hi][order], keys[lo:hi][order]
        for t in range(hi - lo):  # copied by index: see bloom._jit on slice assignment
            perm[lo + t] = moved_perm[t]
            keys[lo + t] = moved_keys[t]
        start = lo
        for t in range(lo + 1, hi + 1):
            if t == hi or keys[t] != keys[start]:
                if top == stack.shape[0]:
                    bigger = np.empty((2 * stack.shape[0], 3), dtype=np.int64)
                    for r in range(top):
                        for c in range(3):
                            bigger[r, c] = stack[r, c]
                    stack = bigger
                stack[top, 0], stack[top, 1], stack[top, 2] = start, t, depth + 1
                top += 1
                start = t


@njit(nogil=True)
def segment_digests(bits):  # pragma: no cover - compiled
    """A 64-bit digest of each row (of one segment's words): equal rows, equal digests."""
    out = np.empty(bits.shape[0], dtype=np.uint64)
    for r in range(bits.shape[0]):
        h = np.uint64(bits.shape[1])
        for w in range(bits.shape[1]):
            h = _mix(h * _K1 + bits[r, w])
        out[r] = h
    return out


@njit(nogil=True)
def walk_band(  # pragma: no cover - compiled
    ka,
    kb,
    shift,
    rows_a,
    rows_b,
    a,
    b,
    pa,
    pb,
    floor,
    cap,
    per_member,
    orders,
    qa,
    qb,
    band,
    same_bands,
    sa,
    sb,
    tables,
    hs,
    hj,
    worst,
    counters,
    row_lo,
):
    """Merge-join one band's sorted keys of both sides and score every bucket into the
    tables; ``orders``: the band's own bit orders for splitting its over-full buckets.

    Rows whose banded segment (``sa``/``sb``) is identical meet in every band: ``qa``/``qb``
    are the rows' segment digests, and such pairs are scored in the plan's first
    ``same_bands`` bands only; over-full buckets are split (:func:`score_bucket`)."""
    mask = (np.uint64(1) << np.uint64(shift)) - np.uint64(1)
    skip_same = band >= same_bands
    js = np.empty(64, dtype=np.int64)  # a bucket's rows of b
    ia, ib = 0, 0
    while ia < ka.shape[0] and ib < kb.shape[0]:
        sig_a = ka[ia] >> np.uint64(shift)
        sig_b = kb[ib] >> np.uint64(shift)
        if sig_a < sig_b:
            ia = _bucket_end(ka, ia, sig_a, shift)
        elif sig_b < sig_a:
            ib = _bucket_end(kb, ib, sig_b, shift)
        else:
            ea = _bucket_end(ka, ia, sig_a, shift)
            eb = _bucket_end(kb, ib, sig_b, shift)
            size = (ea - ia) * (eb - ib)
            if size > counters[LARGEST_BUCKET]:
                counters[LARGEST_BUCKET] = size
            mine = False  # a row of a in the tables' window: a windowed walk skips the rest
            for x in range(ia, ea):
                i = rows_a[np.int64(ka[x] & mask)]
                if row_lo <= i < row_lo + hs.shape[0]:
                    mine = True
                    break
            whole = size <= _limit(ea - ia, eb - ib, cap, per_member)
            if mine and whole:
                if eb - ib > js.shape[0]:
                    js = np.empty(2 * (eb - ib), dtype=np.int64)
                for y in range(ib, eb):
                    js[y - ib] = rows_b[np.int64(kb[y] & mask)]
                for x in range(ia, ea):
                    i = rows_a[np.int64(ka[x] & mask)]
                    if row_lo <= i < row_lo + hs.shape[0]:
                        _score_row(
                            a,
                            b,
                            pa,
                            pb,
                            i,
                            js,
                            eb - ib,
                            floor,
                            hs,
                            hj,
                            worst,
                            counters,
                            row_lo,
                            qb,
                            qa[i],
                            skip_same,
                        )
            elif mine:
                ra = np.empty(ea - ia, dtype=np.int64)
                for x in range(ia, ea):
                    ra[x - ia] = rows_a[np.int64(ka[x] & mask)]
                rb = np.empty(eb - ib, dtype=np.int64)
                for y in range(ib, eb):
                    rb[y - ib] = rows_b[np.int64(kb[y] & mask)]
                score_bucket(
                    a,
                    b,
                    pa,
                    pb,
                    ra,
                    rb,
                    floor,
                    cap,
                    per_member,
                    orders,
                    qa,
                    qb,
                    band,
                    same_bands,
                    sa,
                    sb,
                    tables,
                    hs,
                    hj,
                    worst,
                    counters,
                    row_lo,
                )
            ia, ib = ea, eb


@njit(nogil=True)
def fold_tables(hs_all, hj_all):  # pragma: no cover - compiled
    """Per row of a, the best k of several tables ``(tables, n_a, k)`` as one ``(n_a, k)``
    table (scores, rows of b), repeats dropped: what any order of offers would keep."""
    t_n, n_a, k = hs_all.shape
    hs = np.full((n_a, k), _EMPTY)
    hj = np.full((n_a, k), -1, dtype=np.int64)
    worst = np.zeros(n_a, dtype=np.int64)
    for t in range(t_n):
        for i in range(n_a):
            for s in range(k):
                if hj_all[t, i, s] >= 0:
                    offer(hs, hj, worst, i, hj_all[t, i, s], hs_all[t, i, s])
    return hs, hj


@njit(nogil=True)
def merge_tables(hs_all, hj_all):  # pragma: no cover - compiled
    """Per row of a, the best k of several tables ``(tables, n_a, k)``, repeats dropped:
    ``(i, j, score)`` sorted by (i, j)."""
    hs, hj = fold_tables(hs_all, hj_all)
    n_a, k = hs.shape
    count = 0
    for i in range(n_a):
        for s in range(k):
            if hj[i, s] >= 0:
                count += 1
    oi = np.empty(count, dtype=np.int64)
    oj = np.empty(count, dtype=np.int64)
    os_ = np.empty(count, dtype=np.float64)
    c = 0
    for i in range(n_a):
        lo = c
        for s in range(k):  # insertion into this row's output by j (k slots: a short sort)
            j = hj[i, s]
            if j < 0:
                continue
            t = c
            while t > lo and oj[t - 1] > j:
                oi[t], oj[t], os_[t] = oi[t - 1], oj[t - 1], os_[t - 1]
                t -= 1
            oi[t], oj[t], os_[t] = i, j, hs[i, s]
            c += 1
    return oi, oj, os_
