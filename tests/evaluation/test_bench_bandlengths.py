"""The band-length bench on a small common-name register: each set of lengths walked on a
sample against the exhaustive search, and one band of each timed."""

from __future__ import annotations

import pytest

from evaluation._bench_bandlengths import bench_band_lengths


def test_each_set_of_lengths_is_compared_with_the_exhaustive_search():
    out = bench_band_lengths(6000, ("8,7,9,4", "1,1,1,1"), sample_rows=300, seed=1)
    assert out["sampled_rows"] == 300 and out["exhaustive_best10_pairs"] > 0
    assert 0 < out["of_them_close_on_a_segment"] <= out["exhaustive_best10_pairs"]
    long, short = out["runs"]
    assert (long["lengths"], short["lengths"]) == ("8,7,9,4", "1,1,1,1")
    for run in (long, short):
        for key in (
            "exhaustive_best10_found",
            "segment_close_best10_found",
            "same_best_candidate",
            "true_pairs_found",
        ):
            assert 0.0 <= run[key] <= 1.0
        assert [s["words"][0] for s in run["segments"]] == [0, 7, 10, 16]
    # one hash a band: every band meets far more pairs than bands of several hashes
    assert short["segments"][0]["pairs_met_a_row"] > long["segments"][0]["pairs_met_a_row"]
    assert long["bands"] == sum(s["bands"] for s in long["segments"])
    assert long["true_pairs_found"] >= 0.9 * out["true_pairs_in_exhaustive"]


def test_a_length_per_segment_is_needed():
    with pytest.raises(ValueError, match="one length per segment"):
        bench_band_lengths(2000, ("8,7",), sample_rows=50)
