"""Candidate pairs by Dice similarity: input checks, chunking, and the public entry points.

``candidates(a, b, threshold, k)`` finds every pair of filters with Dice ≥ threshold (or the
best k per row of a). Side b is prepared once (sorted by popcount, transposed); a is scored in
blocks so buffers stay bounded whatever its size. Each block goes to a compiled kernel from
:mod:`linkage._kernels`, single-threaded or ``parallel=True``; the Ray executor runs the same
block function in its tasks, so every path returns the same pairs.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import numba
import numpy as np

from bloom._jit import read_only
from linkage import _kernels
from linkage._types import CandidatePairs, LinkageError

__all__ = [
    "PreparedB",
    "candidates",
    "candidates_reference",
    "check_inputs",
    "dice_pairs",
    "prepare_b",
    "score_rows",
]

logger = logging.getLogger(__name__)

_BLOCK_COMPARISONS = 1 << 24  # rows of a per block ≈ this / len(b): bounds per-block buffers
_TOP_K_SLOTS = 1 << 22  # rows of a per top-k block ≤ this / k
_REFERENCE_CELLS = 1 << 22  # the numpy reference materialises (rows, len(b)) per block
_PARTS_PER_THREAD = 4  # row ranges per thread, so uneven pruning still balances
_MIN_CAPACITY = 4096  # initial pair slots per range; doubled whenever a range fills up
_PARALLEL_LOCK = threading.Lock()  # numba's workqueue layer forbids concurrent launches

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class PreparedB:
    """Side b ready for the kernels: sorted by popcount and transposed to (words, m).

    ``order[s]`` is the row of the original b at sorted position s. Built once per call and,
    under Ray, put in the object store once and shared by every task.
    """

    bt: np.ndarray
    popcounts: np.ndarray
    order: np.ndarray

    @property
    def rows(self) -> int:
        """Number of filters in b."""
        return int(self.order.shape[0])

    @property
    def side(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``(bt, pb, order)`` tuple the kernels take."""
        return (self.bt, self.popcounts, self.order)


def prepare_b(b: np.ndarray) -> PreparedB:
    """Sort the (validated) filters ``b`` by popcount and transpose them for the kernels."""
    pb = _kernels.popcounts(read_only(b))
    order = np.argsort(pb, kind="stable").astype(np.int64)
    bt = np.ascontiguousarray(b[order].T)
    # read-only, as Ray's object store hands them to a task: one compiled signature for both
    return PreparedB(
        bt=read_only(bt),
        popcounts=read_only(np.ascontiguousarray(pb[order])),
        order=read_only(order),
    )


# --- input checks ----------------------------------------------------------------------------


def _filter_problems(name: str, x: object, *, allow_empty: bool = False) -> list[str]:
    """What is wrong with ``x`` as a ``(rows, words)`` uint64 filter array named ``name``."""
    if not isinstance(x, np.ndarray):
        return [
            f"{name} must be a numpy uint64 array of shape (rows, words), got {type(x).__name__}"
        ]
    problems = []
    if x.ndim != 2:
        problems.append(f"{name} must be 2-D (rows, words), got shape {x.shape}")
    if x.dtype != np.uint64:
        problems.append(f"{name} must have dtype uint64 (packed filter words), got {x.dtype}")
    if x.ndim == 2 and x.shape[1] == 0:
        problems.append(f"{name} has 0 words per filter; filters need at least one word")
    if x.ndim == 2 and x.shape[0] == 0 and not allow_empty:
        problems.append(f"{name} is empty (0 rows): pass at least one filter on side {name}")
    return problems


def _words_problems(a: object, b: object) -> list[str]:
    """A mismatch of filter lengths between two well-formed sides."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim == b.ndim == 2):
        return []
    if a.shape[1] == b.shape[1]:
        return []
    return [
        f"a has {a.shape[1]} words per filter but b has {b.shape[1]}: both sides must be "
        "encoded with the same schema (same filter length)"
    ]


def _count_problems(name: str, value: object, *, what: str) -> list[str]:
    """``value`` must be None or an integer ≥ 1."""
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return [f"{name} must be a whole number ≥ 1 ({what}) or None, got {type(value).__name__}"]
    if value < 1:
        return [f"{name} must be ≥ 1 ({what}), got {value}"]
    return []


def _threshold_problems(threshold: object) -> list[str]:
    """``threshold`` must be a real number in (0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        return [f"threshold must be a number in (0, 1], got {type(threshold).__name__}"]
    if not 0.0 < float(threshold) <= 1.0:
        return [f"threshold must be in (0, 1] (a Dice coefficient), got {float(threshold)}"]
    return []


def check_inputs(
    a: object, b: object, threshold: object, k: object = None, threads: object = None
) -> tuple[np.ndarray, np.ndarray, float, int | None]:
    """Validate the arguments of :func:`candidates`; raise one :class:`LinkageError` listing all.

    Returns C-contiguous ``a`` and ``b``, the threshold as float and k as int (or None).
    """
    problems = [
        *_filter_problems("a", a),
        *_filter_problems("b", b),
        *_words_problems(a, b),
        *_threshold_problems(threshold),
        *_count_problems("k", k, what="pairs kept per row of a"),
        *_count_problems("threads", threads, what="numba threads"),
    ]
    if problems:
        raise LinkageError(problems)
    assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    return (
        np.ascontiguousarray(a),
        np.ascontiguousarray(b),
        float(cast(numbers.Real, threshold)),
        None if k is None else int(cast(numbers.Integral, k)),
    )


def _index_problems(name: str, idx: object, side: str, rows: int) -> list[str]:
    """``idx`` must be a 1-D integer array with values in ``[0, rows)``."""
    arr = np.asarray(idx)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        return [f"{name} must be a 1-D array of integer row numbers, got {arr.dtype} {arr.shape}"]
    bad = np.flatnonzero((arr < 0) | (arr >= rows)) if arr.size else arr[:0]
    if bad.size:
        return [
            f"{name}[{bad[0]}] = {arr[bad[0]]} is outside {side}'s rows 0..{rows - 1} "
            f"({bad.size} out-of-range entries)"
        ]
    return []


# --- the work --------------------------------------------------------------------------------


def _resolve_threads(threads: int | None) -> int:
    """Threads to use: all of numba's by default, never more than its pool."""
    # numba.config assigns its settings dynamically, out of the type checker's sight
    limit: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    if threads is None:
        return numba.get_num_threads()
    if threads > limit:
        logger.debug("threads=%s capped at NUMBA_NUM_THREADS=%s", threads, limit)
    return min(threads, limit)


@contextlib.contextmanager
def _numba_threads(threads: int) -> Iterator[None]:
    """Run parallel kernels on ``threads`` threads, one launch at a time; restore afterwards."""
    with _PARALLEL_LOCK:
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            yield
        finally:
            numba.set_num_threads(before)


def _ranges(n: int, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """``parts`` near-equal position ranges covering ``[0, n)``."""
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    return bounds[:-1].copy(), bounds[1:].copy()


def _sorted_ij(i: np.ndarray, j: np.ndarray, s: np.ndarray) -> Triple:
    """The triple ordered by (i, j)."""
    o = np.lexsort((j, i))
    return i[o], j[o], s[o]


def _block_all(
    a: np.ndarray, prep: PreparedB, threshold: float, threads: int, capacity: int | None
) -> Triple:
    """Every pair ≥ threshold of block ``a``, growing the output slots until all rows fit."""
    pa = _kernels.popcounts(a)
    rows = np.argsort(pa, kind="stable").astype(np.int64)
    n = a.shape[0]
    parts = 1 if threads == 1 else min(n, _PARTS_PER_THREAD * threads)
    starts, ends = _ranges(n, parts)
    cap = capacity or max(_MIN_CAPACITY, 2 * n // parts)
    kernel = _kernels.candidates_serial if threads == 1 else _kernels.candidates_parallel
    pieces: list[Triple] = []
    no_counts = np.zeros(0, dtype=np.int64)
    while starts.size:
        size = starts.size * cap
        out = (np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size), no_counts)
        written = np.zeros(starts.size, dtype=np.int64)
        stops = np.empty(starts.size, dtype=np.int64)
        kernel(a, pa, rows, prep.side, threshold, 0, starts, ends, cap, out, written, stops)
        for p in range(starts.size):
            sl = slice(p * cap, p * cap + int(written[p]))
            pieces.append((out[0][sl].copy(), out[1][sl].copy(), out[2][sl].copy()))
        unfinished = stops < ends
        starts, ends = stops[unfinished], ends[unfinished]
        cap *= 2
    i, j, s = (np.concatenate(col) for col in zip(*pieces, strict=True))
    return _sorted_ij(i, j, s)


def _block_top_k(a: np.ndarray, prep: PreparedB, threshold: float, k: int, threads: int) -> Triple:
    """The best k pairs ≥ threshold per row of block ``a`` (higher score, then lower j)."""
    pa = _kernels.popcounts(a)
    rows = np.argsort(pa, kind="stable").astype(np.int64)
    n = a.shape[0]
    k = min(k, prep.rows)
    parts = 1 if threads == 1 else min(n, _PARTS_PER_THREAD * threads)
    starts, ends = _ranges(n, parts)
    counts = np.zeros(n, dtype=np.int64)
    out = (np.zeros(0, np.int64), np.empty(n * k, np.int64), np.empty(n * k), counts)
    written = np.zeros(parts, dtype=np.int64)
    stops = np.empty(parts, dtype=np.int64)
    kernel = _kernels.candidates_serial if threads == 1 else _kernels.candidates_parallel
    kernel(a, pa, rows, prep.side, threshold, k, starts, ends, 0, out, written, stops)
    kept = (np.arange(k)[None, :] < counts[:, None]).ravel()
    i = np.repeat(np.arange(n, dtype=np.int64), counts)
    return _sorted_ij(i, out[1][kept], out[2][kept])


def score_rows(
    a: np.ndarray,
    prep: PreparedB,
    threshold: float,
    k: int | None = None,
    threads: int = 1,
    *,
    capacity: int | None = None,
) -> Triple:
    """Pairs of (validated) ``a`` against prepared b, in blocks; ``(i, j, score)`` by (i, j).

    ``capacity`` overrides the initial pair slots per range (tests use it to force growth).
    """
    a = read_only(a)  # as a Ray task's block is: the kernels compile one signature
    block_rows = max(64 * threads, _BLOCK_COMPARISONS // prep.rows)
    if k is not None:  # top-k keeps (rows, k) heaps: bound them as well
        block_rows = min(block_rows, max(64 * threads, _TOP_K_SLOTS // min(k, prep.rows)))
    pieces: list[Triple] = []
    guard = _numba_threads(threads) if threads > 1 else contextlib.nullcontext()
    with guard:
        for start in range(0, a.shape[0], block_rows):
            block = a[start : start + block_rows]
            if k is None:
                i, j, s = _block_all(block, prep, threshold, threads, capacity)
            else:
                i, j, s = _block_top_k(block, prep, threshold, k, threads)
            pieces.append((i + start, j, s))
    i, j, s = (np.concatenate(col) for col in zip(*pieces, strict=True))
    return i, j, s


def candidates(
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    k: int | None = None,
    *,
    threads: int | None = None,
) -> CandidatePairs:
    """All pairs (row i of a, row j of b) with Dice ≥ ``threshold``, sorted by (i, j).

    With ``k``, only the best k pairs per row of a are kept (higher score first, ties to the
    lower j). ``a`` and ``b`` are ``(rows, words)`` uint64 filters of equal word count.
    ``threads`` defaults to numba's thread count; 1 runs the single-thread kernels.

    Raises :class:`LinkageError` naming each bad parameter.
    """
    a, b, threshold, k = check_inputs(a, b, threshold, k, threads)
    threads = _resolve_threads(threads)
    started = time.perf_counter()
    i, j, s = score_rows(a, prepare_b(b), threshold, k, threads)
    logger.debug(
        "candidates: %s x %s filters, threshold %s, k %s, %s threads: %s pairs in %.3f s",
        a.shape[0],
        b.shape[0],
        threshold,
        k,
        threads,
        len(i),
        time.perf_counter() - started,
    )
    return CandidatePairs(i, j, s)


def _top_k_reference(i: np.ndarray, j: np.ndarray, s: np.ndarray, k: int) -> Triple:
    """Keep the best k per i (higher score, then lower j) of a triple sorted by (i, j)."""
    o = np.lexsort((j, -s, i))
    i, j, s = i[o], j[o], s[o]
    rank = np.arange(i.size) - np.searchsorted(i, i, side="left")
    keep = rank < k
    return _sorted_ij(i[keep], j[keep], s[keep])


def candidates_reference(
    a: np.ndarray, b: np.ndarray, threshold: float, k: int | None = None
) -> CandidatePairs:
    """:func:`candidates` in plain numpy (no pruning, no numba) — the test oracle."""
    a, b, threshold, k = check_inputs(a, b, threshold, k)
    block_rows = max(1, _REFERENCE_CELLS // b.shape[0])
    pieces: list[Triple] = []
    for start in range(0, a.shape[0], block_rows):
        scores = _kernels.scores_reference(a[start : start + block_rows], b)
        i, j = np.nonzero(scores >= threshold)
        triple = (i.astype(np.int64), j.astype(np.int64), scores[i, j])
        if k is not None:
            triple = _top_k_reference(*triple, k)
        pieces.append((triple[0] + start, triple[1], triple[2]))
    return CandidatePairs(*(np.concatenate(col) for col in zip(*pieces, strict=True)))


def dice_pairs(
    a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, *, threads: int | None = None
) -> np.ndarray:
    """Dice of ``a[i[t]]`` and ``b[j[t]]`` for each t (float64; two empty filters score 0.0)."""
    problems = [
        *_filter_problems("a", a, allow_empty=True),
        *_filter_problems("b", b, allow_empty=True),
        *_words_problems(a, b),
        *_count_problems("threads", threads, what="numba threads"),
    ]
    if not problems:
        problems += _index_problems("i", i, "a", a.shape[0])
        problems += _index_problems("j", j, "b", b.shape[0])
    if not problems and np.shape(i) != np.shape(j):
        problems.append(f"i and j must have the same length, got {np.size(i)} and {np.size(j)}")
    if problems:
        raise LinkageError(problems)
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    ii = np.ascontiguousarray(i, dtype=np.int64)
    jj = np.ascontiguousarray(j, dtype=np.int64)
    out = np.empty(ii.shape[0], dtype=np.float64)
    n_threads = _resolve_threads(threads)
    if n_threads == 1:
        _kernels.dice_pairs_serial(a, b, ii, jj, out)
    else:
        with _numba_threads(n_threads):
            _kernels.dice_pairs_parallel(a, b, ii, jj, out)
    return out
