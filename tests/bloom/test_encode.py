"""Encoder properties: determinism, key separation, similarity, segments, missing values."""

import subprocess
import sys

import blake3
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bloom

from .helpers import dice, segment_bits

GOLDEN = {  # one record, the secret bytes(range(32)), both revisions of the shipped person schema
    "record": {
        "given_name": "Amina",
        "family_name": "Yusuf",
        "father_name": "Ali",
        "sex": "F",
        "date_of_birth": "1990-05-17",
        "place_of_birth": "Mogadishu",
    },
    "filters_blake3": {
        "person-v1": "9f8bfb5d05739a3ed53aac3530a78bab",
        "person": "8c920ea548d84dcfdefcc7ec8cdb6163",  # revision 2, the default since 2026-12
    },
}


@pytest.mark.parametrize("name", ["person-v1", "person"])
def test_golden_vector_pins_the_encoding(secret, name):
    """Same secret + same input -> the same bits on any machine, in any version."""
    b = bloom.encode(pd.DataFrame([GOLDEN["record"]]), bloom.Schema.load(name), secret)
    assert blake3.blake3(b.filters.tobytes()).hexdigest()[:32] == GOLDEN["filters_blake3"][name]


def test_another_process_produces_identical_bits(secret, person_schema, people, tmp_path):
    mine = bloom.encode(people, person_schema, secret, id_column="ref")
    people.to_parquet(tmp_path / "people.parquet")
    code = (
        "import sys, pandas as pd, bloom;"
        f"df = pd.read_parquet({str(tmp_path / 'people.parquet')!r});"
        "b = bloom.encode(df, bloom.Schema.load('person'), bloom.Secret(bytes(range(32))),"
        " id_column='ref');"
        "sys.stdout.write(b.filters.tobytes().hex())"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )
    assert run.stdout == mine.filters.tobytes().hex()


def test_different_secret_gives_unrelated_bits(secret, other_secret, person_schema, people):
    a = bloom.encode(people, person_schema, secret).filters
    b = bloom.encode(people, person_schema, other_secret).filters
    same = dice(a, bloom.encode(people, person_schema, secret).filters)
    cross = dice(a, b)
    assert np.all(same == 1.0)
    assert np.all(cross < 0.6), cross  # ~ the Dice of unrelated records at this density


def test_similar_names_score_high_and_different_names_low(secret, febrl_schema):
    df = pd.DataFrame(
        {
            "given_name": ["jonathan", "jonathon", "maria"],
            "surname": ["smith", "smyth", "gonzalez"],
            "date_of_birth": ["19800101", "19800101", "19550612"],
        }
    ).assign(
        **{c: "" for c in ("street_number", "address_1", "address_2", "suburb", "postcode")},
        state="",
    )
    f = bloom.encode(df.replace("", None), febrl_schema, secret).filters
    name = segment_bits(f, febrl_schema, "name")
    similar, different = dice(name[:1], name[1:2])[0], dice(name[:1], name[2:3])[0]
    assert similar > 0.7
    assert different < similar - 0.3
    assert dice(f[:1], f[1:2])[0] > 0.8


def test_swapped_given_and_family_names_encode_identically(secret, person_schema, people):
    swapped = people.rename(columns={"given_name": "family_name", "family_name": "given_name"})
    a = bloom.encode(people, person_schema, secret).filters
    b = bloom.encode(swapped, person_schema, secret).filters
    assert np.array_equal(
        segment_bits(a, person_schema, "name"), segment_bits(b, person_schema, "name")
    )


@pytest.mark.parametrize("name", ["person-v1", "person"])
def test_fields_write_only_into_their_segment(secret, people, name):
    schema = bloom.Schema.load(name)
    only_father = people.assign(**{c: None for c in schema.columns if c != "father_name"})
    f = bloom.encode(only_father, schema, secret).filters
    # revision 2 also hashes the father's name into the name segment (father_in_name)
    written = {"father"} | ({"name"} if name == "person" else set())
    for seg in schema.segments:
        bits = segment_bits(f, schema, seg.name)
        assert (bits.any(axis=1)[[0, 2, 3]].all()) == (seg.name in written)
    assert not f[1].any()  # p2 has no father's name: nothing at all is set


def test_missing_values_count_but_do_not_fail(secret, person_schema, people):
    df = people.copy()
    df.loc[0, "place_of_birth"] = "   "
    report = bloom.EncodeReport()
    batch = bloom.encode(df, person_schema, secret)
    assert len(batch) == 4
    assert report.records == 0  # encode() returns a batch; counts come from encode_csv


def test_row_refs_default_to_row_numbers(secret, person_schema, people):
    b = bloom.encode(people, person_schema, secret)
    assert list(b.record_refs) == ["1", "2", "3", "4"]
    assert b.filters.dtype == np.uint64 and b.filters.shape == (4, person_schema.filter_words)
    assert b.filters.flags.c_contiguous


names = st.text(alphabet=st.characters(categories=["L", "Zs", "Pd"]), min_size=0, max_size=30)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(given_names=st.lists(names, min_size=1, max_size=8), family=names)
def test_encoding_is_a_pure_function_of_each_row(secret, person_schema, given_names, family):
    """A row's filter does not depend on the other rows, their order or the chunking."""
    df = pd.DataFrame({"given_name": given_names, "family_name": family}).assign(
        father_name=None, sex="f", date_of_birth="2001", place_of_birth=None
    )
    whole = bloom.encode(df, person_schema, secret).filters
    reversed_ = bloom.encode(df.iloc[::-1], person_schema, secret).filters[::-1]
    one_by_one = np.vstack(
        [bloom.encode(df.iloc[[i]], person_schema, secret).filters for i in range(len(df))]
    )
    assert np.array_equal(whole, reversed_)
    assert np.array_equal(whole, one_by_one)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=st.text(alphabet="abcdefghij", min_size=3, max_size=12))
def test_one_typo_keeps_most_bits(secret, person_schema, a):
    b = a[:-1] + ("z" if a[-1] != "z" else "y")
    df = pd.DataFrame({"given_name": [a, b], "family_name": "x"}).assign(
        father_name=None, sex=None, date_of_birth=None, place_of_birth=None
    )
    f = segment_bits(bloom.encode(df, person_schema, secret).filters, person_schema, "name")
    assert dice(f[:1], f[1:])[0] >= 0.5


def test_febrl_true_pairs_separate_from_random_pairs(secret, febrl_schema, febrl4):
    """On real (FEBRL4) data, duplicates are far more similar than random pairs."""
    pairs = febrl4.true_pairs.iloc[:1500]
    a = febrl4.a.set_index("record_ref").loc[pairs["ref_a"]].reset_index()
    b = febrl4.b.set_index("record_ref").loc[pairs["ref_b"]].reset_index()
    fa = bloom.encode(a, febrl_schema, secret, id_column="record_ref").filters
    fb = bloom.encode(b, febrl_schema, secret, id_column="record_ref").filters
    true = dice(fa, fb)
    rand = dice(fa, np.roll(fb, 7, axis=0))
    assert np.median(true) > 0.9
    assert np.percentile(true, 5) > np.percentile(rand, 99.9)
