"""Compiled kernels for LSH blocking: band signatures, the per-band join, pair deduplication.

Filters are ``(n, words)`` uint64 arrays; bit ``p`` is bit ``p % 64`` of word ``p // 64``.
Every loop over rows, bits or pairs runs here, in numba; nothing loops in Python per record.

A *band key* packs a 64-bit band signature and a row's position: the signature's low
``shift`` bits are replaced by the position, so one plain ``np.sort`` of the keys groups rows
by signature and still says which row each key came from. Two rows whose signatures differ
only in those low bits collide falsely; with ``shift <= 31`` that is a ``2 ** -33`` chance per
pair and band, which adds a few candidates and never loses one.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from bloom._jit import njit

__all__ = [
    "hamming_band_keys",
    "join_band",
    "merge_unique",
    "minhash_band_keys",
    "unique_sorted_inplace",
]

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xBF58476D1CE4E5B9)
_K3 = np.uint64(0x94D049BB133111EB)


@njit(nogil=True, inline="always")
def _finalise(z):  # pragma: no cover - compiled
    """splitmix64's finaliser: a bijection of uint64 that spreads every input bit."""
    z = (z ^ (z >> np.uint64(30))) * _K2
    z = (z ^ (z >> np.uint64(27))) * _K3
    return z ^ (z >> np.uint64(31))


@njit(nogil=True, inline="always")
def _absorb(h, v):  # pragma: no cover - compiled
    """Fold one hash value into a running band signature (finalised once per band)."""
    h = (h + np.uint64(v)) * _K1
    return h ^ (h >> np.uint64(29))


# lowest set bit of a 4-bit mask (4 for an empty mask)
_CTZ4 = np.array([4, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0], dtype=np.int64)


@njit(nogil=True, inline="always")
def _first_set_rank(row, order):  # pragma: no cover - compiled
    """Rank in ``order`` of the first set bit of ``row`` (``len(order)`` if none is set).

    Tests four positions at a time without branching, then branches once per block: the
    exit point is unpredictable, so this saves most branch mispredictions.
    ``len(order)`` (64 * words) is a multiple of 4.
    """
    for k in range(0, order.shape[0], 4):
        m = np.uint64(0)
        for u in range(4):
            p = order[k + u]
            m |= ((row[p >> 6] >> np.uint64(p & 63)) & np.uint64(1)) << np.uint64(u)
        if m:
            return k + _CTZ4[m]
    return order.shape[0]


@njit(nogil=True, parallel=True)
def minhash_band_keys(bits, rows, orders, shift):  # pragma: no cover - compiled
    """Band keys of ``bits[rows]`` for each band of ``orders`` ``(bands, r, L)``.

    Hash k of a band is the rank of the row's first set bit in permutation ``orders[g, k]``.
    Returns ``(bands, len(rows))`` uint64 keys; key t carries position t in its low bits.
    """
    nb = orders.shape[0]
    r = orders.shape[1]
    out = np.empty((nb, rows.shape[0]), dtype=np.uint64)
    high = ~((np.uint64(1) << np.uint64(shift)) - np.uint64(1))
    for t in prange(rows.shape[0]):
        row = bits[rows[t]]
        for g in range(nb):
            h = np.uint64(g)
            for k in range(r):
                h = _absorb(h, _first_set_rank(row, orders[g, k]))
            out[g, t] = (_finalise(h) & high) | np.uint64(t)
    return out


@njit(nogil=True, parallel=True)
def hamming_band_keys(bits, rows, positions, shift):  # pragma: no cover - compiled
    """Band keys of ``bits[rows]`` for each band of sampled bit ``positions`` ``(bands, r)``.

    The band signature is the r sampled bits as an integer (exact for r <= 64), finalised.
    """
    nb = positions.shape[0]
    r = positions.shape[1]
    out = np.empty((nb, rows.shape[0]), dtype=np.uint64)
    high = ~((np.uint64(1) << np.uint64(shift)) - np.uint64(1))
    for t in prange(rows.shape[0]):
        row = bits[rows[t]]
        for g in range(nb):
            s = np.uint64(0)
            for k in range(r):
                p = positions[g, k]
                s |= ((row[p >> 6] >> np.uint64(p & 63)) & np.uint64(1)) << np.uint64(k)
            out[g, t] = (_finalise(s + _K1) & high) | np.uint64(t)
    return out


@njit(nogil=True, inline="always")
def _bucket_end(keys, start, sig, shift):  # pragma: no cover - compiled
    end = start
    while end < keys.shape[0] and (keys[end] >> np.uint64(shift)) == sig:
        end += 1
    return end


@njit(nogil=True)
def _walk_band(ka, kb, shift, max_bucket_pairs, rows_a, rows_b, n_b, out):  # pragma: no cover
    """Merge-join two sorted key arrays; write pair keys into ``out`` unless it is empty.

    Returns (pairs, skipped_buckets, skipped_pairs).
    """
    mask = (np.uint64(1) << np.uint64(shift)) - np.uint64(1)
    ia, ib, npairs, skipped, skipped_pairs = 0, 0, 0, 0, 0
    while ia < ka.shape[0] and ib < kb.shape[0]:
        sa = ka[ia] >> np.uint64(shift)
        sb = kb[ib] >> np.uint64(shift)
        if sa < sb:
            ia = _bucket_end(ka, ia, sa, shift)
        elif sb < sa:
            ib = _bucket_end(kb, ib, sb, shift)
        else:
            ea = _bucket_end(ka, ia, sa, shift)
            eb = _bucket_end(kb, ib, sb, shift)
            size = (ea - ia) * (eb - ib)
            if size > max_bucket_pairs:
                skipped += 1
                skipped_pairs += size
            else:
                if out.shape[0] > 0:
                    for x in range(ia, ea):
                        base = rows_a[np.int64(ka[x] & mask)] * n_b
                        for y in range(ib, eb):
                            out[npairs] = base + rows_b[np.int64(kb[y] & mask)]
                            npairs += 1
                else:
                    npairs += size
            ia, ib = ea, eb
    return npairs, skipped, skipped_pairs


@njit(nogil=True)
def join_band(ka, kb, shift, max_bucket_pairs, rows_a, rows_b, n_b):  # pragma: no cover
    """Pairs of rows whose band signatures agree, as keys ``i * n_b + j`` (int64).

    ``ka`` and ``kb`` are sorted band keys; a bucket of more than ``max_bucket_pairs`` pairs
    is skipped and counted. Returns (pair_keys, skipped_buckets, skipped_pairs).
    """
    empty = np.empty(0, dtype=np.int64)
    total, skipped, skipped_pairs = _walk_band(
        ka, kb, shift, max_bucket_pairs, rows_a, rows_b, n_b, empty
    )
    out = np.empty(total, dtype=np.int64)
    _walk_band(ka, kb, shift, max_bucket_pairs, rows_a, rows_b, n_b, out)
    return out, skipped, skipped_pairs


@njit(nogil=True)
def unique_sorted_inplace(x):  # pragma: no cover - compiled
    """Drop repeats from sorted ``x`` in place; return how many distinct values lead it."""
    if x.shape[0] == 0:
        return 0
    k = 1
    for t in range(1, x.shape[0]):
        if x[t] != x[k - 1]:
            x[k] = x[t]
            k += 1
    return k


@njit(nogil=True)
def merge_unique(u, v):  # pragma: no cover - compiled
    """Sorted union of two sorted, repeat-free int64 arrays."""
    out = np.empty(u.shape[0] + v.shape[0], dtype=np.int64)
    i, j, k = 0, 0, 0
    while i < u.shape[0] and j < v.shape[0]:
        if u[i] < v[j]:
            out[k] = u[i]
            i += 1
        elif v[j] < u[i]:
            out[k] = v[j]
            j += 1
        else:
            out[k] = u[i]
            i += 1
            j += 1
        k += 1
    while i < u.shape[0]:
        out[k] = u[i]
        i += 1
        k += 1
    while j < v.shape[0]:
        out[k] = v[j]
        j += 1
        k += 1
    if 4 * k < 3 * out.shape[0]:
        return out[:k].copy()  # give the unused tail back
    return out[:k]
