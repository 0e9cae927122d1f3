"""The linking calibration's one-to-one matching model: belief propagation gives the exact
marginals where the candidates form a tree, competitors are weighed by strength and explained
away by their own matches, and the crowd of a pair is a comparison level."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage._calibration import matching_probabilities, pair_probabilities, side_probabilities
from linkage._features import CROWD_EDGES, crowd_levels

LN2 = np.log(2.0)


def _exact(g1: np.ndarray, g2: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    """Marginals of P(matching) ∝ prod W over every matching of the edges, by enumeration."""
    total, inside = 0.0, np.zeros(len(g1))
    for size in range(len(g1) + 1):
        for chosen in itertools.combinations(range(len(g1)), size):
            ends = [g1[e] for e in chosen], [g2[e] for e in chosen]
            if len(set(ends[0])) < size or len(set(ends[1])) < size:
                continue  # a record twice: not a matching
            weight = float(np.exp(log_w[list(chosen)].sum())) if chosen else 1.0
            total += weight
            inside[list(chosen)] += weight
    return inside / total


def _random_tree(rng: np.random.Generator, edges: int) -> tuple[np.ndarray, np.ndarray]:
    """A random bipartite tree: each new edge joins a new record to one already there."""
    g1, g2, xs, ys = [0], [0], 1, 1
    for _ in range(edges - 1):
        if rng.random() < 0.5:  # a new record of the first agency, on an existing second one
            g1.append(xs)
            g2.append(int(rng.integers(0, ys)))
            xs += 1
        else:
            g1.append(int(rng.integers(0, xs)))
            g2.append(ys)
            ys += 1
    return np.array(g1), np.array(g2)


@pytest.mark.parametrize("seed", range(6))
def test_exact_marginals_on_a_tree_of_candidates(seed):
    rng = np.random.default_rng(seed)
    g1, g2 = _random_tree(rng, 9)
    weights = rng.normal(0.0, 4.0, g1.size)  # log2 likelihood ratios
    prior = float(rng.normal(0.0, 1.0))
    got = matching_probabilities(g1 * 7 + 3, g2 * 5 + 11, weights, prior)  # any record ids
    assert got == pytest.approx(_exact(g1, g2, prior + weights * LN2), abs=1e-6)


def test_a_lone_pair_gets_the_one_record_view():
    """No other candidate on either side: the odds are the prior odds times the ratio."""
    p = matching_probabilities(np.array([4]), np.array([9]), np.array([3.0]), np.log(1.5))
    assert p == pytest.approx([1.5 * 8 / (1 + 1.5 * 8)])


def test_a_competitor_claimed_by_its_own_match_is_explained_away():
    """x0 and x1 both look like y0, but y0 matches x0 far better: x1's other candidate y1
    is then likelier its match than x1's view alone says, and y0 is not x1's."""
    g1, g2 = np.array([0, 1, 1]), np.array([0, 0, 1])
    w = np.array([12.0, 2.0, 2.0])
    p = matching_probabilities(g1, g2, w, 0.0)
    alone = side_probabilities(np.array([1, 1]), np.array([2.0, 2.0]))[0]
    assert p[2] > 0.75 > alone[1]
    assert p[1] < 0.01


def test_a_pair_among_weak_candidates_is_not_diluted_by_their_number():
    """A strong candidate among nine hopeless ones: the old one-record view divided its
    prior by ten; the matching model keeps it near the lone pair's probability."""
    g1 = np.zeros(10, np.int64)
    g2 = np.arange(10)
    w = np.array([4.0] + [-30.0] * 9)
    p = pair_probabilities(g1, g2, w)[0]
    lone = pair_probabilities(g1[:1], g2[:1], w[:1])[0]
    assert p[0] > 0.5 * lone[0]
    assert p[1:].max() < 1e-6


def test_with_duplicates_each_pair_gets_its_own_posterior():
    """Two candidates of one record may both be its matches: neither takes from the other."""
    g1, g2, w = np.array([0, 0]), np.array([0, 1]), np.array([5.0, 5.0])
    p, _, _ = pair_probabilities(g1, g2, w, several_matches=True, pair_prior=0.2)
    assert p == pytest.approx([0.25 * 32 / (1 + 0.25 * 32)] * 2)


def test_no_pairs_no_probabilities():
    empty = np.zeros(0, np.int64)
    p, lam1, lam2 = pair_probabilities(empty, empty, np.zeros(0))
    assert p.size == 0 and lam1 == lam2 == 0.0


def test_crowd_levels_count_down_from_a_lone_pair():
    # x0 alone with y0; x1 with y1..y3; y3 also with x2
    g1 = np.array([0, 1, 1, 1, 2])
    g2 = np.array([0, 1, 2, 3, 3])
    top = len(CROWD_EDGES)
    # crowds: 1, 3, 3, 4, 2 candidate pairs of the two records together
    expected = top - np.searchsorted(CROWD_EDGES, [1, 3, 3, 4, 2], side="right")
    assert crowd_levels(g1, g2).tolist() == expected.tolist()
    assert crowd_levels(g1, g2)[0] == top
    crowded = crowd_levels(np.zeros(30, np.int64), np.arange(30))
    assert (crowded == 0).all()


def _sweeps_reference(g1, g2, weights, log_prior_odds, tolerance=1e-10):
    """Belief propagation in plain numpy, every pair's messages every round (the compiled
    form recomputes a record's messages only when its inputs moved)."""
    x = np.unique(g1, return_inverse=True)[1].ravel()
    y = np.unique(g2, return_inverse=True)[1].ravel()
    log_w = np.clip(log_prior_odds + weights * LN2, -700.0, 700.0)

    def free(rows, log_claims):
        claims = np.exp(log_claims)
        return -np.log1p(np.maximum(np.bincount(rows, claims)[rows] - claims, 0.0))

    to_x, to_y = np.zeros(g1.size), np.zeros(g1.size)
    for _ in range(2000):
        new_y = free(x, log_w + to_x)
        new_x = free(y, log_w + new_y)
        moved = max(np.abs(new_y - to_y).max(), np.abs(new_x - to_x).max())
        to_y, to_x = new_y, new_x
        if moved < tolerance:
            break
    return 1.0 / (1.0 + np.exp(-np.clip(log_w + to_x + to_y, -700.0, 700.0)))


@given(
    edges=st.integers(1, 120),
    records=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    spread=st.floats(0.5, 12.0),
)
@settings(max_examples=60, deadline=None)
def test_belief_propagation_on_loopy_candidates_matches_full_sweeps(edges, records, seed, spread):
    """On any candidate graph (loops, crowds, repeated records) the messages recomputed only
    where their inputs moved settle where sweeping every pair every round does."""
    rng = np.random.default_rng(seed)
    g1, g2 = rng.integers(0, records, edges), rng.integers(0, records, edges)
    keep = np.unique(g1 * records + g2, return_index=True)[1]  # a pair once
    g1, g2 = g1[keep], g2[keep]
    weights = rng.normal(0.0, spread, g1.size)
    prior = float(rng.normal(-1.0, 1.0))
    got = matching_probabilities(g1, g2, weights, prior, iterations=2000, tolerance=1e-10)
    assert got == pytest.approx(_sweeps_reference(g1, g2, weights, prior), abs=1e-7)
