"""The probability model and the planner: recall is guaranteed at the threshold."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blocking
from blocking import LshParams, candidate_probability, hash_collision_probability, lsh_params
from blocking._params import SCHEMES, bands_for_recall, collision_candidate_probability
from blocking._plan import _predicted_seconds, default_background, expected_candidates

thresholds = st.floats(0.3, 1.0)
recalls = st.floats(0.5, 0.999)
schemes = st.sampled_from(SCHEMES)
sizes = st.integers(100, 10_000_000)


def test_jaccard_of_dice_known_values() -> None:
    assert blocking.jaccard_from_dice(0.8) == pytest.approx(2 / 3)
    assert blocking.jaccard_from_dice(1.0) == 1.0
    assert blocking.jaccard_from_dice(0.0) == 0.0
    d = np.linspace(0, 1, 11)
    assert np.all(blocking.jaccard_from_dice(d) <= d + 1e-12)


def test_minhash_collision_is_jaccard_whatever_the_density() -> None:
    for density in (0.1, 0.5, 0.9):
        assert hash_collision_probability(0.8, "minhash", density=density) == pytest.approx(2 / 3)


def test_hamming_collision_is_share_of_agreeing_bits() -> None:
    # 1024 bits, |A| = |B| = 400, |A & B| = 320: Dice 0.8, Hamming distance 160
    dice, density = 2 * 320 / 800, 400 / 1024
    assert hash_collision_probability(dice, "hamming", density=density) == pytest.approx(
        1 - 160 / 1024
    )


@settings(max_examples=200, deadline=None)
@given(threshold=thresholds, recall=recalls, scheme=schemes, n_a=sizes, n_b=sizes)
def test_planned_recall_at_threshold_meets_target(
    threshold: float, recall: float, scheme: str, n_a: int, n_b: int
) -> None:
    params = lsh_params(threshold, recall, scheme=scheme, n_a=n_a, n_b=n_b, max_density=0.45)
    assert candidate_probability(threshold, params, density=0.45) >= recall
    # and for every pair above the threshold, and every pair less dense (hamming)
    above = np.linspace(threshold, 1.0, 25)
    assert np.all(candidate_probability(above, params, density=0.45) >= recall)
    assert candidate_probability(threshold, params, density=0.2) >= recall


@settings(max_examples=200, deadline=None)
@given(p=st.floats(0.05, 0.999), rows=st.integers(1, 30), recall=recalls)
def test_bands_for_recall_is_the_fewest_that_suffice(p: float, rows: int, recall: float) -> None:
    bands = bands_for_recall(p, rows, recall)
    if bands == 0:  # no practical plan: more than 2**32 bands needed
        assert math.log1p(-recall) / math.log1p(-(p**rows)) > 2**32 or p**rows == 0.0
        return
    assert collision_candidate_probability(p, rows, bands) >= recall
    if bands > 1:
        assert collision_candidate_probability(p, rows, bands - 1) < recall


@settings(max_examples=100, deadline=None)
@given(t1=thresholds, t2=thresholds, rows=st.integers(1, 40), scheme=schemes)
def test_fewer_bands_needed_as_threshold_rises(
    t1: float, t2: float, rows: int, scheme: str
) -> None:
    lo, hi = sorted((t1, t2))
    p_lo = float(hash_collision_probability(lo, scheme, density=0.45))
    p_hi = float(hash_collision_probability(hi, scheme, density=0.45))
    b_lo, b_hi = bands_for_recall(p_lo, rows, 0.99), bands_for_recall(p_hi, rows, 0.99)
    if b_lo:
        assert 1 <= b_hi <= b_lo


@pytest.mark.parametrize("scheme", SCHEMES)
def test_plan_cost_falls_as_threshold_rises(scheme: str) -> None:
    n = 1_000_000
    costs = []
    for t in (0.6, 0.7, 0.8, 0.9, 0.95):
        params = lsh_params(t, scheme=scheme, n_a=n, n_b=n)
        found = expected_candidates(params, n, n, default_background(scheme))
        costs.append(_predicted_seconds(params, n, n, found))
    assert costs == sorted(costs, reverse=True)


def test_candidate_probability_rises_with_dice() -> None:
    params = LshParams("minhash", bands=100, rows_per_band=8, seed=0)
    p = candidate_probability(np.linspace(0, 1, 101), params)
    assert np.all(np.diff(p) >= 0)
    assert p[0] == 0.0 and p[-1] == 1.0


def test_longer_bands_for_larger_inputs() -> None:
    rows = [lsh_params(0.8, n_a=n, n_b=n).rows_per_band for n in (1_000, 100_000, 1_000_000)]
    assert rows == sorted(rows)
    assert rows[0] < rows[-1]


def test_plan_keeps_predicted_candidates_within_cap() -> None:
    n = 1_000_000
    params = lsh_params(0.8, n_a=n, n_b=n, max_candidates=50_000_000)
    assert expected_candidates(params, n, n, default_background("minhash")) <= 50_000_000


def test_fixed_rows_per_band_is_kept_and_seed_carried() -> None:
    params = lsh_params(0.8, rows_per_band=5, seed=42, words=8)
    assert (params.rows_per_band, params.seed, params.words, params.bits) == (5, 42, 8, 512)
    assert params.bands == bands_for_recall(2 / 3, 5, 0.99)


def test_threshold_one_needs_one_band() -> None:
    assert lsh_params(1.0).bands == 1


def test_params_are_frozen() -> None:
    params = LshParams("minhash", bands=3, rows_per_band=4, seed=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.bands = 4  # type: ignore[misc]


def test_expected_candidates_accepts_a_sample() -> None:
    params = LshParams("minhash", bands=10, rows_per_band=2, seed=0)
    one = expected_candidates(params, 100, 100, 0.5)
    assert one == pytest.approx(100 * 100 * (1 - (1 - 0.25) ** 10))
    sample = expected_candidates(params, 100, 100, [0.0, 0.5])
    assert sample == pytest.approx(one / 2)
    assert math.isfinite(sample)


def test_a_cheaper_candidate_never_lengthens_the_bands() -> None:
    """``candidate_seconds`` prices a candidate against a band's rows: cheaper candidates move
    the optimum to shorter bands (fewer of them), never longer, and the default is the
    planner's own price."""
    n = 1_000_000
    rows = [
        lsh_params(0.8, n_a=n, n_b=n, max_candidates=2**62, candidate_seconds=c).rows_per_band
        for c in (2e-7, 5e-8, 2e-8, 1e-8)
    ]
    assert rows == sorted(rows, reverse=True) and rows[-1] < rows[0]
    assert lsh_params(0.8, n_a=n, n_b=n, max_candidates=2**62).rows_per_band == rows[0]


@pytest.mark.parametrize("price", [0, -1e-8, "2e-8", True])
def test_a_price_that_is_no_positive_number_is_named(price) -> None:
    with pytest.raises(blocking.BlockingError, match="candidate_seconds"):
        lsh_params(0.8, candidate_seconds=price)
