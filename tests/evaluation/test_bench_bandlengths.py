"""The band-length bench on a small common-name register: each set of lengths walked on a
sample against the exhaustive search, and one band of each timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
        for seg in run["segments"]:  # bands 4 and 5 walked: the second one's own time too
            two = seg["bands"] > 5
            assert (seg["marginal_band_one_thread_seconds"] is not None) == two
    # one hash a band: every band meets far more pairs than bands of several hashes
    assert short["segments"][0]["pairs_met_a_row"] > long["segments"][0]["pairs_met_a_row"]
    assert long["bands"] == sum(s["bands"] for s in long["segments"])
    assert long["true_pairs_found"] >= 0.9 * out["true_pairs_in_exhaustive"]


def test_a_length_per_segment_is_needed():
    with pytest.raises(ValueError, match="one length per segment"):
        bench_band_lengths(2000, ("8,7",), sample_rows=50)


def test_the_command_prints_the_figures_for_the_size_and_lengths_given(tmp_path):
    """``python -m evaluation._bench_bandlengths PEOPLE LENGTHS...``: the README's figures for
    other sizes come from it; run as a process of its own, from another directory."""
    done = subprocess.run(
        [sys.executable, "-m", "evaluation._bench_bandlengths", "1500", "6,5,5,3", "2,2,2,2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=True,
        timeout=600,
    )
    out = json.loads(done.stdout)
    assert out["people"] == 1500 and sum(out["records"]) > 1500
    assert [run["lengths"] for run in out["runs"]] == ["6,5,5,3", "2,2,2,2"]
    assert [s["rows_per_band"] for s in out["runs"][0]["segments"]] == [6, 5, 5, 3]


def test_the_planners_lengths_are_walked_as_the_same_lengths_given_by_hand():
    """``plan`` and ``plan@PRICE`` are the planner's plans for the register (at its price or
    that one), walked as the lengths they resolve to: the same figures as those lengths
    given by hand, and a cheaper pair never gives longer bands."""
    out = bench_band_lengths(6000, ("plan", "plan@1e-8"), sample_rows=200, seed=2)
    planned, cheap = out["runs"]
    assert (planned["asked"], cheap["asked"]) == ("plan", "plan@1e-8")
    lengths = [[int(x) for x in run["lengths"].split(",")] for run in (planned, cheap)]
    assert all(c <= p for p, c in zip(*lengths, strict=True))
    again = bench_band_lengths(6000, (planned["lengths"],), sample_rows=200, seed=2)["runs"][0]
    for key in ("bands", "exhaustive_best10_found", "true_pairs_found", "same_best_candidate"):
        assert again[key] == planned[key]


def test_a_member_cap_after_a_slash_walks_fewer_pairs_a_row_on_the_same_plan():
    """``LENGTHS/CAP`` walks the same plan with that member cap: the same bands, no more
    pairs met a row on any segment (fewer on some), and what it finds is still scored
    against the same exhaustive pairs; a cap that is not a whole number is refused by name
    before any work."""
    out = bench_band_lengths(6000, ("4,3,4,2", "4,3,4,2/2"), sample_rows=200, seed=3)
    free, capped = out["runs"]
    assert (free["member_cap"], capped["member_cap"]) == (0, 2)
    assert free["bands"] == capped["bands"] and free["lengths"] == capped["lengths"]
    met = [
        (f["pairs_met_a_row"], c["pairs_met_a_row"])
        for f, c in zip(free["segments"], capped["segments"], strict=True)
    ]
    assert all(c <= f for f, c in met) and any(c < f for f, c in met)
    assert 0.0 < capped["true_pairs_found"] <= 1.0
    with pytest.raises(ValueError, match="member cap"):
        bench_band_lengths(2000, ("plan/x",), sample_rows=50)
