"""LSH with bounded memory: the best k candidates per row of a, kept as the bands are walked.

:func:`lsh_top_k` bands both sides as :func:`blocking.lsh_candidates` does, but never holds the
set of colliding pairs: each band's buckets are scored as they are joined and every row of a
keeps only its k best rows of b at Dice >= ``floor`` (:mod:`blocking._topk_kernels`). Memory
is the filters plus ``threads x rows of a x k`` slots (16 bytes each), whatever the register
looks like -- a register where thousands of people share a name included: an over-full
bucket is split by hashes of the bits its members do not share (birth date, father's name,
place), so namesakes are ranked by the rest of their record instead of being skipped.

Blocking ranks the pairs it proposes by the Dice of their filters -- the encodings only, as
everywhere in :mod:`blocking`; :mod:`linkage` scores them field by field.
"""

from __future__ import annotations

import functools
import itertools
import logging
import queue
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np
from numba import get_num_threads

from blocking import _topk_kernels as kern
from blocking._errors import raise_problems
from blocking._lsh import _BANDS_PER_GROUP, _nonempty_rows, band_keys, band_tables, check_filters
from blocking._params import LshParams
from blocking._plan import plan_lsh
from bloom._bitops import popcount_rows
from bloom._jit import read_only

__all__ = [
    "DEFAULT_BUCKET_CAP",
    "DEFAULT_MEMBER_CAP",
    "SegmentPlan",
    "TopKPart",
    "TopKResult",
    "band_work",
    "lsh_top_k",
    "merge_parts",
    "plan_segments",
    "walk_bands",
]

logger = logging.getLogger(__name__)

DEFAULT_BUCKET_CAP = 20_000  # pairs scored whole in one bucket part; larger ones are split
DEFAULT_MEMBER_CAP = 0  # and pairs per member of a part (0: no such bound)
SPLIT_LEVELS = 12  # extra hashes an over-full bucket may be split by
SAME_SEGMENT_BANDS = 4  # bands of a plan that meet pairs with an identical segment


@dataclass(frozen=True)
class TopKResult:
    """The best ``k`` rows of b per row of a (Dice >= floor), and what it took.

    ``i, j, score`` are sorted by (i, j). ``scored``: pairs whose Dice was computed (a pair
    met in several bands counts each time); ``split_buckets``: buckets over the cap that were
    split; ``capped_parts``/``capped_pairs``: parts no hash could split (rows identical on
    every varying bit), scored up to the cap, and the pairs left out of them;
    ``largest_bucket``: pairs in the largest bucket met; ``table_bytes``: the k-slot tables;
    ``bucket_cap``/``member_cap``: the most pairs a part was scored whole with, in all and per
    member of the part (0: no such bound); ``visits``: pairs met and looked at.
    """

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray
    n_a: int
    n_b: int
    k: int
    floor: float
    bucket_cap: int
    member_cap: int
    plans: tuple[SegmentPlan, ...]
    scored: int
    split_buckets: int
    capped_parts: int
    capped_pairs: int
    largest_bucket: int
    hashed: int
    visits: int
    table_bytes: int
    seconds: float


def _check(
    k: object, floor: object, bucket_cap: object, threads: object, member_cap: object
) -> None:
    problems: dict[str, str] = {}
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        problems["k"] = "must be a whole number >= 1 (candidates kept per row of a)"
    if isinstance(floor, bool) or not isinstance(floor, int | float) or not 0.0 < floor <= 1.0:
        problems["floor"] = "must be a Dice coefficient in (0, 1]"
    if isinstance(bucket_cap, bool) or not isinstance(bucket_cap, int) or bucket_cap < 1:
        problems["bucket_cap"] = "must be a whole number >= 1 (pairs scored whole per bucket)"
    if isinstance(member_cap, bool) or not isinstance(member_cap, int) or member_cap < 0:
        problems["member_cap"] = (
            "must be a whole number >= 0 (pairs scored whole per member of a bucket; 0: no bound)"
        )
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        problems["threads"] = "must be a whole number >= 1 or None"
    raise_problems(problems)


def _split_orders(params: LshParams, band: int, bits: int) -> np.ndarray:
    """The band's own bit orders (``SPLIT_LEVELS`` permutations of the whole filter's bits)
    for splitting its over-full buckets: a pair parted in one band is not parted alike in
    the next."""
    rng = np.random.default_rng(np.random.SeedSequence((params.seed, band, 0x5B1F)))
    base = np.tile(np.arange(bits, dtype=np.int64), (SPLIT_LEVELS, 1))
    return np.ascontiguousarray(rng.permuted(base, axis=1))


@dataclass(frozen=True)
class SegmentPlan:
    """Bands over one part of the filters: words ``[word_lo, word_hi)``, banded by ``params``
    (planned for that part's own width and its own Dice threshold)."""

    word_lo: int
    word_hi: int
    params: LshParams


def _distinct(x: np.ndarray) -> np.ndarray:
    """The distinct rows of ``x`` (one segment's words), in no particular order."""
    digests = kern.segment_digests(read_only(x))  # read-only, as the walk's: one signature
    _, first = np.unique(digests, return_index=True)
    return x[np.sort(first)]


def plan_segments(
    a: np.ndarray,
    b: np.ndarray,
    segments: Sequence[tuple[int, int]] | None,
    threshold: float,
    recall: float = 0.99,
    *,
    seed: int = 0,
    samples: int = 20_000,
    candidate_seconds: float | None = None,
) -> list[SegmentPlan]:
    """One plan per segment (word ranges; None: the whole filter), each finding the pairs
    whose Dice *on that segment* is at least ``threshold`` with probability ``recall``
    (``candidate_seconds``: the planner's price of a pair, :func:`blocking.lsh_params`;
    None: its default).

    A pair is proposed when any segment agrees that closely: a record whose date of birth was
    written wrong is still found through its names, one whose name was transliterated
    through its date and father's name. Segments of fewer than 64 bits are not banded."""
    check_filters(a, b)
    ranges = [(0, a.shape[1])] if not segments else [(int(lo), int(hi)) for lo, hi in segments]
    problems = {}
    for n, (lo, hi) in enumerate(ranges):
        if not 0 <= lo < hi <= a.shape[1]:
            problems[f"segments[{n}]"] = f"must be a word range within 0..{a.shape[1]}"
    raise_problems(problems)
    plans = []
    for n, (lo, hi) in enumerate(ranges):
        sub_a, sub_b = np.ascontiguousarray(a[:, lo:hi]), np.ascontiguousarray(b[:, lo:hi])
        if not (_nonempty_rows(sub_a).size and _nonempty_rows(sub_b).size):
            continue
        # plan against distinct values: pairs with an identical segment meet in every band
        # whatever the plan, and only the first few bands score them (lsh_top_k)
        params = plan_lsh(
            _distinct(sub_a),
            _distinct(sub_b),
            threshold,
            recall,
            seed=seed * 1009 + n,
            samples=samples,
            max_candidates=2**62,
            candidate_seconds=candidate_seconds,
        )
        params = replace(params, words=hi - lo)
        plans.append(SegmentPlan(lo, hi, params))
    return plans


@dataclass(frozen=True)
class _Walk:
    """What every band of one plan is walked with."""

    shift: int
    rows_a: np.ndarray
    rows_b: np.ndarray
    a: np.ndarray
    b: np.ndarray
    pa: np.ndarray
    pb: np.ndarray
    floor: float
    cap: int
    member_cap: int
    params: LshParams
    digests: tuple[np.ndarray, np.ndarray]
    segment: tuple[np.ndarray, np.ndarray]  # the banded words of a and b
    permutations: np.ndarray  # every band's MinHash tables (none for hamming)
    tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    free: queue.Queue[int]
    counters: np.ndarray
    row_lo: int  # the tables hold rows row_lo.. of a


def _walk_band(w: _Walk, job: tuple[int, np.ndarray, np.ndarray]) -> None:
    """Sort one band's keys of both sides and score its buckets into a free worker's tables
    (runs without the GIL)."""
    band, ka, kb = job
    ka.sort()
    kb.sort()
    t = w.free.get()
    try:
        hs, hj, worst = w.tables[t]
        orders = _split_orders(w.params, band, 64 * w.a.shape[1])
        kern.walk_band(
            ka,
            kb,
            w.shift,
            w.rows_a,
            w.rows_b,
            w.a,
            w.b,
            w.pa,
            w.pb,
            w.floor,
            w.cap,
            w.member_cap,
            orders,
            *w.digests,
            band,
            SAME_SEGMENT_BANDS,
            *w.segment,
            w.permutations,
            hs,
            hj,
            worst,
            w.counters[t],
            w.row_lo,
        )
    finally:
        w.free.put(t)


Band = tuple[int, int]  # (plan index, band index): one unit of the walk


def band_work(plans: Sequence[SegmentPlan]) -> list[Band]:
    """Every band of every plan, as ``(plan, band)`` units: the work :func:`walk_bands` splits.

    A pair's offers do not depend on which units are walked together (a pair met in an
    earlier band of its plan is recognised by that band's hashes, not by what was walked
    before), so any partition of these units, merged by :func:`merge_parts`, gives the same
    result as walking them all at once."""
    return [(p, band) for p, plan in enumerate(plans) for band in range(plan.params.bands)]


@dataclass(frozen=True, eq=False)
class TopKPart:
    """The k-slot tables of one walk over some bands and a window of rows of a: ``scores``/
    ``rows`` are ``(tables, rows in the window, k)`` (one table per thread), their row r
    being row ``row_lo + r`` of a; ``counters`` ``(tables, 16)``."""

    scores: np.ndarray
    rows: np.ndarray
    counters: np.ndarray
    seconds: float
    row_lo: int = 0

    @property
    def window(self) -> tuple[int, int]:
        """The rows of a whose tables these are: ``[row_lo, row_lo + rows)``."""
        return self.row_lo, self.row_lo + int(self.scores.shape[1])


def _as_plans(a: object, plans: LshParams | Sequence[SegmentPlan]) -> list[SegmentPlan]:
    if isinstance(plans, LshParams):
        return [SegmentPlan(0, a.shape[1] if isinstance(a, np.ndarray) else 0, plans)]
    return list(plans)


def _check_all(
    a, b, plans: Sequence[SegmentPlan], k, floor, bucket_cap, threads, member_cap
) -> None:
    check_filters(a, b)
    for plan in plans:
        if plan.params.words != plan.word_hi - plan.word_lo:
            raise_problems(
                {
                    "plans": f"a plan for {plan.params.words} words covers words "
                    f"{plan.word_lo}..{plan.word_hi}"
                }
            )
    _check(k, floor, bucket_cap, threads, member_cap)


def walk_bands(
    a: np.ndarray,
    b: np.ndarray,
    plans: LshParams | Sequence[SegmentPlan],
    k: int,
    floor: float,
    bands: Sequence[Band] | None = None,
    *,
    bucket_cap: int = DEFAULT_BUCKET_CAP,
    member_cap: int = DEFAULT_MEMBER_CAP,
    threads: int | None = None,
    window: tuple[int, int] | None = None,
) -> TopKPart:
    """Walk the given ``(plan, band)`` units (None: all of :func:`band_work`) into k-slot
    tables, on ``threads`` threads: one share of :func:`lsh_top_k`, e.g. one task's on Ray.
    ``window``: the rows ``[lo, hi)`` of a to keep tables for (None: all); every row is
    still banded, so buckets are split as in a walk of all rows, and the window's rows come
    out exactly as there -- tables of a window are what bounds a task's memory when a
    register has millions of rows."""
    plans = _as_plans(a, plans)
    _check_all(a, b, plans, k, floor, bucket_cap, threads, member_cap)
    wanted = band_work(plans) if bands is None else list(bands)
    unknown = [
        u for u in wanted if not (0 <= u[0] < len(plans) and 0 <= u[1] < plans[u[0]].params.bands)
    ]
    if unknown:
        raise_problems(
            {"bands": f"{len(unknown)} (plan, band) units are not in the plans, e.g. {unknown[0]}"}
        )
    lo, hi = (0, a.shape[0]) if window is None else (int(window[0]), int(window[1]))
    if not 0 <= lo <= hi <= a.shape[0]:
        raise_problems({"window": f"must be rows [lo, hi) within 0..{a.shape[0]}"})
    started = time.perf_counter()
    # read-only whatever the caller's (Ray's are): every kernel below compiles one signature
    a, b = read_only(np.ascontiguousarray(a)), read_only(np.ascontiguousarray(b))
    pa, pb = popcount_rows(a, 0, a.shape[1]), popcount_rows(b, 0, b.shape[1])
    workers = max(1, threads or get_num_threads())
    tables = [kern.new_tables(hi - lo, int(k)) for _ in range(workers)]
    free: queue.Queue[int] = queue.Queue()
    for t in range(workers):
        free.put(t)
    # a row of 16 counters (128 bytes) per worker: no two workers write to one cache line
    counters = np.zeros((workers, 16), dtype=np.int64)
    # one worker walks in this thread: a Ray task (or a process near its memory budget)
    # starts no thread of its own
    with ThreadPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool:
        for n, plan in enumerate(plans):
            mine = sorted({band for p, band in wanted if p == n})
            if not mine:  # a task's share may hold no band of this plan: nothing to slice
                continue
            sub_a = read_only(np.ascontiguousarray(a[:, plan.word_lo : plan.word_hi]))
            sub_b = read_only(np.ascontiguousarray(b[:, plan.word_lo : plan.word_hi]))
            rows_a, rows_b = _nonempty_rows(sub_a), _nonempty_rows(sub_b)
            if not (rows_a.size and rows_b.size):
                continue
            shift = max(1, int(max(rows_a.size, rows_b.size, 2) - 1).bit_length())
            params = plan.params
            digests = (kern.segment_digests(sub_a), kern.segment_digests(sub_b))
            every = band_tables(params, 0, params.bands)
            permutations = every if params.scheme == "minhash" else np.zeros((0, 1, 1), np.int32)
            walk = functools.partial(
                _walk_band,
                _Walk(
                    shift,
                    rows_a,
                    rows_b,
                    a,
                    b,
                    pa,
                    pb,
                    float(floor),
                    int(bucket_cap),
                    int(member_cap),
                    params,
                    digests,
                    (sub_a, sub_b),
                    permutations,
                    tables,
                    free,
                    counters,
                    lo,
                ),
            )
            for start in range(0, len(mine), _BANDS_PER_GROUP):
                group_bands = mine[start : start + _BANDS_PER_GROUP]
                group = np.ascontiguousarray(every[group_bands])
                keys_a = band_keys(sub_a, rows_a, params, group, shift)
                keys_b = band_keys(sub_b, rows_b, params, group, shift)
                jobs = [(band, keys_a[g], keys_b[g]) for g, band in enumerate(group_bands)]
                list(map(walk, jobs) if pool is None else pool.map(walk, jobs))
    return TopKPart(
        # one worker's tables as they are (a view, not a copy: 96 MB at 600,000 rows and k=10)
        scores=tables[0][0][None] if workers == 1 else np.stack([t[0] for t in tables]),
        rows=tables[0][1][None] if workers == 1 else np.stack([t[1] for t in tables]),
        counters=counters,
        seconds=time.perf_counter() - started,
        row_lo=lo,
    )


def combine_parts(parts: Sequence[TopKPart]) -> TopKPart:
    """The parts folded into one: a single table per row of a (the best k of all of them,
    repeats dropped), counters and seconds added. What a driver keeps while collecting the
    parts of many tasks, so its memory is one table, not one per task."""
    if not parts:
        raise_problems({"parts": "at least one walked part is needed"})
    if len({p.window for p in parts}) > 1:
        raise_problems(
            {
                "parts": "parts of different windows of rows cannot be folded "
                "together (merge_parts assembles windows)"
            }
        )
    if len(parts) == 1 and parts[0].scores.shape[0] == 1:
        return parts[0]
    hs, hj = kern.fold_tables(
        np.concatenate([p.scores for p in parts]), np.concatenate([p.rows for p in parts])
    )
    counters = np.concatenate([p.counters for p in parts])
    merged = counters.sum(axis=0, keepdims=True)
    merged[0, kern.LARGEST_BUCKET] = counters[:, kern.LARGEST_BUCKET].max()
    return TopKPart(hs[None], hj[None], merged, sum(p.seconds for p in parts), parts[0].row_lo)


def merge_parts(
    a: np.ndarray,
    b: np.ndarray,
    plans: LshParams | Sequence[SegmentPlan],
    k: int,
    floor: float,
    parts: Sequence[TopKPart],
    *,
    bucket_cap: int = DEFAULT_BUCKET_CAP,
    member_cap: int = DEFAULT_MEMBER_CAP,
    seconds: float | None = None,
) -> TopKResult:
    """The best ``k`` per row of a over the tables of every part (repeats dropped), as
    :func:`lsh_top_k` returns them; ``seconds``: the wall time of the whole walk (default:
    the parts' own times added)."""
    plans = _as_plans(a, plans)
    if not parts:
        raise_problems({"parts": "at least one walked part is needed"})
    windows = sorted({p.window for p in parts})
    covered = [w for w in windows if w[0] < w[1]]
    if any(x[1] > y[0] for x, y in itertools.pairwise(covered)) or (
        sum(hi - lo for lo, hi in covered) != a.shape[0]
    ):
        raise_problems(
            {"parts": f"the parts' windows of rows {windows} must tile the {a.shape[0]} rows of a"}
        )
    found = []
    for w in covered:  # disjoint and in order: the triples stay sorted by (i, j)
        mine = [p for p in parts if p.window == w]
        wi, wj, ws = kern.merge_tables(
            np.concatenate([p.scores for p in mine]), np.concatenate([p.rows for p in mine])
        )
        found.append((wi + w[0], wj, ws))
    i, j, s = (
        (np.concatenate(c) for c in zip(*found, strict=True))
        if found
        else (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    )
    scores = [p.scores for p in parts]
    counters = np.concatenate([p.counters for p in parts])
    total = counters.sum(axis=0)
    result = TopKResult(
        i=i,
        j=j,
        score=s,
        n_a=a.shape[0],
        n_b=b.shape[0],
        k=int(k),
        floor=float(floor),
        bucket_cap=int(bucket_cap),
        member_cap=int(member_cap),
        plans=tuple(plans),
        scored=int(total[kern.SCORED]),
        split_buckets=int(total[kern.SPLIT_BUCKETS]),
        capped_parts=int(total[kern.CAPPED_PARTS]),
        capped_pairs=int(total[kern.CAPPED_PAIRS]),
        largest_bucket=int(counters[:, kern.LARGEST_BUCKET].max()),
        hashed=int(total[kern.HASHED]),
        visits=int(total[kern.VISITS]),
        table_bytes=int(sum(2 * x.nbytes for x in scores)),
        seconds=sum(p.seconds for p in parts) if seconds is None else seconds,
    )
    _log(result)
    return result


def lsh_top_k(
    a: np.ndarray,
    b: np.ndarray,
    plans: LshParams | Sequence[SegmentPlan],
    k: int,
    floor: float,
    *,
    bucket_cap: int = DEFAULT_BUCKET_CAP,
    member_cap: int = DEFAULT_MEMBER_CAP,
    threads: int | None = None,
) -> TopKResult:
    """For each row of ``a``, the best ``k`` rows of ``b`` with Dice >= ``floor`` (over the
    whole filter) among the pairs that share a band of any plan (higher Dice first, ties to
    the lower row of b). ``plans``: one :class:`LshParams` over the whole filter, or
    :func:`plan_segments`' plans. :func:`walk_bands` over every band, then
    :func:`merge_parts`."""
    plans = _as_plans(a, plans)
    part = walk_bands(
        a, b, plans, k, floor, bucket_cap=bucket_cap, member_cap=member_cap, threads=threads
    )
    return merge_parts(a, b, plans, k, floor, [part], bucket_cap=bucket_cap, member_cap=member_cap)


def _log(r: TopKResult) -> None:
    bands = ", ".join(
        f"words {p.word_lo}-{p.word_hi}: {p.params.bands}x{p.params.rows_per_band}" for p in r.plans
    )
    logger.info(
        "LSH top-%d (%s): %d x %d rows -> %d candidates at Dice >= %.3f "
        "(%d pairs scored, tables %.0f MiB) in %.1f s",
        r.k,
        bands,
        r.n_a,
        r.n_b,
        r.i.size,
        r.floor,
        r.scored,
        r.table_bytes / 2**20,
        r.seconds,
    )
    if r.split_buckets:
        logger.info(
            "LSH top-%d: %d buckets over %s pairs (largest %d pairs: many records share a "
            "band, as namesakes do) were split by the bits their records do not share",
            r.k,
            r.split_buckets,
            f"{r.bucket_cap:,}",
            r.largest_bucket,
        )
    if r.capped_parts:
        logger.warning(
            "LSH top-%d: %d bucket parts of records identical on every bit that varies "
            "(%d pairs) were scored only up to the cap; such records are duplicates of one "
            "another, so any of them is as good a candidate",
            r.k,
            r.capped_parts,
            r.capped_pairs,
        )
