"""Near-identical groups of segment bits: what the holder of a batch can sort records by."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bloom
from bloom._exposure import (
    WHOLE_FILTER,
    ExposureError,
    batch_exposure,
    near_identical_groups,
    near_identical_groups_reference,
    schema_noise,
)

METHODS = ["all_pairs", "lsh"]


def partition(labels: np.ndarray) -> set[frozenset[int]]:
    """The groups as sets of row numbers (rows labelled -1 left out)."""
    groups: dict[int, set[int]] = {}
    for row, label in enumerate(labels.tolist()):
        if label >= 0:
            groups.setdefault(label, set()).add(row)
    return {frozenset(g) for g in groups.values()}


def planted(seed: int, words: int, values: int, rows: int, flips: int) -> tuple:
    """Rows drawn from a few random patterns (about a quarter of the bits set), each with up to
    ``flips`` bits flipped; the pattern of each row."""
    rng = np.random.default_rng(seed)
    bits = rng.random((values, words * 64)) < 0.25
    which = rng.integers(0, values, rows)
    out = bits[which]
    for r in range(rows):
        out[r, rng.integers(0, words * 64, rng.integers(0, flips + 1))] ^= True
    return np.packbits(out, axis=1, bitorder="little").view("<u8").astype(np.uint64), which


bit_rows = hnp.arrays(
    np.uint64,
    st.tuples(st.integers(1, 30), st.integers(1, 3)),
    elements=st.sampled_from([0, 1, 3, 0xFF, 0xF0F0, 2**63, 2**64 - 1, 0x5555_5555_5555_5555]),
)


@settings(max_examples=60, deadline=None)
@given(bits=bit_rows, method=st.sampled_from(METHODS), data=st.data())
def test_grouping_does_not_depend_on_row_order(bits, method, data):
    perm = np.array(data.draw(st.permutations(range(len(bits)))), dtype=np.int64)
    labels = near_identical_groups(bits, method=method)
    assert (near_identical_groups(bits[perm], method=method) == labels[perm]).all()


@settings(max_examples=60, deadline=None)
@given(bits=bit_rows)
def test_all_pairs_equals_the_numpy_reference_and_lsh_never_joins_more(bits):
    reference = partition(near_identical_groups_reference(bits))
    assert partition(near_identical_groups(bits, method="all_pairs")) == reference
    for group in partition(near_identical_groups(bits, method="lsh")):
        assert any(group <= ref for ref in reference)


@settings(max_examples=40, deadline=None)
@given(bits=bit_rows, method=st.sampled_from(METHODS))
def test_identical_rows_always_share_a_group_and_empty_rows_none(bits, method):
    labels = near_identical_groups(bits, method=method)
    empty = np.bitwise_count(bits).sum(axis=1) == 0
    assert (labels[empty] == -1).all() and (labels[~empty] >= 0).all()
    _, first, inverse = np.unique(bits, axis=0, return_index=True, return_inverse=True)
    assert (labels == labels[first][inverse.reshape(-1)]).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(METHODS))
def test_a_row_far_from_every_other_is_never_grouped(seed, method):
    bits, _ = planted(seed, words=2, values=3, rows=40, flips=1)
    far = ~bits[:1]  # about three quarters of its bits set where the others have a quarter
    labels = near_identical_groups(np.vstack([bits, far]), method=method)
    assert np.count_nonzero(labels == labels[-1]) == 1


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(METHODS))
def test_copies_with_a_few_flipped_bits_are_found_and_never_mixed(seed, method):
    bits, which = planted(seed, words=4, values=4, rows=200, flips=2)
    groups = partition(near_identical_groups(bits, method=method))
    assert all(len(set(which[list(g)])) == 1 for g in groups)  # one pattern per group
    assert len(groups) == len(set(which.tolist()))  # ...and one group per pattern


def test_shares_of_a_small_batch():
    seg = np.zeros((15, 1), dtype=np.uint64)
    seg[:10] = 0b1111  # ten identical records
    seg[10:14] = (np.uint64(0xF) << (np.arange(4, dtype=np.uint64) * np.uint64(8) + 8))[:, None]
    # the last record has no bit set in the segment
    other = np.uint64(1) << np.arange(15, dtype=np.uint64)[:, None]  # one bit each, all apart
    e = batch_exposure(np.hstack([seg, other]), [("a", 64), ("b", 64)])
    a = e.segment("a")
    assert (a.distinct_patterns, a.empty, a.records) == (5, 1, 15)
    assert a.grouped_share == pytest.approx(10 / 15) and a.largest_group_share == a.grouped_share
    assert e.segment("b").grouped_share == 0 and e.segment(WHOLE_FILTER).grouped_share == 0
    assert e.worst is a and sorted(a.group_sizes.tolist()) == [1, 1, 1, 1, 10]


def test_bad_input_names_every_problem():
    with pytest.raises(ExposureError) as err:
        batch_exposure(np.zeros((3, 2), np.uint64), [("a", 64)], dice=1.5, min_group=1)
    text = str(err.value)
    assert "dice" in text and "min_group" in text and "the layout has 64 bits" in text
    with pytest.raises(ExposureError, match="uint64"):
        near_identical_groups(np.zeros((3, 2), np.int64))


def _register(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    name = ["".join(rng.choice(letters, 7)) for _ in range(n)]
    return pd.DataFrame(
        {
            "given_name": name,
            "family_name": [s[::-1] for s in name],
            "father_name": None,
            "sex": rng.choice(["F", "M"], n),
            "date_of_birth": None,
            "place_of_birth": None,
        }
    )


@pytest.mark.parametrize("epsilon", [4.0, 2.0])
def test_blip_noise_does_not_hide_sex(secret, epsilon):
    doc = bloom.Schema.load("person-v1").document  # sex in a segment of its own
    doc["hardening"] = {"blip": {"epsilon": epsilon}}
    schema = bloom.Schema.from_dict(doc)
    register = _register(600, seed=1)
    filters = bloom.encode(register, schema, secret, agency="a").filters
    seg = schema.segment("sex")
    bits = filters[:, seg.out_offset // 64 : (seg.out_offset + seg.out_bits) // 64]
    assert len(np.unique(bits, axis=0)) > 100  # the noise makes most records distinct
    labels = near_identical_groups(bits, noise=schema_noise(schema))
    sex = register["sex"].to_numpy()
    found = {}  # sex -> records in groups of >= 5 where >= 90% share it
    for g in np.unique(labels[labels >= 0]):
        values, counts = np.unique(sex[labels == g], return_counts=True)
        if counts.sum() >= 5 and counts.max() >= 0.9 * counts.sum():
            found[values[counts.argmax()]] = found.get(values[counts.argmax()], 0) + counts.max()
    assert set(found) == {"F", "M"} and sum(found.values()) >= 0.9 * len(register)
    exposure = batch_exposure(filters, schema)  # the schema's noise by default
    assert exposure.noise == schema_noise(schema) > 0
    assert exposure.segment("sex").grouped_share >= 0.9
    if epsilon == 2.0:  # without undoing the noise, the Dice bound alone finds nothing
        plain = near_identical_groups(bits)
        assert np.bincount(plain[plain >= 0]).max() < 5
