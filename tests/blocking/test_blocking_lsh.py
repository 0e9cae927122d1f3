"""LSH candidate generation end to end: recall of planted pairs, reduction, determinism."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocking import (
    LshParams,
    blocking_report,
    candidate_probability,
    expected_candidates,
    lsh_candidates,
    plan_lsh,
)
from blocking._kernels import join_band
from blocking._lsh import band_keys, band_tables
from blocking._reference import exhaustive_pairs

THRESHOLD = 0.8
WORDS = 16
BITS = 64 * WORDS


def random_filters(rng: np.random.Generator, n: int, density: float = 0.4) -> np.ndarray:
    return np.packbits(rng.random((n, BITS)) < density, axis=1, bitorder="little").view(np.uint64)


def with_dice(rng: np.random.Generator, base: np.ndarray, dice: np.ndarray) -> np.ndarray:
    """Copies of ``base`` rows at Dice >= ``dice``: move k set bits to k unset positions.

    With |A| = |B| and k bits moved, Dice = 1 - k / |A| exactly.
    """
    bits = np.unpackbits(base.view(np.uint8), axis=1, bitorder="little").astype(bool)
    for row, d in zip(bits, dice, strict=True):  # test data only: a loop per planted pair
        on, off = np.flatnonzero(row), np.flatnonzero(~row)
        k = int(np.floor((1.0 - d) * on.size + 1e-9))
        row[rng.choice(on, k, replace=False)] = False
        row[rng.choice(off, k, replace=False)] = True
    return np.packbits(bits, axis=1, bitorder="little").view(np.uint64)


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """1,500 originals; side b: a copy of each at Dice in [0.8, 1) and 1,500 strangers."""
    rng = np.random.default_rng(2024)
    a = random_filters(rng, 1500)
    copies = with_dice(rng, a, rng.uniform(THRESHOLD, 1.0, size=1500))
    b = np.concatenate([copies, random_filters(rng, 1500)])
    order = rng.permutation(b.shape[0])
    b = b[order]
    return a, b, exhaustive_pairs(a, b, THRESHOLD)


@pytest.mark.parametrize("scheme", ["minhash", "hamming"])
def test_planted_pairs_are_found_with_good_reduction(planted, scheme: str) -> None:
    a, b, true = planted
    assert true.i.size >= 1500  # every planted copy is at or above the threshold
    params = plan_lsh(a, b, THRESHOLD, 0.99, scheme=scheme, seed=1)
    i, j = lsh_candidates(a, b, params).pairs
    report = blocking_report((i, j), true, a.shape[0], b.shape[0])
    assert report["pairs_completeness"] >= 0.99
    assert report["reduction_ratio"] >= 0.9


def test_pairs_exactly_at_threshold_found_as_planned() -> None:
    """The guarantee is for the least similar pair: ~1,000 pairs at Dice exactly 0.8."""
    rng = np.random.default_rng(7)
    a = random_filters(rng, 5000, 0.5)
    counts = np.bitwise_count(a).sum(axis=1)
    a = a[counts % 5 == 0]  # k = |A| / 5 moved bits gives Dice exactly 0.8
    b = with_dice(rng, a, np.full(a.shape[0], THRESHOLD))
    params = plan_lsh(a, b, THRESHOLD, 0.99, seed=3)
    result = lsh_candidates(a, b, params)
    i, j = result.pairs
    found = np.isin(np.arange(a.shape[0]), i[i == j]).mean()
    planned = candidate_probability(THRESHOLD, params)
    assert planned >= 0.99
    assert found >= planned - 5 * np.sqrt(planned * (1 - planned) / a.shape[0])


def test_candidate_count_matches_prediction(planted) -> None:
    a, b, _ = planted
    params = LshParams("minhash", bands=60, rows_per_band=5, seed=2)
    found = lsh_candidates(a, b, params).pairs.i.size
    strangers = expected_candidates(params, a.shape[0], b.shape[0], 0.25)  # 40% density
    assert 0.8 * strangers < found - a.shape[0] < 1.25 * strangers


def test_same_seed_same_pairs_other_seed_other_pairs(planted) -> None:
    a, b, _ = planted
    params = LshParams("minhash", bands=20, rows_per_band=6, seed=9)
    first, again = lsh_candidates(a, b, params).pairs, lsh_candidates(a, b, params).pairs
    np.testing.assert_array_equal(first.i, again.i)
    np.testing.assert_array_equal(first.j, again.j)
    other = lsh_candidates(a, b, LshParams("minhash", bands=20, rows_per_band=6, seed=10)).pairs
    assert not np.array_equal(first.i, other.i)


def test_pairs_are_unique_sorted_in_range(planted) -> None:
    a, b, _ = planted
    i, j = lsh_candidates(a, b, LshParams("hamming", bands=30, rows_per_band=12, seed=0)).pairs
    assert i.dtype == j.dtype == np.int64 and i.size == j.size > 0
    keys = i * b.shape[0] + j
    assert np.all(np.diff(keys) > 0)
    assert i.min() >= 0 and j.min() >= 0
    assert i.max() < a.shape[0] and j.max() < b.shape[0]


@pytest.mark.parametrize("scheme", ["minhash", "hamming"])
def test_same_pairs_as_band_by_band_union(scheme: str) -> None:
    """The grouped, threaded, batched pipeline equals a plain union of per-band joins."""
    rng = np.random.default_rng(5)
    a, b = random_filters(rng, 300), random_filters(rng, 200)
    b[:100] = a[:100]
    params = LshParams(scheme, bands=19, rows_per_band=3, seed=4)  # groups of 8, 8, 3
    rows_a, rows_b = np.arange(300, dtype=np.int64), np.arange(200, dtype=np.int64)
    tables = band_tables(params, 0, params.bands)
    ka = np.sort(band_keys(a, rows_a, params, tables, 9), axis=1)
    kb = np.sort(band_keys(b, rows_b, params, tables, 9), axis=1)
    joined = [
        join_band(x, y, 9, 10**6, rows_a, rows_b, 200)[0] for x, y in zip(ka, kb, strict=True)
    ]
    union = np.unique(np.concatenate(joined))
    i, j = lsh_candidates(a, b, params).pairs
    np.testing.assert_array_equal(i * 200 + j, union)


def test_empty_filters_are_never_candidates() -> None:
    rng = np.random.default_rng(6)
    a, b = random_filters(rng, 50), random_filters(rng, 40)
    a[:10] = 0
    b[:5] = 0
    result = lsh_candidates(a, b, LshParams("minhash", bands=10, rows_per_band=1, seed=0))
    assert (result.empty_rows_a, result.empty_rows_b) == (10, 5)
    assert result.pairs.i.min() >= 10 and result.pairs.j.min() >= 5


def test_all_empty_side_gives_no_pairs() -> None:
    rng = np.random.default_rng(6)
    a, b = random_filters(rng, 5), np.zeros((4, WORDS), dtype=np.uint64)
    assert lsh_candidates(a, b, LshParams("minhash", 4, 2, 0)).pairs.i.size == 0


def test_overfull_buckets_are_skipped_and_reported(caplog) -> None:
    rng = np.random.default_rng(8)
    same = random_filters(rng, 1)
    a = np.concatenate([np.repeat(same, 30, axis=0), random_filters(rng, 30)])
    b = np.concatenate([np.repeat(same, 20, axis=0), random_filters(rng, 30)])
    params = LshParams("minhash", bands=6, rows_per_band=8, seed=0)
    full = lsh_candidates(a, b, params)
    assert full.skipped_buckets == 0 and full.pairs.i.size >= 600
    with caplog.at_level(logging.WARNING, logger="blocking._lsh"):
        capped = lsh_candidates(a, b, params, max_bucket_pairs=599)
    assert capped.skipped_buckets == 6 and capped.skipped_pairs == 6 * 600
    assert not np.any((capped.pairs.i < 30) & (capped.pairs.j < 20))
    assert "skipped 6 over-full buckets" in caplog.text


@pytest.mark.parametrize("words", [1, 4])
def test_other_filter_widths(words: int) -> None:
    rng = np.random.default_rng(words)
    a = np.packbits(rng.random((200, 64 * words)) < 0.4, axis=1, bitorder="little").view(np.uint64)
    params = LshParams("minhash", bands=8, rows_per_band=3, seed=0, words=words)
    i, j = lsh_candidates(a, a.copy(), params).pairs
    assert np.all(np.isin(np.arange(200) * 200 + np.arange(200), i * 200 + j))


filters = st.integers(1, 2**64 - 1).map(np.uint64)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.lists(filters, min_size=2, max_size=2), min_size=1, max_size=12),
    copies=st.lists(st.integers(0, 11), max_size=6),
    scheme=st.sampled_from(["minhash", "hamming"]),
    seed=st.integers(0, 2**32),
)
def test_identical_filters_always_candidates(
    rows: list[list[np.uint64]], copies: list[int], scheme: str, seed: int
) -> None:
    a = np.array(rows, dtype=np.uint64)
    picks = [c % a.shape[0] for c in copies] or [0]
    b = a[picks]
    i, j = lsh_candidates(a, b, LshParams(scheme, 3, 16, seed, words=2)).pairs
    found = set(zip(i.tolist(), j.tolist(), strict=True))
    assert all((p, k) in found for k, p in enumerate(picks))
