"""Benchmark of LSH blocking on random filters with planted near-duplicates.

Side a holds ``n`` random filters (each bit set with probability ``density``); side b holds
a corrupted copy of each: every set bit is dropped with a per-row rate drawn from
``corruption`` and about as many unset bits are set, so densities stay put and a copy's Dice
with its original is about ``1 - rate``. Random filters have no structure, which makes them a
harder case for LSH than encoded records. Call :func:`bench_blocking`; nothing runs on import.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from blocking import blocking_report, lsh_candidates, plan_lsh
from evaluation._bench import peak_rss_gib

__all__ = ["bench_blocking", "bench_blocking_sizes", "dice_of_pairs", "planted_filters"]

logger = logging.getLogger(__name__)

_BITS = 1024
_CHUNK = 20_000  # rows generated at a time
_SCORE_CHUNK = 1 << 20  # pairs scored at a time


def _pack(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits, axis=1, bitorder="little").view(np.uint64)


def planted_filters(
    n: int, *, density: float = 0.4, corruption: tuple[float, float] = (0.05, 0.10), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 1024-bit filters and a corrupted copy of each, row for row."""
    rng = np.random.default_rng(seed)
    a = np.empty((n, _BITS // 64), dtype=np.uint64)
    b = np.empty_like(a)
    for lo in range(0, n, _CHUNK):
        m = min(_CHUNK, n - lo)
        bits = rng.random((m, _BITS), dtype=np.float32) < density
        drop = rng.uniform(*corruption, size=(m, 1)).astype(np.float32)
        add = drop * np.float32(density / (1.0 - density))
        u = rng.random((m, _BITS), dtype=np.float32)
        copy = np.where(bits, u >= drop, u < add)
        a[lo : lo + m] = _pack(bits)
        b[lo : lo + m] = _pack(copy)
    return a, b


def dice_of_pairs(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Dice coefficient of each pair ``(a[i[k]], b[j[k]])``, in chunks (plain numpy)."""
    out = np.empty(i.size, dtype=np.float64)
    pa = np.bitwise_count(a).sum(axis=1, dtype=np.int64)
    pb = np.bitwise_count(b).sum(axis=1, dtype=np.int64)
    for lo in range(0, i.size, _SCORE_CHUNK):
        x, y = i[lo : lo + _SCORE_CHUNK], j[lo : lo + _SCORE_CHUNK]
        both = np.bitwise_count(a[x] & b[y]).sum(axis=1, dtype=np.int64)
        total = pa[x] + pb[y]
        out[lo : lo + x.size] = 2.0 * both / np.maximum(total, 1)
    return out


def _exhaustive_pairs(a: np.ndarray, b: np.ndarray, threshold: float) -> tuple[Any, Any]:
    """Every pair with Dice >= threshold, by a float32 matrix product of unpacked bits."""
    fa = np.unpackbits(a.view(np.uint8), axis=1).astype(np.float32)
    fb = np.unpackbits(b.view(np.uint8), axis=1).astype(np.float32)
    pa, pb = fa.sum(axis=1), fb.sum(axis=1)
    hits_i, hits_j = [], []
    for lo in range(0, a.shape[0], 512):
        both = (fa[lo : lo + 512] @ fb.T).astype(np.float64)  # exact: integers < 2**24
        total = (pa[lo : lo + 512, None] + pb[None, :]).astype(np.float64)
        ii, jj = np.nonzero(2.0 * both / np.maximum(total, 1.0) >= threshold)
        hits_i.append(ii + lo)
        hits_j.append(jj)
    return np.concatenate(hits_i), np.concatenate(hits_j)


def _planted_recall(
    a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, threshold: float
) -> dict[str, Any]:
    """How many planted pairs (row k with row k) are at or above the threshold, and found."""
    n = a.shape[0]
    planted = dice_of_pairs(a, b, np.arange(n), np.arange(n)) >= threshold
    found = np.zeros(n, dtype=bool)
    found[i[i == j]] = True
    return {
        "planted_above_threshold": int(planted.sum()),
        "planted_completeness": float(found[planted].mean()) if planted.any() else None,
    }


def bench_blocking(
    n: int,
    threshold: float = 0.8,
    seed: int = 0,
    *,
    scheme: str = "minhash",
    recall: float = 0.99,
    corruption: tuple[float, float] = (0.05, 0.10),
    exhaustive: bool | None = None,
) -> dict[str, Any]:
    """Plan and run LSH on ``n`` x ``n`` planted filters; time, candidates, recall, memory.

    ``exhaustive`` (default: ``n <= 20_000``) also compares all pairs to report recall
    against every pair at or above the threshold, not only the planted ones.
    """
    started = time.perf_counter()
    a, b = planted_filters(n, corruption=corruption, seed=seed)
    out: dict[str, Any] = {"n": n, "threshold": threshold, "scheme": scheme}
    out["peak_rss_gib_after_data"] = peak_rss_gib()
    t0 = time.perf_counter()
    params = plan_lsh(a, b, threshold, recall, scheme=scheme, seed=seed)
    t1 = time.perf_counter()
    result = lsh_candidates(a, b, params)
    t2 = time.perf_counter()
    i, j = result.pairs
    above = int(np.count_nonzero(dice_of_pairs(a, b, i, j) >= threshold))
    out |= {
        "rows_per_band": params.rows_per_band,
        "bands": params.bands,
        "candidates": int(i.size),
        "band_collisions": result.raw_collisions,
        "skipped_buckets": result.skipped_buckets,
        "candidates_above_threshold": above,
        "reduction_ratio": 1.0 - i.size / (float(n) * n),
        "plan_seconds": t1 - t0,
        "lsh_seconds": t2 - t1,
        "score_seconds": time.perf_counter() - t2,
        "peak_rss_gib": peak_rss_gib(),
    }
    out |= _planted_recall(a, b, i, j, threshold)
    if exhaustive if exhaustive is not None else n <= 20_000:
        report = blocking_report((i, j), _exhaustive_pairs(a, b, threshold), n, n)
        out["exhaustive_completeness"] = report["pairs_completeness"]
        out["exhaustive_true_pairs"] = report["true_pairs"]
    out["total_seconds"] = time.perf_counter() - started
    logger.info("blocking bench: %s", out)
    return out


def bench_blocking_sizes(sizes: tuple[int, ...] = (10_000, 100_000)) -> dict[str, Any]:
    """:func:`bench_blocking` at each size, keyed ``"n=<size>"`` (a ``caselink bench`` section)."""
    return {f"n={n}": bench_blocking(n) for n in sizes}
