"""LSH candidate generation: band the filters of two sides, join on equal band signatures.

Bands are processed a small group at a time, so memory holds one group's band keys plus the
candidate set, never all signatures. For each band both sides' keys are sorted and
merge-joined; each band's pairs go into a :class:`_PairSet`, which keeps the candidates as
sorted, repeat-free ``i * n_b + j`` int64 keys (8 bytes a candidate) and merges new pairs in
batches. A bucket with more than ``max_bucket_pairs`` pairs (a degenerate band, or a large
group of identical filters) is skipped and counted in the result instead of flooding memory.

Rows with no bit set are left out: their Dice coefficient with anything is 0.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import get_num_threads

from blocking._errors import raise_problems
from blocking._kernels import (
    hamming_band_keys,
    join_band,
    merge_unique,
    minhash_band_keys,
    unique_sorted_inplace,
)
from blocking._params import LshParams
from blocking._types import Filters, PairIndices, RowIndex
from bloom._jit import read_only

__all__ = [
    "DEFAULT_MAX_BUCKET_PAIRS",
    "LshResult",
    "band_keys",
    "band_tables",
    "check_filters",
    "lsh_candidates",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BUCKET_PAIRS = 1_000_000
_BANDS_PER_GROUP = 8
_MIN_MERGE = 1 << 24  # buffered pair keys before a merge into the candidate set


@dataclass(frozen=True)
class LshResult:
    """Candidates and what it took to find them.

    ``raw_collisions`` counts (pair, band) collisions before deduplication;
    ``skipped_buckets``/``skipped_pairs`` count buckets over the cap (their pairs are
    missing from ``pairs`` unless another band found them).
    """

    pairs: PairIndices
    n_a: int
    n_b: int
    params: LshParams
    raw_collisions: int
    skipped_buckets: int
    skipped_pairs: int
    empty_rows_a: int
    empty_rows_b: int
    seconds: float


def check_filters(a: object, b: object, words: int | None = None) -> None:
    """Refuse anything but two non-empty ``(n, words)`` uint64 arrays of the same width."""
    problems: dict[str, str] = {}
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype != np.uint64:
            problems[name] = "must be a 2-D numpy uint64 array of filters (rows, words)"
        elif x.shape[0] == 0:
            problems[name] = "is empty (0 rows); pass at least one filter"
        elif x.shape[1] == 0:
            problems[name] = "has 0 words per filter"
    if not problems:
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        if a.shape[1] != b.shape[1]:
            problems["b"] = (
                f"has {b.shape[1]} words per filter but a has {a.shape[1]}; "
                "both sides must be encoded with the same schema"
            )
        elif a.shape[0] * b.shape[0] >= 2**62:
            problems["a"] = "a x b has too many pairs to index with int64 keys; split the inputs"
        elif words is not None and a.shape[1] != words:
            problems["params.words"] = (
                f"params were planned for {words} words but the filters have {a.shape[1]}; "
                f"plan again with words={a.shape[1]}"
            )
    raise_problems(problems)


def band_tables(params: LshParams, start: int, stop: int) -> np.ndarray:
    """The hash tables of bands ``start..stop``: permutations or bit positions.

    Each band draws from its own ``SeedSequence((seed, band))``, so a band's hashes do not
    depend on how bands are grouped. minhash: ``(bands, r, L)`` int32 permutation orders;
    hamming: ``(bands, r)`` int32 positions drawn with replacement.
    """
    r, nbits = params.rows_per_band, params.bits
    tables = []
    for band in range(start, stop):
        rng = np.random.default_rng(np.random.SeedSequence((params.seed, band)))
        if params.scheme == "minhash":
            base = np.tile(np.arange(nbits, dtype=np.int32), (r, 1))
            tables.append(rng.permuted(base, axis=1))
        else:
            tables.append(rng.integers(0, nbits, size=r, dtype=np.int32))
    return np.ascontiguousarray(np.stack(tables))


def band_keys(
    bits: Filters, rows: RowIndex, params: LshParams, tables: np.ndarray, shift: int
) -> np.ndarray:
    """``(bands, len(rows))`` band keys of ``bits[rows]`` for the bands in ``tables``."""
    bits = read_only(bits)  # Ray's are read-only, a caller's may not be: one signature
    if params.scheme == "minhash":
        return minhash_band_keys(bits, rows, tables, shift)
    return hamming_band_keys(bits, rows, tables, shift)


class _PairSet:
    """Sorted, repeat-free int64 pair keys, merged in batches to bound time and memory."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_size = 0

    def add(self, keys: np.ndarray) -> None:
        if keys.size:
            self._pending.append(keys)
            self._pending_size += keys.size
        if self._pending_size >= max(_MIN_MERGE, self.keys.size // 2):
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        batch = np.concatenate(self._pending)
        self._pending, self._pending_size = [], 0
        batch.sort()
        batch = batch[: unique_sorted_inplace(batch)]
        self.keys = merge_unique(self.keys, batch) if self.keys.size else batch.copy()


def _split_keys(found: _PairSet, n_b: int) -> PairIndices:
    """``(i, j)`` of the pair keys ``i * n_b + j``, reusing the key buffer for ``j``."""
    keys, found.keys = found.keys, np.empty(0, dtype=np.int64)
    i = keys // np.int64(n_b)
    np.remainder(keys, np.int64(n_b), out=keys)
    return PairIndices(i, keys)


def _nonempty_rows(bits: Filters) -> RowIndex:
    return np.flatnonzero(np.any(bits != 0, axis=1)).astype(np.int64)


@dataclass
class _BandTally:
    raw: int = 0
    skipped: int = 0
    skipped_pairs: int = 0


def _join_one(job: tuple[np.ndarray, np.ndarray, int, int, RowIndex, RowIndex, int]) -> tuple:
    """Sort one band's keys of both sides in place and join them (runs without the GIL)."""
    ka, kb, shift, cap, rows_a, rows_b, n_b = job
    ka.sort()
    kb.sort()
    return join_band(ka, kb, shift, cap, rows_a, rows_b, n_b)


def _run_bands(
    a: Filters, b: Filters, params: LshParams, rows: tuple[RowIndex, RowIndex], cap: int
) -> tuple[_PairSet, _BandTally]:
    """All bands, a group at a time: keys in parallel numba, then sort+join per band."""
    rows_a, rows_b = rows
    shift = max(1, int(max(rows_a.size, rows_b.size, 2) - 1).bit_length())
    found, tally = _PairSet(), _BandTally()
    with ThreadPoolExecutor(max_workers=max(1, get_num_threads())) as pool:
        for start in range(0, params.bands, _BANDS_PER_GROUP):
            tables = band_tables(params, start, min(start + _BANDS_PER_GROUP, params.bands))
            keys_a = band_keys(a, rows_a, params, tables, shift)
            keys_b = band_keys(b, rows_b, params, tables, shift)
            jobs = [
                (keys_a[g], keys_b[g], shift, cap, rows_a, rows_b, b.shape[0])
                for g in range(tables.shape[0])
            ]
            for pairs, skipped, skipped_pairs in pool.map(_join_one, jobs):
                tally.raw += pairs.size
                tally.skipped += skipped
                tally.skipped_pairs += skipped_pairs
                found.add(pairs)
    found.flush()
    return found, tally


def lsh_candidates(
    a: Filters,
    b: Filters,
    params: LshParams,
    *,
    max_bucket_pairs: int = DEFAULT_MAX_BUCKET_PAIRS,
) -> LshResult:
    """Candidate pairs of ``a`` x ``b`` under ``params``, with counts of what happened."""
    check_filters(a, b, params.words)
    if not isinstance(max_bucket_pairs, int) or max_bucket_pairs < 1:
        raise_problems({"max_bucket_pairs": "must be a whole number >= 1"})
    started = time.perf_counter()
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    rows_a, rows_b = _nonempty_rows(a), _nonempty_rows(b)
    if rows_a.size and rows_b.size:
        found, tally = _run_bands(a, b, params, (rows_a, rows_b), max_bucket_pairs)
    else:
        found, tally = _PairSet(), _BandTally()
    result = LshResult(
        pairs=_split_keys(found, b.shape[0]),
        n_a=a.shape[0],
        n_b=b.shape[0],
        params=params,
        raw_collisions=tally.raw,
        skipped_buckets=tally.skipped,
        skipped_pairs=tally.skipped_pairs,
        empty_rows_a=a.shape[0] - rows_a.size,
        empty_rows_b=b.shape[0] - rows_b.size,
        seconds=time.perf_counter() - started,
    )
    _log_result(result)
    return result


def _log_result(result: LshResult) -> None:
    logger.info(
        "LSH %s r=%d b=%d: %d x %d rows -> %d candidates (%d band collisions) in %.1f s",
        result.params.scheme,
        result.params.rows_per_band,
        result.params.bands,
        result.n_a,
        result.n_b,
        result.pairs.i.size,
        result.raw_collisions,
        result.seconds,
    )
    if result.skipped_buckets:
        logger.warning(
            "LSH skipped %d over-full buckets (%d pairs): many rows share band signatures; "
            "their pairs are missing unless another band found them. Check for duplicated or "
            "near-empty filters, or raise max_bucket_pairs.",
            result.skipped_buckets,
            result.skipped_pairs,
        )
