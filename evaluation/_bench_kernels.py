"""Benchmark of the Dice kernels: numpy reference, numba on 1 and 2 threads, and anonlink.

Both sides are random 1024-bit filters (each bit set with probability ``density``). Their
popcounts cluster tightly around ``density · bits``, so at the default threshold the popcount
bound admits every pair: pruning cannot help and each variant really makes all ``n · n``
comparisons (the result reports the fraction pruning could have skipped; it should be 0).
Each variant is warmed up once (numba compiles or loads its cache), then timed ``repeats``
times on the same data; the median wall time gives comparisons per second. anonlink's
``dice_coefficient_accelerated`` (C++, one core) is run when anonlink is installed.
Call :func:`bench_kernels`; nothing runs on import.
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

import linkage

__all__ = ["bench_kernels"]

logger = logging.getLogger(__name__)

_CHECK_ROWS = 300  # rows per side for the anonlink agreement check
_CHECK_THRESHOLD = 0.5  # random filters: a few percent of pairs reach it


def _random_filters(n: int, words: int, density: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` filters of ``words`` uint64 words, each bit set with probability ``density``."""
    bits = rng.random((n, words * 64)) < density
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)


def _timed(run: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median and best wall time of ``repeats`` runs after one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return {"median_s": statistics.median(times), "best_s": min(times)}


def _prunable_fraction(a: np.ndarray, b: np.ndarray, threshold: float) -> float:
    """Share of pairs the popcount bound ``2·min(p,q)/(p+q) < threshold`` rules out."""
    p = linkage.popcounts(a).astype(np.float64)[:, None]
    q = np.sort(linkage.popcounts(b)).astype(np.float64)[None, :]
    bound = 2.0 * np.minimum(p, q) / np.maximum(p + q, 1.0)
    return float(np.mean(bound < threshold))


def _anonlink() -> Callable[..., Any] | None:
    """anonlink's accelerated Dice, or None when anonlink is not installed."""
    try:
        from anonlink.similarities import dice_coefficient_accelerated
    except ImportError:
        return None
    return dice_coefficient_accelerated


def _bitarrays(x: np.ndarray) -> list[Any]:
    """Each filter as a ``bitarray`` (byte order differs from ours; Dice does not care)."""
    from bitarray import bitarray

    out = []
    for row in x:
        bits = bitarray()
        bits.frombytes(row.tobytes())
        out.append(bits)
    return out


def _anonlink_agreement(dice: Callable[..., Any], a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Whether anonlink finds the same pairs with the same scores on a small sample."""
    a, b = a[:_CHECK_ROWS], b[:_CHECK_ROWS]
    sims, (i0, i1) = dice([_bitarrays(a), _bitarrays(b)], _CHECK_THRESHOLD)
    theirs = dict(zip(zip(i0, i1, strict=True), sims, strict=True))
    ours = linkage.candidates(a, b, _CHECK_THRESHOLD, threads=1)
    mine = dict(zip(zip(ours.i.tolist(), ours.j.tolist(), strict=True), ours.score, strict=True))
    common = theirs.keys() & mine.keys()
    return {
        "pairs_ours": len(mine),
        "pairs_anonlink": len(theirs),
        "same_pairs": theirs.keys() == mine.keys(),
        "max_score_difference": float(max((abs(theirs[p] - mine[p]) for p in common), default=0.0)),
    }


def _variants(a: np.ndarray, b: np.ndarray, threshold: float) -> dict[str, Callable[[], object]]:
    """The runs to time, by name; anonlink's only when it is installed."""
    runs: dict[str, Callable[[], object]] = {
        "numpy_reference": lambda: linkage.candidates_reference(a, b, threshold),
        "numba_1_thread": lambda: linkage.candidates(a, b, threshold, threads=1),
        "numba_2_threads": lambda: linkage.candidates(a, b, threshold, threads=2),
    }
    dice = _anonlink()
    if dice is not None:
        fa, fb = _bitarrays(a), _bitarrays(b)
        runs["anonlink_1_core"] = lambda: dice([fa, fb], threshold)
    return runs


def _machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "processor": platform.processor() or platform.machine(),
        "load_average": os.getloadavg(),
    }


def bench_kernels(
    n: int = 10_000,
    words: int = 16,
    seed: int = 0,
    *,
    density: float = 0.45,
    threshold: float = 0.8,
    repeats: int = 5,
) -> dict[str, Any]:
    """Comparisons per second of each Dice implementation on n-by-n random filters.

    Returns the set-up (sizes, threshold, machine), per variant the median and best seconds
    and comparisons/s, the speed-up of numba on one thread over anonlink on one core, and a
    check that anonlink and caselink find the same pairs on a sample.
    """
    rng = np.random.default_rng(seed)
    a, b = _random_filters(n, words, density, rng), _random_filters(n, words, density, rng)
    comparisons = n * n
    results: dict[str, Any] = {}
    for name, run in _variants(a, b, threshold).items():
        timing = _timed(run, repeats)
        timing["comparisons_per_s"] = comparisons / timing["median_s"]
        results[name] = timing
        logger.info("%s: %.0f M comparisons/s", name, timing["comparisons_per_s"] / 1e6)
    anonlink = results.get("anonlink_1_core")
    dice = _anonlink()
    return {
        "n": n,
        "words": words,
        "density": density,
        "threshold": threshold,
        "repeats": repeats,
        "comparisons": comparisons,
        "pairs_found": len(linkage.candidates(a, b, threshold, threads=1)),
        "prunable_fraction": _prunable_fraction(a, b, threshold),
        "machine": _machine(),
        "variants": results,
        "numba_1_thread_vs_anonlink": (
            results["numba_1_thread"]["comparisons_per_s"] / anonlink["comparisons_per_s"]
            if anonlink
            else None
        ),
        "anonlink_agreement": _anonlink_agreement(dice, a, b) if dice is not None else None,
    }
