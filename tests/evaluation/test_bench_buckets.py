"""The bucket bench on a small common-name register: its pair counts are the pairs sharing a
band key, counted pair by pair, and its figures move as the walk's buckets do."""

from __future__ import annotations

import numpy as np

from blocking import LshParams
from blocking._lsh import band_keys, band_tables
from evaluation._bench_buckets import band_signatures, bench_band_buckets, bucket_figures
from evaluation._bench_linkscale import scale_register


def test_pairs_met_and_the_share_over_the_cap_are_those_counted_pair_by_pair():
    _, (a_batch, b_batch) = scale_register(1500, "common", seed=3)
    a = np.ascontiguousarray(a_batch.filters[:, 0:7])  # the name segment
    b = np.ascontiguousarray(b_batch.filters[:, 0:7])
    params = LshParams("minhash", 2, 4, 11, 7)
    cap = 30
    met, over = bucket_figures(a, b, params, 2, cap)
    tables = band_tables(params, 0, 2)
    for band in range(2):
        ka, kb = (band_signatures(x, params, tables[band : band + 1]) for x in (a, b))
        same = ka[:, None] == kb[None, :]  # every pair of A x B
        assert met[band] * len(a) == same.sum() > 0
        # a row of A sits in a bucket of (rows of A with its key) x (rows of B with it) pairs
        rows_a_with = (ka[:, None] == ka[None, :]).sum(axis=1)
        bucket_pairs = rows_a_with * same.sum(axis=1)
        assert over[band] == np.count_nonzero(bucket_pairs > cap) / len(a)


def test_a_bands_signatures_are_its_keys_without_the_row():
    """Rows share a signature exactly when their keys agree above the bits that carry the row
    (:func:`blocking._lsh.band_keys`, whose low bits number the rows)."""
    _, (a_batch, _) = scale_register(800, "common", seed=4)
    a = np.ascontiguousarray(a_batch.filters[:, 0:7])
    params = LshParams("minhash", 1, 3, 5, 7)
    tables = band_tables(params, 0, 1)
    signatures = band_signatures(a, params, tables)
    keys = band_keys(a, np.arange(len(a)), params, tables, 12)[0] >> np.uint64(12)
    assert np.array_equal(
        signatures[:, None] == signatures[None, :], keys[:, None] == keys[None, :]
    )
    assert len(np.unique(signatures)) < len(a)  # namesakes share buckets


def test_longer_bands_meet_fewer_pairs_and_larger_registers_more():
    out = bench_band_buckets((2000, 6000), (4, 10), sampled_bands=2)
    assert out["sampled_bands"] == 2 and out["bucket_cap"] == 20_000
    small, large = out["runs"]
    assert small["people"] == 2000 and large["people"] == 6000
    for run in out["runs"]:
        assert [s["words"][0] for s in run["segments"]] == [0, 7, 10, 16]
        for segment in run["segments"]:
            short, long = segment["lengths"]
            assert (short["rows_per_band"], long["rows_per_band"]) == (4, 10)
            assert short["bands"] < long["bands"]  # longer bands need more for the recall
            assert short["pairs_met_a_row"] >= long["pairs_met_a_row"]
            assert 0.0 <= short["over_cap_share"] <= 1.0
            assert segment["planned"] is None or segment["planned"] >= 1
    # namesakes grow with the register: the name segment's short bands meet more a row
    assert (
        large["segments"][0]["lengths"][0]["pairs_met_a_row"]
        > (small["segments"][0]["lengths"][0]["pairs_met_a_row"])
    )
