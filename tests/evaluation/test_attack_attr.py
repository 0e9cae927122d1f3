"""Attribute inference on a small fixed synthetic register: it must work on unhardened filters,
and find nothing when the values are shuffled across the records."""

import numpy as np
import pandas as pd
import pytest

import bloom
from evaluation._attack_attr import (
    ATTRIBUTE_FIELDS,
    attribute_exposure,
    attribute_truth,
    exposed_share,
    service_similarities,
    similarity_exposure,
)
from evaluation._synthetic import generate


@pytest.fixture(scope="module")
def data():
    return generate(1500, 3, seed=0)


@pytest.fixture(scope="module")
def batches(data, person_v1_schema, secret):
    return [
        bloom.encode(df, person_v1_schema, secret, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]


def shuffled(truth, seed=7):
    rng = np.random.default_rng(seed)
    return {f: v[rng.permutation(len(v))] for f, v in truth.items()}


def test_the_figure_counts_pure_groups_of_five_or_more():
    labels = np.array([0] * 10 + [1] * 4 + [2] * 6 + [-1] * 2)
    values = np.array(
        ["a"] * 9
        + ["b"]  # 90% share a: the nine a's are exposed, not the b
        + ["c"] * 4  # a group of four: too small
        + ["d"] * 4
        + ["e"]
        + [None]  # 4 of 5 known share d: 80%, not pure
        + ["f", None],  # in no group
        dtype=object,
    )
    assert exposed_share(labels, values) == pytest.approx(9 / 20)  # 20 known values
    assert exposed_share(labels, values, purity=0.8) == pytest.approx(13 / 20)
    assert exposed_share(labels, values, min_group=4) == pytest.approx(13 / 20)
    assert exposed_share(labels, np.full(22, None, dtype=object)) == 0.0


def test_truth_is_normalised_as_the_schema_does():
    register = pd.DataFrame(
        {
            "sex": [" m", "F", None],
            "date_of_birth": ["1990-03-12", "1985-01-01", "not a date"],
            "place_of_birth": ["Alep-po", None, "Kabul"],
            "father_name": ["Al-Hassan", "", None],
        }
    )
    truth = attribute_truth(register)
    assert list(truth["sex"]) == ["m", "f", None]
    assert list(truth["birth_year"]) == [1990, 1985, None]
    assert list(truth["birth_day"]) == [(3, 12), None, None]  # 01-01 stands for 'unknown'
    assert list(truth["place_of_birth"]) == ["aleppo", None, "kabul"]
    assert list(truth["father_name"]) == ["hassan", None, None]


def test_unhardened_filters_expose_sex_and_birth_year(data, batches, person_v1_schema):
    truth = attribute_truth(data.agencies["agency-a"])
    found = attribute_exposure(batches[0].filters, person_v1_schema, truth)
    assert found.fields == ATTRIBUTE_FIELDS
    assert found.share("sex") >= 0.9 and found.segment("sex") == "sex"
    assert found.share("birth_year") >= 0.9 and found.segment("birth_year") == "birth_year"
    assert found.share("place_of_birth") >= 0.3 and found.segment("place_of_birth") == "place"
    assert found.whole_filter("sex") < 0.05  # whole filters are all but unique
    control = attribute_exposure(batches[0].filters, person_v1_schema, shuffled(truth))
    assert max(control.columns().values()) < 0.05
    assert set(found.columns("attr")) == {f"attr_{f}" for f in ATTRIBUTE_FIELDS}


def test_pair_similarities_expose_sex(data, batches):
    pairs = service_similarities(batches)
    assert pairs.records == sum(len(b) for b in batches)
    assert pairs.similarities.shape == (len(pairs.i), 6) and len(pairs.whole) == len(pairs.i)
    truth = attribute_truth(pd.concat(list(data.agencies.values()), ignore_index=True))
    found = similarity_exposure(pairs, truth)
    assert found.share("sex") >= 0.9 and found.segment("sex") == "sex"
    assert found.share("birth_year") >= 0.3
    control = similarity_exposure(pairs, shuffled(truth))
    assert max(control.columns().values()) < 0.05


def test_a_schema_without_a_sex_segment_hides_sex(data, person_v1_schema, secret):
    doc = person_v1_schema.document
    doc["fields"] = [f for f in doc["fields"] if f["name"] != "sex"]
    doc["filter"]["segments"] = [s for s in doc["filter"]["segments"] if s["name"] != "sex"]
    schema = bloom.Schema.from_dict(doc)
    register = data.agencies["agency-a"]
    filters = bloom.encode(register, schema, secret, agency="a").filters
    found = attribute_exposure(filters, schema, attribute_truth(register))
    assert found.share("sex") < 0.1 and found.share("birth_year") >= 0.9


def test_truth_of_another_length_is_refused(batches, person_v1_schema):
    with pytest.raises(ValueError, match=r"truth\['sex'\] has 2 values"):
        attribute_exposure(batches[0].filters, person_v1_schema, {"sex": np.array(["m", "f"])})
