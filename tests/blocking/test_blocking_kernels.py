"""The numba kernels agree with the plain-numpy references and realise the collision model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocking import LshParams, hash_collision_probability
from blocking._kernels import (
    hamming_band_keys,
    join_band,
    merge_unique,
    minhash_band_keys,
    unique_sorted_inplace,
)
from blocking._lsh import band_tables
from blocking._reference import hamming_band_keys_ref, join_band_ref, minhash_band_keys_ref
from bloom._jit import read_only


def _as_band_keys_calls(kernel):
    """The kernel given read-only filters, as blocking.band_keys gives it: the signature
    production compiles (a writable array would compile the kernel a second time)."""
    return lambda bits, *rest: kernel(read_only(bits), *rest)


KEYS = {
    "minhash": (_as_band_keys_calls(minhash_band_keys), minhash_band_keys_ref),
    "hamming": (_as_band_keys_calls(hamming_band_keys), hamming_band_keys_ref),
}


def random_filters(rng: np.random.Generator, n: int, words: int, density: float) -> np.ndarray:
    bits = rng.random((n, 64 * words)) < density
    return np.packbits(bits, axis=1, bitorder="little").view(np.uint64)


def mixed_filters(rng: np.random.Generator, words: int = 16) -> np.ndarray:
    """Rows from nearly empty to full, so rank scans stop early, late and never."""
    parts = [random_filters(rng, 30, words, d) for d in (0.002, 0.05, 0.4, 0.9)]
    full = np.full((2, words), np.iinfo(np.uint64).max, dtype=np.uint64)
    single = np.zeros((2, words), dtype=np.uint64)
    single[0, words - 1] = np.uint64(1) << np.uint64(63)  # only the last bit set
    single[1, 0] = np.uint64(1)
    return np.concatenate([*parts, full, single])


@pytest.mark.parametrize("scheme", ["minhash", "hamming"])
@pytest.mark.parametrize("words", [1, 16])
def test_band_keys_match_reference(scheme: str, words: int) -> None:
    rng = np.random.default_rng(3)
    bits = mixed_filters(rng, words)
    rows = rng.permutation(bits.shape[0]).astype(np.int64)
    params = LshParams(scheme, bands=5, rows_per_band=7, seed=11, words=words)
    tables = band_tables(params, 0, 5)
    fast, ref = KEYS[scheme]
    np.testing.assert_array_equal(fast(bits, rows, tables, 8), ref(bits, rows, tables, 8))


@pytest.mark.parametrize("impl", [0, 1], ids=["numba", "numpy"])
@pytest.mark.parametrize("scheme", ["minhash", "hamming"])
def test_equal_filters_get_equal_signatures(scheme: str, impl: int) -> None:
    rng = np.random.default_rng(4)
    bits = random_filters(rng, 20, 16, 0.4)
    bits = np.concatenate([bits, bits])
    rows = np.arange(40, dtype=np.int64)
    tables = band_tables(LshParams(scheme, bands=3, rows_per_band=9, seed=1), 0, 3)
    keys = KEYS[scheme][impl](bits, rows, tables, 6)
    sig = keys >> np.uint64(6)
    np.testing.assert_array_equal(sig[:, :20], sig[:, 20:])
    np.testing.assert_array_equal(keys & np.uint64(63), np.tile(np.arange(40), (3, 1)))


@pytest.mark.parametrize("impl", [0, 1], ids=["numba", "numpy"])
@pytest.mark.parametrize("scheme", ["minhash", "hamming"])
def test_one_hash_collides_at_the_modelled_rate(scheme: str, impl: int) -> None:
    """Over many seeded hashes, a pair agrees as often as the model says (within 5 sigma)."""
    a = np.zeros((1, 16), dtype=np.uint64)
    b = np.zeros((1, 16), dtype=np.uint64)
    a[0, :7] = np.iinfo(np.uint64).max  # bits 0..447 set: |A| = 448
    b[0, 2:9] = np.iinfo(np.uint64).max  # bits 128..575: |A & B| = 320, |B| = 448
    dice = 2 * 320 / 896
    params = LshParams(scheme, bands=2000, rows_per_band=1, seed=5)
    tables = band_tables(params, 0, params.bands)
    bits = np.concatenate([a, b])
    keys = KEYS[scheme][impl](bits, np.arange(2, dtype=np.int64), tables, 1)
    rate = np.mean((keys[:, 0] >> np.uint64(1)) == (keys[:, 1] >> np.uint64(1)))
    p = hash_collision_probability(dice, scheme, density=448 / 1024)
    assert abs(rate - p) < 5 * np.sqrt(p * (1 - p) / params.bands)


sigs = st.lists(st.integers(0, 5), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(sa=sigs, sb=sigs, cap=st.integers(1, 30), n_extra=st.integers(0, 3))
def test_join_matches_reference(sa: list[int], sb: list[int], cap: int, n_extra: int) -> None:
    shift = 6
    ka = (np.array(sa, dtype=np.uint64) << np.uint64(shift)) | np.arange(len(sa), dtype=np.uint64)
    kb = (np.array(sb, dtype=np.uint64) << np.uint64(shift)) | np.arange(len(sb), dtype=np.uint64)
    rows_a = np.arange(len(sa), dtype=np.int64) * 2  # positions map back to rows
    rows_b = np.arange(len(sb), dtype=np.int64) + n_extra
    n_b = len(sb) + n_extra
    want = join_band_ref(ka, kb, shift, cap, rows_a, rows_b, n_b)
    got = join_band(np.sort(ka), np.sort(kb), shift, cap, rows_a, rows_b, n_b)
    np.testing.assert_array_equal(np.sort(got[0]), want[0])
    assert got[1:] == want[1:]


keys = st.lists(st.integers(-(2**62), 2**62), max_size=60)


@settings(max_examples=150, deadline=None)
@given(u=keys, v=keys)
def test_merge_unique_is_sorted_union(u: list[int], v: list[int]) -> None:
    x = np.sort(np.array(u, dtype=np.int64))
    x = x[: unique_sorted_inplace(x)]
    np.testing.assert_array_equal(x, np.unique(np.array(u, dtype=np.int64)))
    y = np.unique(np.array(v, dtype=np.int64))
    np.testing.assert_array_equal(merge_unique(x, y), np.union1d(x, y))
