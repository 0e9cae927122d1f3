"""Plain-numpy references for the compiled kernels, and an exhaustive Dice join.

Slow and memory-hungry by design (they unpack every bit); tests check the numba kernels
against them, and the exhaustive join gives the exact set of pairs above a threshold on
inputs small enough to compare all pairs.
"""

from __future__ import annotations

import numpy as np

from blocking._types import Filters, PairIndices, RowIndex

__all__ = [
    "dice_matrix",
    "exhaustive_pairs",
    "hamming_band_keys_ref",
    "join_band_ref",
    "minhash_band_keys_ref",
]

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xBF58476D1CE4E5B9)
_K3 = np.uint64(0x94D049BB133111EB)


def _bits(filters: Filters) -> np.ndarray:
    """``(n, 64 * words)`` bools; column p is bit p (bit p % 64 of word p // 64)."""
    return np.unpackbits(filters.view(np.uint8), axis=1, bitorder="little").astype(bool)


def _finalise(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _K2
    z = (z ^ (z >> np.uint64(27))) * _K3
    return z ^ (z >> np.uint64(31))


def _pack_keys(sig: np.ndarray, shift: int) -> np.ndarray:
    high = ~np.uint64((1 << shift) - 1)
    return (sig & high) | np.arange(sig.size, dtype=np.uint64)


def minhash_band_keys_ref(
    bits: Filters, rows: RowIndex, orders: np.ndarray, shift: int
) -> np.ndarray:
    """Reference of ``minhash_band_keys``: min over set bits of each permutation's rank."""
    x = _bits(bits[rows])
    nbits = x.shape[1]
    out = np.empty((orders.shape[0], rows.size), dtype=np.uint64)
    for g in range(orders.shape[0]):
        h = np.full(rows.size, g, dtype=np.uint64)
        for k in range(orders.shape[1]):
            rank = np.argsort(orders[g, k])  # rank[p] = where position p comes in the order
            first = np.where(x, rank[None, :], nbits).min(axis=1)
            h = (h + first.astype(np.uint64)) * _K1
            h ^= h >> np.uint64(29)
        out[g] = _pack_keys(_finalise(h), shift)
    return out


def hamming_band_keys_ref(
    bits: Filters, rows: RowIndex, positions: np.ndarray, shift: int
) -> np.ndarray:
    """Reference of ``hamming_band_keys``: the sampled bits as an integer, finalised."""
    x = _bits(bits[rows])
    out = np.empty((positions.shape[0], rows.size), dtype=np.uint64)
    for g in range(positions.shape[0]):
        sampled = x[:, positions[g]].astype(np.uint64)
        weights = np.uint64(1) << np.arange(positions.shape[1], dtype=np.uint64)
        sig = (sampled * weights[None, :]).sum(axis=1, dtype=np.uint64)
        out[g] = _pack_keys(_finalise(sig + _K1), shift)
    return out


def join_band_ref(
    ka: np.ndarray,
    kb: np.ndarray,
    shift: int,
    max_bucket_pairs: int,
    rows_a: RowIndex,
    rows_b: RowIndex,
    n_b: int,
) -> tuple[np.ndarray, int, int]:
    """Reference of ``join_band`` by an all-pairs equality matrix (keys need not be sorted)."""
    sa, sb = ka >> np.uint64(shift), kb >> np.uint64(shift)
    mask = np.uint64((1 << shift) - 1)
    ta, tb = (ka & mask).astype(np.int64), (kb & mask).astype(np.int64)
    sigs, count_a = np.unique(sa, return_counts=True)
    count_b = np.array([np.count_nonzero(sb == s) for s in sigs], dtype=np.int64)
    size = count_a * count_b
    over = sigs[size > max_bucket_pairs]
    eq = (sa[:, None] == sb[None, :]) & ~np.isin(sa, over)[:, None]
    ia, ib = np.nonzero(eq)
    keys = rows_a[ta[ia]] * np.int64(n_b) + rows_b[tb[ib]]
    return np.sort(keys), int(over.size), int(size[size > max_bucket_pairs].sum())


def dice_matrix(a: Filters, b: Filters) -> np.ndarray:
    """``(len(a), len(b))`` Dice coefficients (0 where both filters are empty)."""
    pa = np.bitwise_count(a).sum(axis=1, dtype=np.int64)
    pb = np.bitwise_count(b).sum(axis=1, dtype=np.int64)
    both = np.bitwise_count(a[:, None, :] & b[None, :, :]).sum(axis=2, dtype=np.int64)
    total = pa[:, None] + pb[None, :]
    return 2.0 * both / np.maximum(total, 1)


def exhaustive_pairs(a: Filters, b: Filters, threshold: float, chunk: int = 256) -> PairIndices:
    """Every pair with Dice >= ``threshold``, comparing all pairs ``chunk`` rows at a time."""
    hits_i, hits_j = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for lo in range(0, a.shape[0], chunk):
        ii, jj = np.nonzero(dice_matrix(a[lo : lo + chunk], b) >= threshold)
        hits_i.append(ii.astype(np.int64) + lo)
        hits_j.append(jj.astype(np.int64))
    return PairIndices(np.concatenate(hits_i), np.concatenate(hits_j))
