"""The compiled kernels agree exactly with the plain-numpy references.

Property tests over shapes (one row up, 1..20 words), thresholds (including exact Dice
ratios, where float rounding and popcount pruning are most likely to disagree) and k. Scores
are compared bit for bit, not approximately.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import linkage
from linkage import _candidates

SETTINGS = settings(max_examples=120, deadline=None)

shapes = st.tuples(
    st.integers(0, 2**32 - 1),  # seed
    st.integers(1, 40),  # rows of a
    st.integers(1, 60),  # rows of b
    st.integers(1, 20),  # words per filter
)
# Exact Dice values 2x/d hit the threshold boundary; floats in (0, 1] cover the rest.
ratios = st.integers(1, 2 * 20 * 64).flatmap(
    lambda d: st.integers(1, d // 2 if d > 1 else 1).map(lambda x: min(1.0, (2.0 * x) / d))
)
thresholds = st.one_of(
    st.sampled_from([1.0, 0.9, 0.8, 2 / 3, 0.5, 0.25]),
    ratios,
    st.floats(min_value=0.0, max_value=1.0, exclude_min=True),
)
ks = st.one_of(st.none(), st.integers(1, 8))


def assert_same(got: linkage.CandidatePairs, want: linkage.CandidatePairs) -> None:
    np.testing.assert_array_equal(got.i, want.i)
    np.testing.assert_array_equal(got.j, want.j)
    np.testing.assert_array_equal(got.score, want.score)  # bit for bit: exact equality


@SETTINGS
@given(shape=shapes, threshold=thresholds, k=ks)
def test_candidates_match_reference(make_filters, shape, threshold, k):
    a, b = make_filters(*shape)
    want = linkage.candidates_reference(a, b, threshold, k)
    assert_same(linkage.candidates(a, b, threshold, k, threads=1), want)
    assert_same(linkage.candidates(a, b, threshold, k, threads=2), want)


@SETTINGS
@given(shape=shapes, threshold=thresholds, threads=st.sampled_from([1, 2]))
def test_output_growth_resumes_without_loss(make_filters, shape, threshold, threads):
    """One pair slot to start with: every range fills, grows and resumes many times."""
    a, b = make_filters(*shape)
    want = linkage.candidates_reference(a, b, threshold)
    prep = _candidates.prepare_b(b)
    i, j, s = _candidates.score_rows(a, prep, threshold, None, threads, capacity=1)
    assert_same(linkage.CandidatePairs(i, j, s), want)


@SETTINGS
@given(shape=shapes)
def test_popcounts_match_reference(make_filters, shape):
    a, b = make_filters(*shape)
    for x in (a, b):
        np.testing.assert_array_equal(linkage.popcounts(x), linkage.popcounts_reference(x))


@SETTINGS
@given(shape=shapes, pairs=st.integers(0, 200), threads=st.sampled_from([1, 2]))
def test_dice_pairs_match_reference(make_filters, shape, pairs, threads):
    a, b = make_filters(*shape)
    rng = np.random.default_rng(shape[0])
    i = rng.integers(0, a.shape[0], size=pairs)
    j = rng.integers(0, b.shape[0], size=pairs)
    got = linkage.dice_pairs(a, b, i, j, threads=threads)
    np.testing.assert_array_equal(got, linkage.dice_pairs_reference(a, b, i, j))


@pytest.mark.parametrize("k", [None, 3])
def test_many_blocks_match_one(make_filters, monkeypatch, k):
    """Chunking a into blocks changes nothing: rows are scored independently."""
    a, b = make_filters(7, 300, 250, 16)
    want = linkage.candidates(a, b, 0.6, k, threads=1)
    monkeypatch.setattr(_candidates, "_BLOCK_COMPARISONS", 1000)
    for threads in (1, 2):
        assert_same(linkage.candidates(a, b, 0.6, k, threads=threads), want)
    assert_same(linkage.candidates_reference(a, b, 0.6, k), want)


@pytest.mark.parametrize("threads", [1, 2])
def test_several_spans_of_b_and_blocks_of_a(make_filters, threads):
    """20 words: b is swept in spans of 1536 rows, a in blocks of 64 rows (kernel constants)."""
    a, b = make_filters(13, 200, 3500, 20)
    prep = _candidates.prepare_b(b)
    for threshold, k in [(0.5, None), (0.5, 4), (0.9, None)]:
        want = linkage.candidates_reference(a, b, threshold, k)
        assert_same(linkage.candidates(a, b, threshold, k, threads=threads), want)
        i, j, s = _candidates.score_rows(a, prep, threshold, k, threads, capacity=100)
        assert_same(linkage.CandidatePairs(i, j, s), want)


def test_candidate_scores_agree_with_dice_pairs(make_filters):
    a, b = make_filters(11, 200, 300, 16)
    pairs = linkage.candidates(a, b, 0.5)
    assert len(pairs) > 100
    np.testing.assert_array_equal(linkage.dice_pairs(a, b, pairs.i, pairs.j), pairs.score)


def test_pruning_keeps_every_pair(make_filters):
    """Popcounts far apart are pruned; what remains equals the full matrix thresholded."""
    a, b = make_filters(5, 150, 400, 4)
    full = _scores(a, b)
    for threshold in (0.3, 0.7, 0.95):
        i, j = np.nonzero(full >= threshold)
        got = linkage.candidates(a, b, threshold, threads=1)
        np.testing.assert_array_equal(got.i, i)
        np.testing.assert_array_equal(got.j, j)


def _scores(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full Dice matrix through dice_pairs over every (i, j)."""
    i, j = np.meshgrid(np.arange(a.shape[0]), np.arange(b.shape[0]), indexing="ij")
    return linkage.dice_pairs(a, b, i.ravel(), j.ravel()).reshape(i.shape)
