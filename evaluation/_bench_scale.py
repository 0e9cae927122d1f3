"""Blocking at scale on encoded people: 1,000,000 × 1,000,000 registrations.

Synthetic people (``generate_synthetic``) are registered by two agencies (every person by
both, each registration corrupted independently), encoded with the shipped ``person`` schema
and blocked with MinHash LSH planned for a Dice threshold and 99% recall. Recall is measured
against the exhaustive search on a random sample of rows of side a: each sampled row is
compared with every row of side b (the compiled kernel), and the pairs at or above the
threshold are looked up among the LSH candidates. Peak memory is the whole process's.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import bloom
from blocking import blocking_report, lsh_candidates, plan_lsh
from evaluation._bench import peak_rss_gib
from evaluation._synthetic import generate
from linkage import candidates

__all__ = ["bench_blocking_people"]


def bench_blocking_people(
    n: int = 1_000_000, threshold: float = 0.8, *, sample_rows: int = 2000, seed: int = 0
) -> dict[str, Any]:
    t0 = time.perf_counter()
    data = generate(n, 2, overlap=1.0, seed=seed)
    schema, secret = bloom.Schema.load("person"), bloom.Secret(bytes(range(32)))
    a, b = (
        bloom.encode(df, schema, secret, agency=name, id_column="record_ref").filters
        for name, df in data.agencies.items()
    )
    del data
    prepared = time.perf_counter() - t0
    t1 = time.perf_counter()
    params = plan_lsh(a, b, threshold, 0.99, seed=seed)
    result = lsh_candidates(a, b, params)
    lsh_seconds = time.perf_counter() - t1
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(a), size=min(sample_rows, len(a)), replace=False))
    exact = candidates(a[rows], b, threshold)
    truth = (rows[exact.i], exact.j)
    keep = np.isin(result.pairs.i, rows)  # the candidates of the sampled rows
    report = blocking_report((result.pairs.i[keep], result.pairs.j[keep]), truth, len(a), len(b))
    return {
        "records_per_side": n,
        "threshold": threshold,
        "bands": params.bands,
        "rows_per_band": params.rows_per_band,
        "candidates": len(result.pairs.i),
        "reduction_ratio": 1.0 - len(result.pairs.i) / (len(a) * len(b)),
        "pairs_completeness_sampled": report["pairs_completeness"],
        "sampled_rows": len(rows),
        "exhaustive_pairs_in_sample": len(exact.i),
        "lsh_seconds": round(lsh_seconds, 1),
        "generate_and_encode_seconds": round(prepared, 1),
        "peak_rss_gib": round(peak_rss_gib(), 2),
    }
