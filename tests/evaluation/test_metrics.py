"""Metrics on cases small enough to compute by hand."""

import numpy as np
import pytest

from evaluation import bcubed, expected_calibration_error, pairwise_scores, reliability_table


def test_pairwise_scores_by_hand():
    # truth: {1,2,3} {4,5}; predicted: {1,2} {3,4,5}
    truth = ["a", "a", "a", "b", "b"]
    pred = ["x", "x", "y", "y", "y"]
    s = pairwise_scores(np.array(pred), np.array(truth))
    # true pairs: 12 13 23 45 (4); predicted: 12 34 35 45 (4); common: 12 45 (2)
    assert (s.true_pairs, s.predicted_pairs, s.true_positives) == (4, 4, 2)
    assert s.precision == s.recall == s.f1 == pytest.approx(0.5)


def test_pairwise_scores_edge_cases():
    singles = pairwise_scores(np.array(["a", "b"]), np.array(["c", "d"]))
    assert (singles.precision, singles.recall) == (1.0, 1.0)  # nothing to find, nothing claimed
    lumped = pairwise_scores(np.array(["x", "x", "x"]), np.array(["a", "b", "c"]))
    assert lumped.precision == 0.0 and lumped.f1 == 0.0


def test_bcubed_by_hand():
    truth = ["a", "a", "a", "b", "b"]
    pred = ["x", "x", "y", "y", "y"]
    p, r, f = bcubed(np.array(pred), np.array(truth))
    # per record precision: 1,1,1/3,2/3,2/3 -> 11/15; recall: 2/3,2/3,1/3,1,1 -> 11/15
    assert p == pytest.approx(11 / 15) and r == pytest.approx(11 / 15)
    assert f == pytest.approx(11 / 15)


def test_reliability_and_ece_by_hand():
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.55, 0.55])
    y = np.array([0, 0, 1, 0, 1, 1])
    table = reliability_table(p, y)
    row = table[table["bin"] == "0.9-1.0"].iloc[0]
    assert row["count"] == 2 and row["observed"] == 0.5
    # gaps: bin0 |0.05-0|*2, bin5 |0.55-1|*2, bin9 |0.95-0.5|*2 -> (0.1+0.9+0.9)/6
    assert expected_calibration_error(p, y) == pytest.approx(1.9 / 6)
    assert expected_calibration_error(np.array([0.3, 0.7]), np.array([0, 1])) == pytest.approx(0.3)


def test_ece_from_a_probability_leaves_out_the_pairs_below_it():
    """A thousand clear non-matches near 0 hide ten pairs reported at 0.5 that were all
    right: the ECE over every pair is small, the one from 0.1 says 0.5."""
    p = np.r_[np.full(1000, 0.01), np.full(10, 0.5)]
    y = np.r_[np.zeros(1000, bool), np.ones(10, bool)]
    assert expected_calibration_error(p, y) == pytest.approx((1000 * 0.01 + 10 * 0.5) / 1010)
    assert expected_calibration_error(p, y, min_probability=0.1) == pytest.approx(0.5)
    assert expected_calibration_error(p, y, min_probability=0.9) == 0.0  # nothing left
