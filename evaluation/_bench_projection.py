"""A projection of the candidate search to 10 million records on a 16-node cluster, built
from costs measured here, with the arithmetic written out beside the figures.

The search is the part of a run that is spread over a cluster (:class:`linkage.RaySearch`):
its work is a set of units, one band of one segment's LSH plan each
(:func:`blocking.band_work`), every unit walked over all the records by a one-CPU task, and
the tasks' best-k tables folded by the run's task as they arrive. So, per size of register
(two agencies, the ``common`` name mix of the scale section: the hard case):

* the units of the plan the run would make (``units``);
* the wall time of single units walked alone on one thread, on a random sample of them, over
  all rows and over a window of an eighth of them (which splits it into the part every window
  repeats -- banding, sorting, splitting -- and the part windows share out: scoring), and the
  time to fold two tasks' tables (``fold_seconds``);

Then: each part of a unit grows with the records as ``records^alpha`` (alpha fitted on the
sizes measured), the units grow with the log of the records (fitted), a fold is linear in a
window's rows, and

    search wall ~= units x windows x unit(10M, a window) / (nodes x cpus) / efficiency
                  + the folds: tasks of their own, in trees (parallel; the depth is the floor)

with Ray's efficiency from ``../shared/RAY.md``'s measurement (0.92: 4-8% lost to Ray once
running). The stages of a run that are not spread yet (pool, model, calibration,
clustering, case ids) are projected linearly from the 1,000,000-people run of the scale
section and added; they are the next limit, and the figure says so.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from blocking import band_work, combine_parts, plan_segments, walk_bands
from evaluation._bench_linkscale import _TOP_K, scale_register
from linkage import SEGMENT_THRESHOLD, candidate_floor, segment_words

__all__ = ["bench_projection", "measure_search_units", "project", "serial_stages"]

RAY_EFFICIENCY = 0.92  # ../shared/RAY.md: Ray costs 4-8% once running
TARGET_RECORDS = 10_000_000
NODES, CPUS_PER_NODE = 16, 32


def _floor(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    """The run's candidate floor (:func:`linkage._link.candidate_floor`) of random pairs."""
    i, j = rng.integers(0, len(a), 20_000), rng.integers(0, len(b), 20_000)
    inter = np.bitwise_count(a[i] & b[j]).sum(axis=1)
    total = np.bitwise_count(a[i]).sum(axis=1) + np.bitwise_count(b[j]).sum(axis=1)
    return candidate_floor(2.0 * inter / np.maximum(total, 1))


def measure_search_units(n_people: int, *, sample_units: int = 8, seed: int = 0) -> dict:
    """Units, per-unit walk seconds (a random sample of units, one thread, over all rows and
    over a window of an eighth of the rows: the part every window repeats -- banding and
    splitting -- and the part windows share out -- scoring) and the seconds to fold one
    task's table, for a two-agency register of ``n_people`` people, common-name mix."""
    _, (a_batch, b_batch) = scale_register(n_people, "common", seed=seed)
    a, b = a_batch.filters, b_batch.filters
    rng = np.random.default_rng(seed)
    floor = _floor(a, b, rng)
    segments = [(int(lo), int(hi)) for lo, hi in segment_words(a_batch.metadata)]
    started = time.perf_counter()
    plans = plan_segments(a, b, segments, max(SEGMENT_THRESHOLD, floor), 0.99, seed=0)
    plan_seconds = time.perf_counter() - started
    units = band_work(plans)
    warm = walk_bands(a[:1], b[:1], plans, _TOP_K, floor, units[:1], threads=1)
    combine_parts([warm, warm])  # compiled before anything is timed
    picked = rng.choice(len(units), size=min(sample_units, len(units)), replace=False)
    whole, eighth, parts = [], [], []
    for u in sorted(picked.tolist()):
        part = walk_bands(a, b, plans, _TOP_K, floor, [units[u]], threads=1)
        whole.append(part.seconds)
        parts.append(part)
        window = (0, max(1, len(a) // 8))
        eighth.append(
            walk_bands(a, b, plans, _TOP_K, floor, [units[u]], threads=1, window=window).seconds
        )
    started = time.perf_counter()
    combine_parts(parts[:2])
    fold = time.perf_counter() - started
    t_all, t_8 = float(np.mean(whole)), float(np.mean(eighth))
    repeated = min(t_all, max(0.0, (8 * t_8 - t_all) / 7))  # t = repeated + scoring / windows
    return {
        "people": n_people,
        "records": [len(a), len(b)],
        "floor": round(floor, 4),
        "units": len(units),
        "plan_seconds": round(plan_seconds, 2),
        "unit_seconds_sampled": [round(s, 3) for s in whole],
        "unit_seconds_median": round(float(np.median(whole)), 3),
        "unit_seconds_mean": round(t_all, 3),
        "unit_seconds_eighth_window_mean": round(t_8, 3),
        "unit_repeated_per_window_seconds": round(repeated, 3),
        "unit_scoring_seconds": round(t_all - repeated, 3),
        "fold_seconds": round(fold, 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _fit(n: np.ndarray, y: np.ndarray) -> float:
    """The exponent of y ~ n^alpha (1 with one size)."""
    y = np.maximum(y, 1e-4)
    return float(np.polyfit(np.log(n), np.log(y), 1)[0]) if len(n) > 1 else 1.0


def project(
    measured: list[dict], serial_1m: dict[str, float] | None, *, source: str | None = None
) -> dict[str, Any]:
    """The arithmetic: fit, extrapolate to ``TARGET_RECORDS`` records, divide over the
    cluster; each step written out as text beside its number. ``serial_1m``: the stage
    seconds of a 1M-people link (``source``: when it was measured)."""
    rows = sorted(measured, key=lambda m: sum(m["records"]))
    n = np.array([sum(m["records"]) for m in rows], dtype=float)
    rep = np.array([m["unit_repeated_per_window_seconds"] for m in rows])
    sco = np.array([m["unit_scoring_seconds"] for m in rows])
    fold = np.array([m["fold_seconds"] for m in rows])
    units_n = np.array([m["units"] for m in rows], dtype=float)
    a_rep, a_sco = _fit(n, rep), _fit(n, sco)
    grow = TARGET_RECORDS / n[-1]
    rep_t, sco_t = max(rep[-1], 1e-4) * grow**a_rep, max(sco[-1], 1e-4) * grow**a_sco
    side = TARGET_RECORDS // 2
    windows = math.ceil(side * _TOP_K * 16 / (256 * 2**20))  # RaySearch.max_table_bytes
    # a fold offers every slot of two tables once: linear in a window's rows
    fold_t = max(fold[-1], 1e-4) * (side / windows) / rows[-1]["records"][0]
    if len(rows) > 1:  # bands grow with the log of the records
        slope = np.polyfit(np.log(n), units_n, 1)[0]
        units = round(units_n[-1] + max(0.0, slope) * math.log(grow))
    else:
        units = int(units_n[-1])
    cpus = NODES * CPUS_PER_NODE
    per_task = rep_t + sco_t / windows
    shares = min(units, -(-2 * cpus // windows))
    tasks = windows * shares
    walk = units * windows * per_task / (cpus * RAY_EFFICIENCY)
    depth = math.ceil(math.log2(max(shares, 1)))
    folding = max((tasks - windows) * fold_t / (cpus * RAY_EFFICIENCY), depth * fold_t)
    filters_gb = side * 18 * 8 / 1e9  # person schema: 18 words a filter
    out: dict[str, Any] = {
        "target_records": TARGET_RECORDS,
        "cluster": f"{NODES} nodes x {CPUS_PER_NODE} CPUs",
        "exponents": {
            "repeated": round(a_rep, 3),
            "scoring": round(a_sco, 3),
        },
        "windows_of_rows": windows,
        "units_at_target": units,
        "tasks": tasks,
        "unit_seconds_per_window_at_target": round(float(per_task), 2),
        "search_walk_seconds": round(float(walk), 1),
        "search_fold_seconds": round(float(folding), 1),
        "memory_per_node_shared_gb": round(2 * filters_gb, 2),
        "arithmetic": [
            f"records per side = {side:,}; windows = ceil({side:,} x {_TOP_K} x 16 B / 256 MiB)"
            f" = {windows}",
            f"repeated(10M) = {rep[-1]:.3f} s x ({TARGET_RECORDS:,} / {n[-1]:,.0f})^{a_rep:.2f}"
            f" = {rep_t:.2f} s; scoring(10M) = {sco[-1]:.3f} s x (...)^{a_sco:.2f}"
            f" = {sco_t:.2f} s",
            f"a task's unit = {rep_t:.2f} + {sco_t:.2f} / {windows} = {per_task:.2f} s",
            f"units = {int(units_n[-1])} at {n[-1]:,.0f} records, growing with log(records):"
            f" {units}",
            f"walk = {units} units x {windows} windows x {per_task:.2f} s / ({cpus} CPUs x "
            f"{RAY_EFFICIENCY}) = {walk:.1f} s",
            f"fold(window) = {fold[-1]:.3f} s x {side // windows:,} / "
            f"{rows[-1]['records'][0]:,} rows (linear) = {fold_t:.2f} s",
            f"folds = {tasks} - {windows} tasks in trees of depth {depth}: max({tasks - windows}"
            f" x {fold_t:.2f} s / ({cpus} x {RAY_EFFICIENCY}), {depth} x {fold_t:.2f} s) = "
            f"{folding:.1f} s",
            f"filters held once per node (object store) = 2 x {side:,} x 144 B = "
            f"{2 * filters_gb:.2f} GB",
        ],
    }
    if serial_1m:
        rest = {k: v for k, v in serial_1m.items() if k != "search"}
        scale = TARGET_RECORDS / 1.2e6  # the 1M-people run holds about 1.2M records
        serial = sum(rest.values()) * scale
        out["serial_stages_seconds"] = round(float(serial), 1)
        out["arithmetic"].append(
            f"stages not spread yet ({', '.join(rest)}) = {sum(rest.values()):.1f} s at 1.2M "
            f"records (the two-agency link of {source or 'the scale section'}) x {scale:.2f} "
            f"(linear) = {serial:.1f} s"
        )
        out["projected_run_seconds"] = round(float(walk + folding + serial), 1)
        out["arithmetic"].append(
            f"run = {walk:.1f} + {folding:.1f} + {serial:.1f} = {walk + folding + serial:.1f} s"
        )
    return out


def serial_stages(scale: dict[str, Any]) -> dict[str, Any] | None:
    """The newest two-agency 1,000,000-people common-name link with stage seconds
    (``link_stage_seconds``) in the scale section of ``bench/results.json`` (its table of
    runs, ``stages_1m_common`` and the runs under ``known_non_matches``), or None if none has
    them. A run of three agencies holds other records and runs three searches: it is not what
    the projection scales."""
    found = [run for run in scale.get("runs", []) if run.get("people") == 1_000_000]
    stages = scale.get("stages_1m_common")
    if isinstance(stages, dict):
        found.append({"people": 1_000_000, **stages})
    known = scale.get("known_non_matches", {})
    found += [v for v in known.values() if isinstance(v, dict) and v.get("people") == 1_000_000]
    usable = [
        run
        for run in found
        if run.get("mix") == "common"
        and run.get("agencies", 2) in (None, 2)
        and run.get("link_stage_seconds")
    ]
    if not usable:
        return None
    return max(usable, key=lambda run: str(run.get("measured_at", "")))


def bench_projection(
    sizes: tuple[int, ...] = (100_000, 300_000, 1_000_000), *, seed: int = 0
) -> dict[str, Any]:
    """Measure each size, then project (using the stages of the newest two-agency 1M
    common-name link in the scale section, :func:`serial_stages`, if it has one)."""
    import json
    from pathlib import Path

    measured = [measure_search_units(n, seed=seed) for n in sizes]
    run = None
    results = Path(__file__).resolve().parent.parent / "bench" / "results.json"
    if results.exists():
        run = serial_stages(json.loads(results.read_text()).get("scale", {}))
    stages = None if run is None else run["link_stage_seconds"]
    source = None if run is None else run.get("measured_at")
    return {"measured": measured, "projection": project(measured, stages, source=source)}
