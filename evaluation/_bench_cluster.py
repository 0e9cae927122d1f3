"""`caselink bench --only clustering`: scored links to cases at a million records.

A synthetic run's last step: ``n`` records of three agencies, 40% of them already in cases of
two (an incremental run), and ``links`` random scored links — most weak, a fifth strong,
probabilities rounded to 1e-4 so ties occur. Times :func:`linkage._cluster.cluster` and
:func:`linkage._cluster.assign_cases` (new case ids drawn in bulk), median of ``repeats``
runs after one warm-up at a small size (numba's compiled cache loads there). The 1-minute
load average before and after is recorded: the machines are shared.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from linkage import assign_cases, cluster

__all__ = ["bench_clustering", "synthetic_links"]


def synthetic_links(n: int, links: int, seed: int = 0) -> dict[str, Any]:
    """The inputs of ``cluster`` and ``assign_cases`` for a synthetic run (see module doc)."""
    rng = np.random.default_rng(seed)
    agency = rng.integers(0, 3, n)
    held = np.flatnonzero(rng.random(n) < 0.4)
    existing = np.full(n, -1, dtype=np.int64)
    existing[held] = np.arange(len(held)) // 2
    n_cases = int(existing.max()) + 1
    names = np.array([f"CL-{i:08d}" for i in range(n_cases)] + [None], dtype=object)
    strong = rng.random(links) < 0.2
    p = np.where(strong, rng.uniform(0.5, 1.0, links), rng.uniform(0.001, 0.5, links))
    return {
        "agency_codes": agency,
        "existing": existing,
        "old_case_ids": names[existing],  # -1 picks the trailing None
        "case_seq": dict(zip(names[:-1].tolist(), range(n_cases), strict=True)),
        "edges": (rng.integers(0, n, links), rng.integers(0, n, links), np.round(p, 4)),
    }


def _once(data: dict[str, Any], threshold: float) -> tuple[float, float]:
    a, b, p = data["edges"]
    t0 = time.perf_counter()
    labels = cluster(data["agency_codes"], data["existing"], a, b, p, threshold)
    t1 = time.perf_counter()
    assign_cases(labels, data["old_case_ids"], data["case_seq"], (a, b, p))
    return t1 - t0, time.perf_counter() - t1


def bench_clustering(
    n: int = 1_000_000, links: int = 6_000_000, repeats: int = 3, threshold: float = 0.5
) -> dict[str, Any]:
    """Median seconds of clustering and of case assignment for ``n`` records."""
    _once(synthetic_links(100, 600), threshold)
    data = synthetic_links(n, links)
    load_before = os.getloadavg()[0]
    runs = [_once(data, threshold) for _ in range(repeats)]
    return {
        "records": n,
        "links": links,
        "threshold": threshold,
        "repeats": repeats,
        "cluster_seconds": round(statistics.median(r[0] for r in runs), 2),
        "assign_cases_seconds": round(statistics.median(r[1] for r in runs), 2),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
