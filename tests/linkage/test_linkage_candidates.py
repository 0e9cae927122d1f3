"""Candidate pairs: hand-computed Dice, top-k semantics, ordering, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bloom
import linkage


def filters(*rows: set[int], words: int = 1) -> np.ndarray:
    """One uint64 filter per set of bit positions (bit p = bit p%64 of word p//64)."""
    out = np.zeros((len(rows), words), dtype=np.uint64)
    for r, positions in enumerate(rows):
        for p in positions:
            out[r, p // 64] |= np.uint64(1) << np.uint64(p % 64)
    return out


# --- hand-computed Dice ---------------------------------------------------------------------


def test_hand_computed_dice():
    a = filters({0, 1, 2, 3})
    b = filters({0, 1}, {0, 1, 2, 3}, {4, 5}, set(), {2, 3, 4, 5, 6, 7})
    pairs = linkage.candidates(a, b, 0.4)  # 0.4 == 2·2/10 exactly: the bound is inclusive
    assert pairs.i.tolist() == [0, 0, 0]
    assert pairs.j.tolist() == [0, 1, 4]
    # 2·2/(4+2), 2·4/(4+4), 2·2/(4+6)
    assert pairs.score.tolist() == [2 * 2 / 6, 1.0, 2 * 2 / 10]
    want = [2 * 2 / 6, 1.0, 0.0, 0.0, 2 * 2 / 10]
    assert linkage.dice_pairs(a, b, [0] * 5, range(5)).tolist() == want


def test_threshold_is_inclusive_at_an_exact_ratio():
    a = filters({0, 1})
    b = filters({0})  # Dice = 2·1/(2+1) = 2/3
    assert linkage.candidates(a, b, 2 / 3).score.tolist() == [2 / 3]
    assert len(linkage.candidates(a, b, math.nextafter(2 / 3, 1.0))) == 0


def test_bits_in_every_word_and_the_top_bit_count():
    a = filters({63, 64, 127, 191}, words=3)
    b = filters({63, 64}, {127, 191}, {0, 128}, words=3)
    np.testing.assert_array_equal(linkage.popcounts(a), [4])
    got = linkage.dice_pairs(a, b, [0, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(got, [2 * 2 / 6, 2 * 2 / 6, 0.0])


def test_empty_filters_score_zero_and_never_match():
    a = filters(set(), {1})
    b = filters(set(), {1})
    np.testing.assert_array_equal(linkage.dice_pairs(a, b, [0, 0, 1], [0, 1, 1]), [0, 0, 1])
    pairs = linkage.candidates(a, b, 1e-12)
    assert (pairs.i.tolist(), pairs.j.tolist()) == ([1], [1])


def test_full_filters():
    a = np.full((2, 16), np.iinfo(np.uint64).max, dtype=np.uint64)
    pairs = linkage.candidates(a, a, 1.0)
    assert pairs.i.tolist() == [0, 0, 1, 1]
    assert pairs.score.tolist() == [1.0] * 4


def test_results_sorted_by_i_then_j(make_filters):
    a, b = make_filters(3, 80, 120, 8)
    for k in (None, 4):
        pairs = linkage.candidates(a, b, 0.4, k)
        assert len(pairs) > 50
        key = pairs.i * b.shape[0] + pairs.j
        assert np.all(np.diff(key) > 0)


# --- top-k ----------------------------------------------------------------------------------


def test_top_k_breaks_ties_by_lower_j():
    a = filters({0, 1, 2, 3})
    # j=1, 3, 4 tie at 1.0; j=0 and 2 tie lower (2·3/7).
    b = filters({0, 1, 2}, {0, 1, 2, 3}, {1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3})
    assert linkage.candidates(a, b, 0.1, k=2).j.tolist() == [1, 3]
    assert linkage.candidates(a, b, 0.1, k=4).j.tolist() == [0, 1, 3, 4]
    assert linkage.candidates(a, b, 0.1, k=100).j.tolist() == [0, 1, 2, 3, 4]


def test_top_k_respects_the_threshold():
    a = filters({0, 1, 2, 3}, {10})
    b = filters({0, 1, 2, 3}, {0, 1}, {20})
    pairs = linkage.candidates(a, b, 0.9, k=3)
    assert (pairs.i.tolist(), pairs.j.tolist()) == ([0], [0])


def test_top_k_is_the_best_k_of_all_pairs_per_row(make_filters):
    a, b = make_filters(21, 60, 90, 4)
    everything = linkage.candidates(a, b, 0.3)
    top = linkage.candidates(a, b, 0.3, k=3)
    for row in range(a.shape[0]):
        mine = everything.i == row
        order = np.lexsort((everything.j[mine], -everything.score[mine]))[:3]
        want = np.sort(everything.j[mine][order])
        np.testing.assert_array_equal(top.j[top.i == row], want)


# --- the interchange type and the public surface --------------------------------------------


def test_candidate_pairs_type():
    pairs = linkage.CandidatePairs([0, 1], np.array([2, 3], dtype=np.int32), [0.5, 1.0])
    assert len(pairs) == 2
    assert pairs.i.dtype == pairs.j.dtype == np.int64
    assert pairs.score.dtype == np.float64
    assert len(linkage.CandidatePairs.empty()) == 0
    with pytest.raises(linkage.LinkageError, match="aligned"):
        linkage.CandidatePairs([0, 1], [0], [1.0])
    with pytest.raises(linkage.LinkageError, match=r"CandidatePairs\.i must hold int64"):
        linkage.CandidatePairs([0.5], [0], [1.0])


def test_public_api():
    assert linkage.__all__ == sorted(linkage.__all__)
    for name in linkage.__all__:
        assert hasattr(linkage, name), name
    assert issubclass(linkage.LinkageError, bloom.CaselinkError)


# --- bad input ------------------------------------------------------------------------------

GOOD = filters({0, 1}, {2, 3})

BAD_CANDIDATE_INPUTS = [
    ({"a": [[1, 2]]}, r"\ba must be a numpy uint64 array"),
    ({"a": np.zeros(4, np.uint64)}, r"\ba must be 2-D"),
    ({"b": np.zeros((2, 1, 1), np.uint64)}, r"\bb must be 2-D"),
    ({"a": np.zeros((2, 1), np.int64)}, r"\ba must have dtype uint64"),
    ({"b": np.zeros((2, 1), np.float64)}, r"\bb must have dtype uint64"),
    ({"a": np.zeros((0, 1), np.uint64)}, r"\ba is empty"),
    ({"b": np.zeros((0, 1), np.uint64)}, r"\bb is empty"),
    ({"a": np.zeros((2, 0), np.uint64), "b": np.zeros((2, 0), np.uint64)}, r"a has 0 words"),
    ({"b": np.zeros((2, 2), np.uint64)}, r"a has 1 words per filter but b has 2"),
    ({"threshold": 0.0}, r"threshold must be in \(0, 1\]"),
    ({"threshold": -0.5}, r"threshold must be in \(0, 1\]"),
    ({"threshold": 1.5}, r"threshold must be in \(0, 1\]"),
    ({"threshold": float("nan")}, r"threshold must be in \(0, 1\]"),
    ({"threshold": "0.8"}, r"threshold must be a number"),
    ({"threshold": True}, r"threshold must be a number"),
    ({"k": 0}, r"\bk must be ≥ 1"),
    ({"k": -3}, r"\bk must be ≥ 1"),
    ({"k": 2.5}, r"\bk must be a whole number"),
    ({"k": True}, r"\bk must be a whole number"),
    ({"threads": 0}, r"threads must be ≥ 1"),
]


@pytest.mark.parametrize(("override", "message"), BAD_CANDIDATE_INPUTS)
def test_bad_candidate_input_names_the_parameter(override, message):
    args = {"a": GOOD, "b": GOOD, "threshold": 0.5, "k": None, "threads": 1} | override
    with pytest.raises(linkage.LinkageError, match=message):
        linkage.candidates(**args)
    if "threads" not in override:
        del args["threads"]
        with pytest.raises(linkage.LinkageError, match=message):
            linkage.candidates_reference(**args)


def test_every_problem_is_reported_at_once():
    with pytest.raises(linkage.LinkageError) as caught:
        linkage.candidates(np.zeros(3), GOOD, 2.0, k=0)
    assert len(caught.value.problems) == 4
    message = str(caught.value)
    for name in ("a must be 2-D", "a must have dtype uint64", "threshold", "k must be"):
        assert name in message


@pytest.mark.parametrize(
    ("i", "j", "message"),
    [
        ([0, 2], [0, 1], r"i\[1\] = 2 is outside a's rows 0\.\.1"),
        ([0, 1], [-1, 0], r"j\[0\] = -1 is outside b's rows"),
        ([0.0, 1.0], [0, 1], r"i must be a 1-D array of integer"),
        ([[0]], [0], r"i must be a 1-D array"),
        ([0, 1], [0], r"i and j must have the same length"),
    ],
)
def test_bad_dice_pairs_input_names_the_parameter(i, j, message):
    with pytest.raises(linkage.LinkageError, match=message):
        linkage.dice_pairs(GOOD, GOOD, i, j)


def test_dice_pairs_checks_the_filters_too():
    with pytest.raises(linkage.LinkageError, match=r"a has 1 words per filter but b has 2"):
        linkage.dice_pairs(GOOD, np.zeros((2, 2), np.uint64), [0], [0])
    assert linkage.dice_pairs(GOOD, GOOD, [], []).shape == (0,)


def test_writable_and_read_only_filters_share_one_compiled_search():
    """A Ray task's filters come read-only from the object store, this process's are
    writable: the search hands its kernels read-only views of both (bloom._jit.read_only), so
    every signature of the exhaustive kernel in this process is read-only and the second
    kind compiles nothing new; the pairs are the same."""
    from numba import types

    from linkage import _kernels

    rng = np.random.default_rng(11)
    a = rng.integers(0, 2**63, size=(40, 4), dtype=np.uint64)
    b = np.concatenate([a[:10], rng.integers(0, 2**63, size=(20, 4), dtype=np.uint64)])
    found = linkage.candidates(a, b, 0.6, k=3, threads=1)
    seen = set(_kernels.candidates_serial.signatures)
    frozen = [x.copy() for x in (a, b)]
    for x in frozen:
        x.flags.writeable = False
    again = linkage.candidates(*frozen, 0.6, k=3, threads=1)
    assert set(_kernels.candidates_serial.signatures) == seen
    for sig in seen:
        assert isinstance(sig[0], types.Array) and not sig[0].mutable, sig
    np.testing.assert_array_equal(again.i, found.i)
    np.testing.assert_array_equal(again.j, found.j)
    np.testing.assert_array_equal(again.score, found.score)
