"""Sought families for tracing queries: who is sought, how the tracer writes them, the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bloom import _households
from evaluation import (
    HOUSEHOLD_ROLES,
    TRACER_MESSINESS,
    HouseholdData,
    Messiness,
    SoughtFamilies,
    generate_households,
    sought_families,
)
from evaluation._synthetic import COLUMNS


@pytest.fixture(scope="module")
def data() -> HouseholdData:
    return generate_households(6000, 3, seed=21)


@pytest.fixture(scope="module")
def sought(data) -> SoughtFamilies:
    return sought_families(data, 300, seed=2)


def test_same_seed_same_requests_another_seed_others(data, sought):
    again = sought_families(data, 300, seed=2)
    pd.testing.assert_frame_equal(sought.queries, again.queries)
    pd.testing.assert_frame_equal(sought.truth, again.truth)
    other = sought_families(data, 300, seed=3)
    assert not other.truth["entity_id"].equals(sought.truth["entity_id"])


def test_queries_have_the_register_columns_and_one_truth_row_each(sought):
    q, t = sought.queries, sought.truth
    assert list(q.columns) == ["record_ref", *COLUMNS, "household_id", "relationship"]
    assert q["record_ref"].is_unique and (q["record_ref"] == t["record_ref"]).all()
    assert (q["household_id"] == t["household_id"]).all()
    assert q["household_id"].nunique() == 300
    assert (q["record_ref"].str.split("-").str[0] == q["household_id"]).all()


def test_each_request_is_part_of_one_true_household_with_at_least_two_members(data, sought):
    t = sought.truth
    assert (t.groupby("household_id")["household"].nunique() == 1).all()
    assert t.groupby("household")["household_id"].nunique().max() == 1
    assert (t.groupby("household_id").size() >= 2).all()
    people = data.people.set_index("entity_id")
    assert (people.loc[t["entity_id"], "household"].to_numpy() == t["household"]).all()
    assert (people.loc[t["entity_id"], "role"].to_numpy() == t["role"]).all()
    sizes = data.households.set_index("household")["size"]
    sought_share = len(t) / sizes.loc[t["household"].unique()].sum()
    assert sought_share == pytest.approx(0.8, abs=0.05)  # some members unknown to the tracer


def test_the_truth_counts_each_persons_registrations_and_those_open_to_tracing(data, sought):
    t = sought.truth
    records = data.all_records().merge(data.truth, on=["agency", "record_ref"])
    per = records.groupby("entity_id").size()
    assert (t["registrations"].to_numpy() == per.loc[t["entity_id"]].to_numpy()).all()
    assert (t["tracing_registrations"] <= t["registrations"]).all()
    assert (t["registrations"] >= 1).all()
    assert t["tracing_registrations"].sum() / t["registrations"].sum() == pytest.approx(
        0.9, abs=0.03
    )


def test_relationships_are_written_to_the_head_and_understood_by_bloom(sought):
    codes, unknown = _households.relationship_codes(sought.queries["relationship"].tolist())
    written = np.where(codes >= 0, np.array(HOUSEHOLD_ROLES)[codes], None)
    given = codes >= 0
    assert unknown.size == 0
    right = written[given] == sought.truth["role"].to_numpy()[given]
    assert right.mean() > 0.95


def test_a_tracer_writes_less_and_noisier_than_a_register(data, sought):
    q = sought.queries
    people = data.people.set_index("entity_id").loc[sought.truth["entity_id"]]
    registered = data.all_records()
    assert q["date_of_birth"].isna().mean() > registered["date_of_birth"].isna().mean() + 0.05
    assert q["place_of_birth"].isna().mean() > 0.4
    assert q["father_name"].isna().mean() > registered["father_name"].isna().mean() + 0.05
    exact = (q["given_name"].to_numpy() == people["given_name"].to_numpy()).mean()
    assert 0.4 < exact < 0.9
    clean = sought_families(data, 50, seed=2, messiness=Messiness.clean(), known=1.0)
    truth = data.people.set_index("entity_id").loc[clean.truth["entity_id"]]
    for column in COLUMNS:
        assert (clean.queries[column].to_numpy() == truth[column].to_numpy()).all()
    assert TRACER_MESSINESS.date_missing > Messiness().date_missing


def test_everyone_known_gives_whole_households(data):
    s = sought_families(data, 40, seed=5, known=1.0, min_size=4)
    sizes = data.households.set_index("household")["size"]
    per = s.truth.groupby("household").size()
    assert (per.to_numpy() == sizes.loc[per.index].to_numpy()).all()
    assert (per >= 4).all()


def test_bad_requests_are_refused_with_every_problem():
    d = generate_households(300, 2, seed=1)
    with pytest.raises(ValueError) as e:
        sought_families(d, 0, known=2.0, min_size=1, seed=-1)
    for part in ("n_families", "known", "min_size", "seed"):
        assert part in str(e.value)
    with pytest.raises(ValueError, match="ask for fewer families"):
        sought_families(d, 10_000)
