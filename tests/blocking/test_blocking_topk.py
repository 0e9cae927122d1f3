"""LSH with bounded memory (`lsh_top_k`): the best k per row as the bands are walked, buckets
of namesakes split instead of skipped, the same k as an exhaustive search when every pair is
met."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocking import (
    BlockingError,
    LshParams,
    SegmentPlan,
    band_work,
    combine_parts,
    lsh_top_k,
    merge_parts,
    plan_segments,
    walk_bands,
)
from blocking import _topk_kernels as kern
from linkage import candidates_reference, dice_pairs

WORDS = 8
BITS = 64 * WORDS


def random_filters(rng: np.random.Generator, n: int, words: int = WORDS, density: float = 0.4):
    bits = rng.random((n, 64 * words)) < density
    return np.packbits(bits, axis=1, bitorder="little").view(np.uint64)


def near_copies(rng: np.random.Generator, rows: np.ndarray, moved: int) -> np.ndarray:
    """Each row with ``moved`` set bits moved to unset positions (Dice 1 - moved/|row|)."""
    bits = np.unpackbits(rows.view(np.uint8), axis=1, bitorder="little").astype(bool)
    for row in bits:  # test data only
        on, off = np.flatnonzero(row), np.flatnonzero(~row)
        row[rng.choice(on, moved, replace=False)] = False
        row[rng.choice(off, moved, replace=False)] = True
    return np.packbits(bits, axis=1, bitorder="little").view(np.uint64)


def pairs(found) -> set[tuple[int, int]]:
    return set(zip(found.i.tolist(), found.j.tolist(), strict=True))


def one_bucket(a: np.ndarray, b: np.ndarray, bands: int = 2) -> list[SegmentPlan]:
    """Plans over word 0, which every row of a and b shares: every pair meets in every band."""
    a[:, 0] = b[:, 0] = np.uint64(0x00FF00FF00FF00FF)
    return [SegmentPlan(0, 1, LshParams("minhash", bands, 2, seed=1, words=1))]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_a=st.integers(1, 40),
    n_b=st.integers(1, 40),
    k=st.integers(1, 6),
    floor=st.sampled_from([0.3, 0.45, 0.6]),
    threads=st.sampled_from([1, 2]),
)
def test_every_pair_met_gives_the_exhaustive_top_k(seed, n_a, n_b, k, floor, threads):
    """When every pair shares a bucket (and the cap lets it be scored whole) the kept pairs
    are exactly the exhaustive best k per row: same pairs, same scores, same tie-breaking."""
    rng = np.random.default_rng(seed)
    a = random_filters(rng, n_a, density=float(rng.uniform(0.1, 0.6)))
    b = np.concatenate([a[: n_b // 3], random_filters(rng, n_b - n_b // 3)])  # ties: copies
    plans = one_bucket(a, b, bands=6)  # bands after the fourth pass over identical segments
    found = lsh_top_k(a, b, plans, k, floor, bucket_cap=n_a * n_b, threads=threads)
    expected = candidates_reference(a, b, floor, k)
    np.testing.assert_array_equal(found.i, expected.i)
    np.testing.assert_array_equal(found.j, expected.j)
    np.testing.assert_array_equal(found.score, expected.score)


def test_a_bucket_wider_than_the_walks_first_buffer_is_scored_whole():
    """A bucket of 150 rows of b under the cap (more than the walk's first buffer of a
    bucket's rows holds) keeps exactly the exhaustive best k in a band that scores
    identical segments, and nothing in a later band (every row shares the banded word)."""
    rng = np.random.default_rng(21)
    a = random_filters(rng, 30)
    b = np.concatenate([near_copies(rng, a, 4), random_filters(rng, 120)])
    plans = one_bucket(a, b, bands=6)
    cap = 30 * 150

    def walked(band: int):
        part = walk_bands(a, b, plans, 4, 0.3, [(0, band)], bucket_cap=cap, threads=1)
        return merge_parts(a, b, plans, 4, 0.3, [part], bucket_cap=cap)

    found, expected = walked(0), candidates_reference(a, b, 0.3, 4)
    np.testing.assert_array_equal(found.i, expected.i)
    np.testing.assert_array_equal(found.j, expected.j)
    np.testing.assert_array_equal(found.score, expected.score)
    assert walked(5).i.size == 0


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cap=st.integers(1, 50), k=st.integers(1, 4))
def test_split_buckets_keep_only_true_scores_at_most_k_per_row(seed, cap, k):
    """However a bucket is split, what is kept is real: Dice as linkage computes it, at or
    above the floor, at most k per row, no pair twice, sorted by (i, j)."""
    rng = np.random.default_rng(seed)
    a = random_filters(rng, 60)
    b = np.concatenate([near_copies(rng, a[:30], 3), random_filters(rng, 30)])
    plans = one_bucket(a, b, bands=3)
    found = lsh_top_k(a, b, plans, k, 0.3, bucket_cap=cap)
    np.testing.assert_array_equal(found.score, dice_pairs(a, b, found.i, found.j))
    assert (found.score >= 0.3).all()
    assert np.bincount(found.i, minlength=60).max() <= k
    assert len(pairs(found)) == found.i.size
    assert (np.lexsort((found.j, found.i)) == np.arange(found.i.size)).all()
    assert found.split_buckets > 0 or cap >= 60 * 60


def namesake_register(rng: np.random.Generator, n: int = 1200, names: int = 3):
    """``n`` people on each side sharing ``names`` identical 'name' segments (words 0-3);
    the rest of each record (words 3-8) is the person's own, copied to side b with a few bits
    moved. Every name bucket is then a block of hundreds of namesakes on each side."""
    name = random_filters(rng, names, words=3)[rng.integers(0, names, n)]
    rest = random_filters(rng, n, words=5)
    a = np.concatenate([name, rest], axis=1)
    b = np.concatenate([name, near_copies(rng, rest, 6)], axis=1)
    order = rng.permutation(n)
    return a, b[order], np.argsort(order)  # true partner of a[i] is b[truth[i]]


def test_namesakes_are_ranked_by_the_rest_of_the_record_in_bounded_memory(caplog):
    """Buckets of hundreds of namesakes (160,000 pairs each) are split by the bits they do not
    share, so each person's true partner is still found, scoring a small share of the pairs;
    the tables hold rows x k slots whatever the buckets hold."""
    rng = np.random.default_rng(5)
    a, b, truth = namesake_register(rng)
    plans = plan_segments(a, b, [(0, 3), (3, 8)], 0.8, seed=3)
    with caplog.at_level(logging.INFO, logger="blocking._topk"):
        found = lsh_top_k(a, b, plans, 5, 0.5, bucket_cap=400, threads=2)
    best = {}
    for i, j, s in zip(found.i.tolist(), found.j.tolist(), found.score.tolist(), strict=True):
        if s > best.get(i, (-1.0, -1))[0]:
            best[i] = (s, j)
    right = np.mean([best.get(i, (0, -1))[1] == truth[i] for i in range(len(a))])
    assert right >= 0.99
    assert found.split_buckets > 0 and found.largest_bucket >= 300 * 300
    assert found.scored < 0.25 * len(a) * len(b) * 2  # far from every pair in every plan
    assert found.table_bytes == 2 * len(a) * 5 * 16
    assert "were split by the bits their records do not share" in caplog.text


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    parts=st.integers(1, 7),
    cap=st.sampled_from([50, 400]),
    member_cap=st.sampled_from([0, 2, 8]),
)
def test_bands_walked_in_any_parts_and_merged_give_the_whole_walk(seed, parts, cap, member_cap):
    """The work of a Ray run: the (plan, band) units dealt at random into parts, each walked
    alone (as a task would) and merged, keep exactly the pairs, scores and counts of one walk
    over every band -- namesake buckets split alike, pairs met in several bands kept once."""
    rng = np.random.default_rng(seed)
    a, b, _ = namesake_register(rng, n=200)
    plans = plan_segments(a, b, [(0, 3), (3, 8)], 0.8, seed=seed % 7)
    whole = lsh_top_k(a, b, plans, 4, 0.5, bucket_cap=cap, member_cap=member_cap, threads=1)
    units = band_work(plans)
    assert len(units) == sum(p.params.bands for p in plans)
    deal = rng.integers(0, parts, len(units))
    walked = [
        walk_bands(
            a,
            b,
            plans,
            4,
            0.5,
            [u for u, d in zip(units, deal, strict=True) if d == n],
            bucket_cap=cap,
            member_cap=member_cap,
            threads=1,
        )
        for n in range(parts)
    ]
    merged = merge_parts(a, b, plans, 4, 0.5, walked, bucket_cap=cap, member_cap=member_cap)
    np.testing.assert_array_equal(merged.i, whole.i)
    np.testing.assert_array_equal(merged.j, whole.j)
    np.testing.assert_array_equal(merged.score, whole.score)
    folded = merge_parts(a, b, plans, 4, 0.5, [combine_parts(walked[:2]), *walked[2:]])
    np.testing.assert_array_equal(folded.j, whole.j)
    np.testing.assert_array_equal(folded.score, whole.score)
    assert folded.largest_bucket == whole.largest_bucket
    cuts = np.unique(np.r_[0, np.sort(rng.integers(0, len(a), rng.integers(0, 4))), len(a)])
    windows = list(itertools.pairwise(cuts.tolist()))  # 1-4 windows of rows of a
    tiled = [
        walk_bands(
            a,
            b,
            plans,
            4,
            0.5,
            [u for u, d in zip(units, deal, strict=True) if d == n],
            bucket_cap=cap,
            member_cap=member_cap,
            threads=1,
            window=w,
        )
        for w in windows
        for n in range(parts)
    ]
    by_window = merge_parts(a, b, plans, 4, 0.5, tiled, bucket_cap=cap, member_cap=member_cap)
    np.testing.assert_array_equal(by_window.i, whole.i)
    np.testing.assert_array_equal(by_window.j, whole.j)
    np.testing.assert_array_equal(by_window.score, whole.score)
    # (how many pairs were scored depends on the order: a pair already kept is not rescored)
    assert (merged.split_buckets, merged.capped_pairs) == (whole.split_buckets, whole.capped_pairs)


def test_units_outside_the_plans_are_refused():
    a = random_filters(np.random.default_rng(0), 10)
    plans = [SegmentPlan(0, WORDS, LshParams("minhash", 2, 2, seed=0, words=WORDS))]
    with pytest.raises(BlockingError, match="bands"):
        walk_bands(a, a, plans, 2, 0.5, [(0, 2)])
    with pytest.raises(BlockingError, match="parts"):
        merge_parts(a, a, plans, 2, 0.5, [])
    with pytest.raises(BlockingError, match="window"):
        walk_bands(a, a, plans, 2, 0.5, window=(3, 11))
    first = walk_bands(a, a, plans, 2, 0.5, window=(0, 4))
    with pytest.raises(BlockingError, match="tile"):  # rows 4..9 missing
        merge_parts(a, a, plans, 2, 0.5, [first])
    with pytest.raises(BlockingError, match="different windows"):
        combine_parts([first, walk_bands(a, a, plans, 2, 0.5, window=(4, 10))])


def test_identical_records_past_the_cap_are_scored_up_to_it_and_said(caplog):
    """Records identical on every bit cannot be split: each row of a is scored against the
    first rows of b up to the cap, the rest counted, and a warning says so."""
    row = random_filters(np.random.default_rng(1), 1)
    a, b = np.repeat(row, 50, axis=0), np.repeat(row, 40, axis=0)
    plans = [SegmentPlan(0, WORDS, LshParams("minhash", 2, 3, seed=0, words=WORDS))]
    with caplog.at_level(logging.WARNING, logger="blocking._topk"):
        found = lsh_top_k(a, b, plans, 3, 0.5, bucket_cap=100)
    assert found.capped_parts > 0 and found.capped_pairs > 0
    assert np.bincount(found.i, minlength=50).tolist() == [3] * 50
    assert (found.score == 1.0).all()
    assert "scored only up to the cap" in caplog.text


def test_plans_per_segment_skip_empty_segments_and_find_a_record_by_any_segment():
    """A pair that agrees on one segment only is found through that segment's bands; a
    segment empty on one side gets no plan."""
    rng = np.random.default_rng(9)
    a = random_filters(rng, 300)
    b = random_filters(rng, 300)
    b[:100, :4] = a[:100, :4]  # rows 0..99 agree on the first half only
    b[100:200, 4:] = a[100:200, 4:]  # rows 100..199 on the second half only
    plans = plan_segments(a, b, [(0, 4), (4, 8)], 0.9, seed=0)
    assert [(p.word_lo, p.word_hi) for p in plans] == [(0, 4), (4, 8)]
    found = lsh_top_k(a, b, plans, 1, 0.5)
    assert {(i, i) for i in range(200)} <= pairs(found)
    empty = b.copy()
    empty[:, 4:] = 0
    assert [(p.word_lo, p.word_hi) for p in plan_segments(a, empty, [(0, 4), (4, 8)], 0.9)] == [
        (0, 4)
    ]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"k": 0}, "k"),
        ({"floor": 1.5}, "floor"),
        ({"bucket_cap": 0}, "bucket_cap"),
        ({"threads": 0}, "threads"),
    ],
)
def test_bad_parameters_are_named(kwargs, named):
    a = random_filters(np.random.default_rng(0), 10)
    args = {"k": 2, "floor": 0.5} | kwargs
    params = LshParams("minhash", 2, 2, seed=0, words=WORDS)
    with pytest.raises(BlockingError, match=named):
        lsh_top_k(a, a, params, args.pop("k"), args.pop("floor"), **args)


def test_a_plan_that_does_not_fit_its_segment_is_refused():
    a = random_filters(np.random.default_rng(0), 10)
    wrong = [SegmentPlan(0, 2, LshParams("minhash", 2, 2, seed=0, words=WORDS))]
    with pytest.raises(BlockingError, match="plans"):
        lsh_top_k(a, a, wrong, 2, 0.5)
    with pytest.raises(BlockingError, match=r"segments\[0\]"):
        plan_segments(a, a, [(3, 2)], 0.8)


@pytest.mark.parametrize("member_cap", [4, 16])
def test_a_member_cap_bounds_the_pairs_a_row_meets_and_keeps_the_true_partner(member_cap):
    """With ``member_cap``, a bucket part is scored whole only while it holds at most that
    many pairs per member, so a band's walk visits at most ``member_cap`` x (rows of both
    sides) pairs, plus k per row for parts no hash can split -- however many namesakes a
    bucket holds -- and the splits still keep each person's true partner (close pairs stay
    together through a split with probability about their Jaccard)."""
    rng = np.random.default_rng(5)
    a, b, truth = namesake_register(rng)
    plans = plan_segments(a, b, [(0, 3), (3, 8)], 0.8, seed=3)
    bands = sum(p.params.bands for p in plans)
    free = lsh_top_k(a, b, plans, 5, 0.5, bucket_cap=20_000, threads=1)
    capped = lsh_top_k(a, b, plans, 5, 0.5, bucket_cap=20_000, member_cap=member_cap, threads=1)
    assert capped.member_cap == member_cap and free.member_cap == 0
    assert capped.visits <= bands * (member_cap * (len(a) + len(b)) + 5 * len(a))
    assert capped.visits < free.visits / 2  # the namesake buckets' parts hold ~140 a row
    best = {}
    for i, j, s in zip(capped.i.tolist(), capped.j.tolist(), capped.score.tolist(), strict=True):
        if s > best.get(i, (-1.0, -1))[0]:
            best[i] = (s, j)
    assert np.mean([best.get(i, (0, -1))[1] == truth[i] for i in range(len(a))]) >= 0.99


def test_a_member_cap_below_zero_is_refused_by_name():
    a = random_filters(np.random.default_rng(0), 10)
    plans = one_bucket(a, a.copy())
    for bad in (-1, 2.5, True):
        with pytest.raises(BlockingError, match="member_cap"):
            lsh_top_k(a, a, plans, 2, 0.5, member_cap=bad)


def test_a_window_walk_splits_only_the_buckets_holding_its_rows_and_a_lone_worker_copies_nothing():
    """A Ray task's share: a walk keeping tables for a window of rows splits only the buckets
    that hold one of them (fewer than a walk of every row, on the namesake register) and keeps
    exactly the window's rows of that walk; with one worker the part holds the walk's own
    tables, not a stacked copy of them."""
    rng = np.random.default_rng(11)
    a, b, _ = namesake_register(rng, n=600, names=60)  # buckets of ~10 x 10
    plans = plan_segments(a, b, [(0, 3), (3, 8)], 0.8, seed=1)
    every = walk_bands(a, b, plans, 4, 0.5, bucket_cap=40, threads=1)
    window = walk_bands(a, b, plans, 4, 0.5, bucket_cap=40, threads=1, window=(0, 20))
    split = kern.SPLIT_BUCKETS
    assert 0 < window.counters[0, split] < every.counters[0, split]
    np.testing.assert_array_equal(window.rows[0], every.rows[0, :20])
    np.testing.assert_array_equal(window.scores[0], every.scores[0, :20])
    assert not every.scores.flags.owndata and not every.rows.flags.owndata
    two = walk_bands(a, b, plans, 4, 0.5, bucket_cap=40, threads=2)
    assert two.scores.shape[0] == 2 and two.scores.flags.owndata


def test_writable_and_read_only_filters_share_one_compiled_walk():
    """Ray's object store hands a task read-only filters, this process makes writable ones:
    the walk hands its kernels read-only views of both (bloom._jit.read_only), so every
    signature of walk_band in this process takes read-only filters and the second kind
    compiles nothing new (one signature was ~10 s of compiling); the tables are the same."""
    from numba import types

    rng = np.random.default_rng(5)
    a, b = random_filters(rng, 30), random_filters(rng, 30)
    plans = one_bucket(a, b, bands=3)  # over-full buckets: score_bucket splits them
    found = lsh_top_k(a, b, plans, 3, 0.3, bucket_cap=16, threads=1)
    seen = {k: set(k.signatures) for k in (kern.walk_band, kern.score_bucket)}
    frozen = [x.copy() for x in (a, b)]
    for x in frozen:
        x.flags.writeable = False
    again = lsh_top_k(*frozen, plans, 3, 0.3, bucket_cap=16, threads=1)
    assert {k: set(k.signatures) for k in seen} == seen
    for sig in kern.walk_band.signatures:  # a and b are its 6th and 7th arguments
        assert all(isinstance(t, types.Array) and not t.mutable for t in sig[5:7]), sig
    np.testing.assert_array_equal(again.i, found.i)
    np.testing.assert_array_equal(again.j, found.j)
    np.testing.assert_array_equal(again.score, found.score)
