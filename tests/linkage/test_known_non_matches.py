"""Known non-matches in the Fellegi–Sunter fit: pairs of two records of one agency, counted
in the non-match tables only. Where namesakes (names and year agree, day and father's name
not) outnumber the matches, EM without them takes the namesakes for matches; with them its
match class is the matches', and its share stays the candidates'. Known non-matches unlike
the candidates' non-matches do not make a match class of what sets them apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bloom
import linkage
import linkage._fellegi as fellegi
from evaluation import generate_synthetic
from linkage._features import CROWD_EDGES, crowd_levels
from linkage._fellegi import LEVEL_EDGES, MAX_MATCH_GROWTH, fit_fellegi_sunter, level_shares
from linkage._link import within_pairs
from linkage._pool import build_pool
from linkage._search import search

TOP = len(LEVEL_EDGES)


def _pairs(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """``n`` pairs of segments (names, father, day): matches agree everywhere but for a few
    corrupted values; namesakes agree on the names only; strangers on nothing."""
    near = rng.integers(TOP - 2, TOP + 1, (n, 3))
    far = rng.integers(0, 3, (n, 3))
    if kind == "match":
        out = np.where(rng.random((n, 3)) < 0.1, rng.integers(2, TOP - 1, (n, 3)), near)
    elif kind == "namesake":
        out = np.concatenate([near[:, :1], far[:, 1:]], axis=1)
    else:
        out = far
    return out.astype(np.int8)


def _candidates(rng: np.random.Generator, matches: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [
        _pairs(rng, matches, "match"),
        _pairs(rng, 4 * matches, "namesake"),
        _pairs(rng, 6 * matches, "stranger"),
    ]
    truth = np.r_[np.ones(matches, bool), np.zeros(10 * matches, bool)]
    return np.concatenate(parts), truth


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), matches=st.integers(300, 1500))
def test_known_non_matches_keep_namesakes_out_of_the_match_class(seed, matches):
    rng = np.random.default_rng(seed)
    levels, truth = _candidates(rng, matches)
    known = np.concatenate(
        [_pairs(rng, 3 * matches, "namesake"), _pairs(rng, 3 * matches, "stranger")]
    )
    model = fit_fellegi_sunter(levels, non_matches=known)
    p = model.probability(levels)
    # the namesakes are non-matches, the matches matches, and the share is the candidates'
    assert p[~truth].sum() < 0.05 * matches
    assert p[truth].mean() > 0.9
    assert abs(model.prior - truth.mean()) < 0.02
    # a disagreeing father's name or day weighs against a match
    assert (model.level_weights[1:, 0] < -3).all()


def test_without_known_non_matches_the_fit_is_the_plain_one():
    rng = np.random.default_rng(5)
    levels, _ = _candidates(rng, 500)
    plain = fit_fellegi_sunter(levels)
    for none in (None, np.zeros((0, 3), np.int8)):
        same = fit_fellegi_sunter(levels, non_matches=none)
        assert np.array_equal(same.m, plain.m) and np.array_equal(same.u, plain.u)
        assert same.prior == plain.prior


def _strangers(rng: np.random.Generator, n: int, shifted: float) -> np.ndarray:
    """``n`` pairs of strangers over four segments, low levels mostly; the last segment (a
    crowd) one level up in a ``shifted`` share of them."""
    levels = np.minimum(rng.geometric(0.45, (n, 4)) - 1, TOP)
    levels[:, -1] = np.minimum(levels[:, -1] + (rng.random(n) < shifted), TOP)
    return levels.astype(np.int8)


def _unlike_strangers(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates that are all strangers, known non-matches of another kind of stranger (their
    crowd one level lower in 60% of pairs), and the random-pair anchor."""
    rng = np.random.default_rng(seed)
    candidates, known = _strangers(rng, 8000, 0.6), _strangers(rng, 12000, 0.0)
    return candidates, known, level_shares(_strangers(rng, 20000, 0.0))


def test_known_non_matches_unlike_the_candidates_leave_the_fit_without_them(monkeypatch):
    """Where the candidates' non-matches are not what the known ones are, what sets them apart
    would be a match class: the fit without the known non-matches stands."""
    candidates, known, anchor = _unlike_strangers(5)
    plain = fit_fellegi_sunter(candidates, u_random=anchor)
    got = fit_fellegi_sunter(candidates, u_random=anchor, non_matches=known)
    assert got.prior == plain.prior < 0.01
    assert np.array_equal(got.m, plain.m) and np.array_equal(got.u, plain.u)
    monkeypatch.setattr(fellegi, "MAX_MATCH_GROWTH", np.inf)  # what the guard turned down
    assert fit_fellegi_sunter(candidates, u_random=anchor, non_matches=known).prior > 0.3


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_known_non_matches_never_grow_the_match_class(seed):
    candidates, known, anchor = _unlike_strangers(seed)
    two = fit_fellegi_sunter(candidates, u_random=anchor, non_match_classes=1)
    got = fit_fellegi_sunter(candidates, u_random=anchor, non_matches=known)
    assert got.prior <= MAX_MATCH_GROWTH * two.prior + 1e-12


@pytest.fixture(scope="module")
def namesakes(person_schema, secret):
    """Two agencies' registers drawn from five names per list, encoded; their pool, and a
    search over their segments as a run's."""
    data = generate_synthetic(600, 2, seed=4, common_names=5)
    batches = [
        bloom.encode(df, person_schema, secret, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]
    pool = build_pool(batches, None)
    segments = [(int(lo), int(hi)) for lo, hi in pool.bounds]

    def find(a, b, floor, top_k):
        return search(a, b, floor, top_k, segments=segments)

    return data, batches, pool, find


def test_within_agency_pairs_are_pairs_of_one_agency_with_their_crowd(namesakes):
    data, batches, pool, find = namesakes
    low = within_pairs(pool, 0, 0.5, 10, find)
    levels = low.at(0.6)
    # one search at a lower floor, cut at a higher one, is a search at the higher one
    assert np.array_equal(levels, within_pairs(pool, 0, 0.6, 10, find).at(0.6))
    assert len(levels) > 0
    assert len(low.g1) > len(levels)
    assert (pool.agency_codes[low.g1] == 0).all() and (pool.agency_codes[low.g2] == 0).all()
    assert (low.g1 != low.g2).all()  # never a record with itself
    # each hit kept: a pair found from both ends is there twice, once from each end
    hits = set(zip(low.g1.tolist(), low.g2.tolist(), strict=True))
    assert len(hits) == len(low.g1) and any((b, a) in hits for a, b in hits)
    assert levels.shape[1] == len(pool.bounds) + 1
    assert (levels[:, -1] >= 0).all()  # every pair has its crowd
    # the same run links as well as before: the known non-matches only sharpen u
    report = linkage.link(batches)
    cases = report.assignments.merge(data.truth, on=["agency", "record_ref"])
    entity_per_case = cases.groupby("case_id")["entity_id"].nunique()
    assert (entity_per_case == 1).mean() > 0.95


def test_a_large_agency_searches_a_seeded_sample_and_scales_the_found_crowds(namesakes):
    _, _, pool, find = namesakes
    new = int(pool.is_new[pool.members(0)].sum())
    sampled = within_pairs(pool, 0, 0.5, 10, find, sample=100)
    assert len(np.unique(sampled.g1)) <= 100 < new
    assert sampled.searched_share == pytest.approx(100 / new)
    again = within_pairs(pool, 0, 0.5, 10, find, sample=100)  # seeded: the same run, the same pairs
    assert np.array_equal(sampled.g1, again.g1) and np.array_equal(sampled.g2, again.g2)
    # the records found are found by a share of their finders: their counts scale up
    unscaled = crowd_levels(sampled.g1, sampled.g2)
    assert (sampled.at(0.5)[:, -1] <= unscaled).all()
    assert (sampled.at(0.5)[:, -1] < unscaled).any()


def test_crowd_levels_scale_the_found_side_by_its_share():
    g1 = np.array([0, 0, 1, 2], np.int64)
    g2 = np.array([5, 6, 5, 5], np.int64)
    # counts: g1 2,2,1,1; g2 3,1,3,3 -> crowd 4,2,3,3; at a share of 1/2: g2 6,2,6,6 -> 7,3,6,6
    full, half = crowd_levels(g1, g2), crowd_levels(g1, g2, second_share=0.5)
    assert np.array_equal(full, crowd_levels(g1, g2, second_share=1.0))
    edges = len(CROWD_EDGES) - np.searchsorted(CROWD_EDGES, [7, 3, 6, 6], side="right")
    assert np.array_equal(half, edges.astype(np.int8))
    assert (half <= full).all()


def test_the_match_class_is_the_one_leaning_most_to_agreement():
    low = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]])
    high = np.array([[0.1, 0.2, 0.7], [0.1, 0.3, 0.6]])
    mid = np.array([[0.3, 0.4, 0.3], [0.3, 0.4, 0.3]])
    assert fellegi.most_agreeing([high, low, mid]) == 0
    # a class 0 that drifted below a non-match class is not the match class any more: a fit
    # holding it there by known non-matches alone is dropped for the fit without them
    assert fellegi.most_agreeing([low, mid, high]) == 2


def test_known_non_matches_leave_a_match_class_that_agrees_most():
    for seed in range(5):
        candidates, known, anchor = _unlike_strangers(seed)
        got = fit_fellegi_sunter(candidates, u_random=anchor, non_matches=known)
        ramp = np.linspace(0.0, 1.0, got.m.shape[1])
        assert (got.m * ramp).sum() > (got.u * ramp).sum()


def test_a_match_class_that_drifted_is_chosen_again_by_agreement():
    """The distinct comparison patterns (with their counts) of a 1,000,000-people common-name
    run (600,000 x 600,000 records, 5,993,710 candidate pairs, 399,764 within-agency pairs of
    a 20,000-record sample; `evaluation._bench_linkscale.scale_register(1_000_000, "common")`):
    fitted with the known non-matches, the mixture's match class drifted until it agreed less
    than the non-matches (F1 0.06) while the last non-match class took 3% of the candidates.
    The class that agrees most becomes the match class and EM goes on: the fit keeps the known
    non-matches (fewer matches than the fit without them: F1 0.813 -> 0.850, ECE 0.080 ->
    0.057 on that run's pairs) and its match class agrees most."""
    data = np.load(Path(__file__).parent / "data" / "known_non_matches_drift.npz")
    candidates = np.repeat(data["patterns"], data["counts"], axis=0)
    known = np.repeat(data["known"], data["known_counts"], axis=0)
    got = fit_fellegi_sunter(candidates, u_random=data["anchor"], non_matches=known)
    without = fit_fellegi_sunter(candidates, u_random=data["anchor"])
    ramp = np.linspace(0.0, 1.0, got.m.shape[1])
    assert (got.m * ramp).sum() > (got.u * ramp).sum()
    assert fellegi.most_agreeing([got.m, *got.u_classes]) == 0
    assert got.prior < 0.8 * without.prior  # the namesakes it took for matches are out


def test_of_the_fits_from_two_starts_the_likelier_is_kept():
    """EM settles in a local optimum. On the same 1,000,000-people patterns with each known
    non-match counted twice, the fit from the two-class start settled with 9.2% of the
    candidates in its match class (namesakes among them: F1 0.61 on that run's pairs), while
    the fit from the mixture without them explains the pairs and the known non-matches
    better; that one is kept (F1 0.82), and its match class is no larger than the fit's
    without them (3.6%)."""
    data = np.load(Path(__file__).parent / "data" / "known_non_matches_drift.npz")
    candidates = np.repeat(data["patterns"], data["counts"], axis=0)
    known = np.repeat(data["known"], 2 * data["known_counts"], axis=0)
    got = fit_fellegi_sunter(candidates, u_random=data["anchor"], non_matches=known)
    without = fit_fellegi_sunter(candidates, u_random=data["anchor"])
    assert got.prior <= without.prior
    assert fellegi.most_agreeing([got.m, *got.u_classes]) == 0
