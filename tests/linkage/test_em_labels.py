"""EM with labelled pairs (:func:`linkage._em_labels.fit_with_labels`): without labels it is
the unlabelled fit, a labelled pair's posterior is its label, and a few hundred labels put a
model that namesakes misled back on its feet.

The registers here are comparison levels drawn from a known model: matches agree on every
segment; strangers agree on none; namesakes — a seventh of all pairs — agree on the two name
segments as matches do and on nothing else. EM without labels takes the namesakes for
matches; 400 labelled pairs (5%) anchor the match class.
"""

from __future__ import annotations

import numpy as np
import pytest

from linkage import LinkageError
from linkage._em_labels import fit_with_labels
from linkage._fellegi import fit_fellegi_sunter, level_shares
from tests.linkage.drawn_levels import draw, shares


@pytest.fixture(scope="module")
def registers():
    """(levels, truth, u_random, labels): 300 matches, 6,000 strangers, 900 namesakes; 400
    pairs drawn at random carry their true label."""
    rng = np.random.default_rng(1)
    m, strangers = shares(1.2), shares(-1.0)
    namesakes = strangers.copy()
    namesakes[:2] = m[:2]
    namesakes[2] = shares(0.3)[0]
    levels = np.concatenate(
        [draw(rng, 300, m), draw(rng, 6000, strangers), draw(rng, 900, namesakes)]
    )
    truth = np.r_[np.ones(300), np.zeros(6900)]
    u_random = level_shares(draw(rng, 20_000, strangers))
    labels = -np.ones(len(levels), np.int64)
    pick = rng.choice(len(levels), 400, replace=False)
    labels[pick] = truth[pick]
    return levels, truth, u_random, labels


def _brier(model, levels, truth, where) -> float:
    return float(np.mean((model.probability(levels[where]) - truth[where]) ** 2))


def test_without_labels_it_is_the_unlabelled_fit(registers):
    levels, _, u_random, _ = registers
    none = -np.ones(len(levels), np.int64)
    for classes in (1, 4):
        plain = fit_fellegi_sunter(levels, u_random=u_random, non_match_classes=classes)
        same = fit_with_labels(levels, none, u_random=u_random, non_match_classes=classes)
        assert same.prior == plain.prior
        np.testing.assert_array_equal(same.m, plain.m)
        np.testing.assert_array_equal(same.u, plain.u)


def test_a_few_hundred_labels_set_right_a_model_namesakes_misled(registers):
    levels, truth, u_random, labels = registers
    plain = fit_fellegi_sunter(levels, u_random=u_random)
    labelled = fit_with_labels(levels, labels, u_random=u_random)
    true_share = truth.mean()
    assert plain.prior > 3 * true_share  # namesakes taken for matches
    assert labelled.prior == pytest.approx(true_share, abs=0.005)
    unlabelled = labels < 0  # judged on the pairs no one labelled
    assert (
        _brier(labelled, levels, truth, unlabelled) < _brier(plain, levels, truth, unlabelled) / 10
    )
    assert labelled.u_classes is not None  # the mixture, its match class anchored by labels


def test_the_labels_are_the_posterior_of_the_pairs_they_label(registers):
    levels, truth, u_random, _ = registers
    every = truth.astype(np.int64)  # all labelled: the share of matches is the labels' own
    model = fit_with_labels(levels, every, u_random=u_random, non_match_classes=1)
    assert model.prior == pytest.approx(truth.mean(), abs=1e-9)
    assert model.iterations <= 2  # nothing left to estimate but m and u, once


def test_labels_must_be_one_per_pair_and_minus_one_zero_or_one(registers):
    levels = registers[0]
    with pytest.raises(LinkageError, match="one of -1, 0, 1 per pair"):
        fit_with_labels(levels, np.zeros(3, np.int64))
    with pytest.raises(LinkageError, match="one of -1, 0, 1 per pair"):
        fit_with_labels(levels, np.full(len(levels), 2))
