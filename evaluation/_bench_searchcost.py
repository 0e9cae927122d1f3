"""What the candidate search pays for, on the common-name register of the scale section: the
exhaustive kernel against the LSH walk on the same records, and what one band of the walk costs
per pair it visits, with the rows in the register's order and with namesakes put together.

* ``exhaustive``: the best 10 of ``query_rows`` records of agency A among all of agency B at the
  run's candidate floor, by the compiled kernel (:func:`linkage.candidates`) on both cores, its
  pairs a second, and the seconds the whole of A would take at that rate;
* ``lsh``: the same records through :func:`linkage.search` forced to LSH (the walk over the
  run's plan; every record of B is still banded), and the share of the exhaustive best 10 it
  found;
* ``band``: ``bands`` bands of the name segment past the first four (those alone score
  identical segments), walked on one thread over every row, with the pairs each visits and
  the nanoseconds a visit; and in turn with both sides' rows reordered by the segment's first
  two MinHashes and its digest, so that namesakes sit together in memory (medians of
  ``repeats`` alternating walks), and whether each record's best scores are the same (ties
  may pick other rows).

A figure, not a test: it says where the search's time goes, which the planner must know.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from blocking import _topk_kernels as kern
from blocking import plan_segments, walk_bands
from blocking._lsh import band_tables
from blocking._topk import SAME_SEGMENT_BANDS
from evaluation._bench_bandlengths import band_cost
from evaluation._bench_buckets import band_signatures
from evaluation._bench_linkscale import _TOP_K, scale_register
from evaluation._bench_projection import _floor
from linkage import SEGMENT_THRESHOLD, candidates, search, segment_words

__all__ = ["bench_search_cost"]


def _grouped(x: np.ndarray, plan: Any) -> np.ndarray:
    """Rows of ``x`` ordered by the plan's segment: its first band's first two MinHashes,
    then its digest (equal segments together)."""
    sub = np.ascontiguousarray(x[:, plan.word_lo : plan.word_hi])
    tables = np.ascontiguousarray(band_tables(plan.params, 0, 1)[:, :2])
    return np.lexsort((kern.segment_digests(sub), band_signatures(sub, plan.params, tables)))


def _best_scores(i: np.ndarray, s: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Each row of a's best scores, ``(row, score)`` sorted by row then score; ``rows``: the
    register's row of each walked row (when the walk ran on reordered rows)."""
    row = i if rows is None else rows[i]
    score = np.round(s, 12)
    order = np.lexsort((score, row))
    return np.stack([row[order].astype(np.float64), score[order]])


def _walk_band(a, b, plans, floor, units, rows=None) -> tuple[float, float, np.ndarray]:
    seconds, visits, part = band_cost(a, b, plans, floor, units)
    i, _, s = kern.merge_tables(part.scores, part.rows)
    return seconds, visits, _best_scores(i, s, rows)


def bench_search_cost(
    n_people: int = 1_000_000,
    *,
    query_rows: int = 20_000,
    bands: int = 4,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """The module's three measures on the common-name register of ``n_people`` people; the
    band timed ``repeats`` times in each order, alternating (medians)."""
    _, (a_batch, b_batch) = scale_register(n_people, "common", seed=seed)
    a, b = a_batch.filters, b_batch.filters
    segments = [(int(lo), int(hi)) for lo, hi in segment_words(a_batch.metadata)]
    floor = _floor(a, b, np.random.default_rng(seed))
    q = a[: min(query_rows, len(a))]
    candidates(q[:10], b[:100], floor, _TOP_K)  # compiled before the clock starts
    started = time.perf_counter()
    exact = candidates(q, b, floor, _TOP_K)
    exhaustive = time.perf_counter() - started
    rate = len(q) * len(b) / exhaustive
    started = time.perf_counter()
    lsh = search(q, b, floor, _TOP_K, method="lsh", segments=segments)
    walked = time.perf_counter() - started
    found = set(zip(lsh.i.tolist(), lsh.j.tolist(), strict=True))
    best10 = set(zip(exact.i.tolist(), exact.j.tolist(), strict=True))
    plans = plan_segments(a, b, segments, SEGMENT_THRESHOLD)
    names = plans[0]
    units = [(0, band) for band in range(SAME_SEGMENT_BANDS, SAME_SEGMENT_BANDS + bands)]
    units = [u for u in units if u[1] < names.params.bands]
    walk_bands(a[:10], b[:10], plans, _TOP_K, floor, units[:1], threads=1)  # compiled
    oa, ob = _grouped(a, names), _grouped(b, names)
    ga, gb = np.ascontiguousarray(a[oa]), np.ascontiguousarray(b[ob])
    timed: dict[str, list[float]] = {"as_is": [], "grouped": []}
    for _ in range(repeats):  # the two orders in turn: the machine's drift hits both alike
        seconds, visits, scores = _walk_band(a, b, plans, floor, units)
        timed["as_is"].append(seconds)
        g_seconds, g_visits, g_scores = _walk_band(ga, gb, plans, floor, units, oa)
        timed["grouped"].append(g_seconds)
    seconds, g_seconds = (float(np.median(timed[k])) for k in ("as_is", "grouped"))
    same = np.array_equal(scores, g_scores)
    return {
        "people": n_people,
        "records": [len(a), len(b)],
        "candidate_floor": round(floor, 4),
        "exhaustive": {
            "query_rows": len(q),
            "seconds": round(exhaustive, 2),
            "pairs_per_second": round(rate),
            "all_rows_seconds": round(len(a) * len(b) / rate),
        },
        "lsh": {
            "query_rows": len(q),
            "seconds": round(walked, 2),
            "exhaustive_best10_found": round(len(found & best10) / max(1, len(best10)), 4),
        },
        "band": {
            "words": [names.word_lo, names.word_hi],
            "rows_per_band": names.params.rows_per_band,
            "bands_walked": len(units),
            "repeats": repeats,
            "one_thread_seconds": round(seconds, 3),
            "visits": round(visits),
            "ns_per_visit": round(1e9 * seconds / max(visits, 1.0), 1),
            "grouped_one_thread_seconds": round(g_seconds, 3),
            "grouped_visits": round(g_visits),
            "grouped_same_best_scores": bool(same),
        },
    }
