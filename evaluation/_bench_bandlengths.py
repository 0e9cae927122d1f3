"""Band lengths of the top-k walk, compared by hand on a common-name register: what each set of
per-segment lengths finds on a sample of records (against the exhaustive search) and what
one band of each costs.

The planner (:func:`blocking.plan_segments`) chooses each segment's band length with a cost
model made for a search that keeps every colliding pair; the walk pays per pair met in each
band, and its bucket splits bound those pairs. This section measures the alternatives the
model does not see, on the register of the scale section (two agencies, the ``common`` mix):

* for each set of lengths (``"12,7,11,4"``: hashes a band on each of the schema's four
  segments, each given the bands that find a pair at segment Dice 0.8 with recall 0.99), the
  walk over the first ``sample_rows`` records of agency A only (every record is still banded,
  so buckets split as in a full walk), and against the exhaustive best 10 of those records at
  the run's candidate floor: the share of those pairs found, of the ones among them at Dice
  >= 0.8 on some segment (the pairs the plan exists to find), of records whose best candidate
  is the same, and of true pairs among the candidates;
* the one-thread wall time of two bands of each length on every row (bands past the first
  four, which alone score identical segments), with the pairs met a row: the walk's cost per
  band, which times the bands gives the segment's share of the search; half of a call's fixed
  cost (its tables, popcounts and slices, paid once by a walk of every band) is in each, so
  the second band's own time (two bands' time less one band's) is given as well.

A figure, not a test: which lengths to choose is the planner's question; this is the
evidence. ``python -m evaluation._bench_bandlengths PEOPLE [LENGTHS ...]`` prints the figures
for other sizes and lengths as one JSON document; a set of lengths may also be ``plan`` (the
planner's) or ``plan@2e-8`` (the planner's when it prices a pair met at 2e-8 s), and any of
them may end in ``/16``: walked with a member cap of 16 pairs per member of a bucket part
(``member_cap`` of :func:`blocking.walk_bands`; none by default).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

from blocking import (
    LshParams,
    SegmentPlan,
    hash_collision_probability,
    plan_segments,
    walk_bands,
)
from blocking import _topk_kernels as kern
from blocking._params import bands_for_recall
from blocking._topk import SAME_SEGMENT_BANDS
from evaluation._bench_linkrecall import best_candidate
from evaluation._bench_linkscale import _TOP_K, partner_rows, scale_register
from evaluation._bench_projection import _floor
from linkage import SEGMENT_THRESHOLD, candidates, segment_dice, segment_words

__all__ = ["band_cost", "bench_band_lengths"]

DEFAULT_LENGTHS = ("12,7,11,4", "8,7,9,4", "10,6,9,4", "6,6,7,4", "4,5,5,4")


def _register(n_people: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Filters of agencies A and B, each A record's partner row in B, and the segments."""
    data, (a_batch, b_batch) = scale_register(n_people, "common", seed=seed)
    truth = partner_rows(data.truth, a_batch, b_batch)
    return a_batch.filters, b_batch.filters, truth, segment_words(a_batch.metadata)


def _plans(
    spec: str, a: np.ndarray, b: np.ndarray, segments: np.ndarray, seed: int
) -> list[SegmentPlan]:
    """The plans of one set of lengths: ``"12,7,11,4"`` (each segment's bands for recall 0.99
    at segment Dice 0.8), ``"plan"`` (the planner's choice for ``a`` and ``b``) or
    ``"plan@2e-8"`` (its choice when a pair costs that many seconds)."""
    ranges = [(int(lo), int(hi)) for lo, hi in segments.tolist()]
    if spec == "plan" or spec.startswith("plan@"):
        price = float(spec.removeprefix("plan@")) if "@" in spec else None
        return plan_segments(a, b, ranges, SEGMENT_THRESHOLD, seed=seed, candidate_seconds=price)
    per_hash = float(hash_collision_probability(SEGMENT_THRESHOLD, "minhash"))
    rows = [int(x) for x in spec.split(",")]
    if len(rows) != len(segments):
        raise ValueError(f"{spec!r}: one length per segment ({len(segments)}) is needed")
    return [
        SegmentPlan(
            lo,
            hi,
            LshParams("minhash", bands_for_recall(per_hash, r, 0.99), r, seed * 1009 + n, hi - lo),
        )
        for n, ((lo, hi), r) in enumerate(zip(ranges, rows, strict=True))
    ]


def _member_cap(spec: str) -> tuple[str, int]:
    """``"plan/16"`` -> ``("plan", 16)``; no suffix: no member cap (0)."""
    lengths, _, cap = spec.partition("/")
    if not cap:
        return lengths, 0
    if not cap.isdigit():
        raise ValueError(f"{spec!r}: the member cap after '/' must be a whole number")
    return lengths, int(cap)


def band_cost(
    a: np.ndarray,
    b: np.ndarray,
    plans: list[SegmentPlan],
    floor: float,
    units: list,
    member_cap: int = 0,
) -> tuple[float, float, Any]:
    """The ``(plan, band)`` ``units`` walked on one thread over every row: seconds and pairs
    visited a band, and the walked part (its k-slot tables)."""
    started = time.perf_counter()
    part = walk_bands(a, b, plans, _TOP_K, floor, units, threads=1, member_cap=member_cap)
    seconds = (time.perf_counter() - started) / len(units)
    return seconds, float(part.counters.sum(axis=0)[kern.VISITS]) / len(units), part


def _share(got: set, of: set) -> float:
    return round(len(got & of) / max(1, len(of)), 4)


def bench_band_lengths(
    n_people: int = 1_000_000,
    lengths: tuple[str, ...] = DEFAULT_LENGTHS,
    *,
    sample_rows: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Each set of ``lengths`` on the common-name register of ``n_people`` (see the module's
    docstring)."""
    a, b, truth, segments = _register(n_people, seed)
    every = {spec: _plans(_member_cap(spec)[0], a, b, segments, seed) for spec in lengths}
    floor = _floor(a, b, np.random.default_rng(seed))
    rows = min(sample_rows, len(a))
    exact = candidates(a[:rows], b, floor, _TOP_K)
    exact_pairs = set(zip(exact.i.tolist(), exact.j.tolist(), strict=True))
    per_segment = np.nan_to_num(segment_dice(a, b, exact.i, exact.j, segments), nan=0.0)
    close = per_segment.max(axis=1) >= SEGMENT_THRESHOLD
    close_pairs = set(zip(exact.i[close].tolist(), exact.j[close].tolist(), strict=True))
    best_exact = best_candidate(exact.i, exact.j, exact.score)
    true = {(r, int(truth[r])) for r in range(rows) if truth[r] >= 0}
    out = []
    for spec in lengths:
        plans, member_cap = every[spec], _member_cap(spec)[1]
        started = time.perf_counter()
        part = walk_bands(a, b, plans, _TOP_K, floor, window=(0, rows), member_cap=member_cap)
        walked = time.perf_counter() - started
        wi, wj, ws = kern.merge_tables(part.scores, part.rows)
        found = set(zip(wi.tolist(), wj.tolist(), strict=True))
        best = best_candidate(wi, wj, ws)
        per_band = []
        for n, plan in enumerate(plans):
            units = [
                (n, band)
                for band in (SAME_SEGMENT_BANDS, SAME_SEGMENT_BANDS + 1)
                if band < plan.params.bands
            ]
            if not units:
                continue
            seconds, visits, _ = band_cost(a, b, plans, floor, units, member_cap)
            met = visits / len(a)
            # the second band's own cost: the call's fixed part (tables, popcounts, slicing)
            # paid once by a walk of every band is in `seconds` once per two bands
            marginal = (
                2 * seconds - band_cost(a, b, plans, floor, units[:1], member_cap)[0]
                if len(units) == 2
                else None
            )
            per_band.append(
                {
                    "words": [plan.word_lo, plan.word_hi],
                    "rows_per_band": plan.params.rows_per_band,
                    "bands": plan.params.bands,
                    "one_band_one_thread_seconds": round(seconds, 3),
                    "marginal_band_one_thread_seconds": (
                        None if marginal is None else round(marginal, 3)
                    ),
                    "pairs_met_a_row": round(float(met), 1),
                    "segment_one_thread_seconds": round(seconds * plan.params.bands),
                }
            )

        same = np.mean([best.get(r) == j for r, j in best_exact.items()])
        out.append(
            {
                "asked": spec,
                "member_cap": member_cap,
                "lengths": ",".join(str(p.params.rows_per_band) for p in plans),
                "bands": sum(p.params.bands for p in plans),
                "exhaustive_best10_found": _share(found, exact_pairs),
                "segment_close_best10_found": _share(found, close_pairs),
                "same_best_candidate": round(float(same), 4),
                "true_pairs_found": _share(found, true),
                "sample_walk_seconds": round(walked, 1),
                "segments": per_band,
            }
        )
    return {
        "people": n_people,
        "records": [len(a), len(b)],
        "candidate_floor": round(floor, 4),
        "sampled_rows": rows,
        "exhaustive_best10_pairs": len(exact_pairs),
        "of_them_close_on_a_segment": len(close_pairs),
        "true_pairs_in_exhaustive": round(len(true & exact_pairs) / max(1, len(true)), 4),
        "runs": out,
    }


if __name__ == "__main__":
    people = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    figures = bench_band_lengths(people, tuple(sys.argv[2:]) or DEFAULT_LENGTHS)
    sys.stdout.write(json.dumps(figures, indent=1) + "\n")
