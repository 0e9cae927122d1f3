"""The measurement behind the review queue's default band (:mod:`evaluation._review_band`):
its counts are what the module says they are, on a small labelled set linked once."""

from __future__ import annotations

from evaluation import generate_synthetic
from evaluation._review_band import band_figures


def test_a_band_holds_no_more_than_the_errors_a_band_can_reach_and_wider_holds_more():
    data = generate_synthetic(600, 2, seed=4)
    bands = [(0.3, 0.7), (0.1, 0.9), (0.05, 0.9), (0.01, 1.0)]
    figures = band_figures("synthetic", dict(data.agencies), data.truth, "person", bands)
    assert [(f.low, f.high) for f in figures] == bands
    assert len({f.errors for f in figures}) == len({f.reachable for f in figures}) == 1
    for f in figures:
        assert f.records == len(data.truth)
        assert 0 <= f.captured <= f.reachable <= f.errors
        assert f.captured <= f.queued  # every captured error is a queued link
    captured = [f.captured for f in figures]
    queued = [f.queued for f in figures]
    assert captured == sorted(captured) and queued == sorted(queued)  # nested bands
    widest = figures[-1]  # every stored link: every reachable error is in it
    assert widest.captured == widest.reachable
