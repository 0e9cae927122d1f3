"""The household generator: determinism, household composition, family naming, ages, twins,
and how agencies register households (missing members, members apart, relationships,
household ids, consent)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bloom
from bloom import _households
from evaluation import (
    HOUSEHOLD_COLUMNS,
    HOUSEHOLD_ROLES,
    HouseholdData,
    HouseholdRegistration,
    HouseholdShape,
    Messiness,
    MultiAgencyData,
    generate_households,
)
from evaluation._synthetic import COLUMNS

REPO = Path(__file__).resolve().parents[2]
CLEAN = Messiness.clean()
EXACT = HouseholdRegistration(
    relationship_variety=0.3, relationship_error=0.0, relationship_missing=0.0
)


@pytest.fixture(scope="module")
def data() -> HouseholdData:
    return generate_households(20_000, 3, seed=11, messiness=CLEAN)


def frames(d: HouseholdData) -> list[pd.DataFrame]:
    return [*d.agencies.values(), d.truth, d.people, d.households]


def records(d: HouseholdData) -> pd.DataFrame:
    return d.all_records().merge(d.truth, on=["agency", "record_ref"], validate="1:1")


def with_head(d: HouseholdData) -> pd.DataFrame:
    """Every person beside the true values of their household's head (``head_<column>``)."""
    heads = d.people[d.people["role"] == "head"].set_index("household")
    heads = heads[["given_name", "family_name", "father_name", "sex", "date_of_birth"]]
    people = d.people.merge(d.households, on=["household", "tradition"], validate="m:1")
    return people.join(heads.add_prefix("head_"), on="household")


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_data():
    one = generate_households(800, 3, seed=4, duplicates_within_agency=0.1)
    two = generate_households(800, 3, seed=4, duplicates_within_agency=0.1)
    for a, b in zip(frames(one), frames(two), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_another_seed_gives_other_data():
    one, two = generate_households(800, 3, seed=4), generate_households(800, 3, seed=5)
    assert not one.people.equals(two.people)
    assert not one.agencies["agency-a"].equals(two.agencies["agency-a"])


def test_another_process_with_another_hash_seed_gives_identical_data():
    code = (
        "from evaluation import generate_households; import pandas as pd;"
        "d = generate_households(500, 3, seed=3);"
        "print(int(pd.util.hash_pandas_object(d.all_records(), index=False).sum()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    here = generate_households(500, 3, seed=3).all_records()
    assert int(out.stdout) == int(pd.util.hash_pandas_object(here, index=False).sum())


# --- shape of the data ------------------------------------------------------------------------


def test_registers_have_the_person_and_household_columns_and_the_truth_every_record(data):
    assert isinstance(data, MultiAgencyData)
    assert list(data.agencies) == ["agency-a", "agency-b", "agency-c"]
    for df in data.agencies.values():
        assert list(df.columns) == ["record_ref", *COLUMNS, *HOUSEHOLD_COLUMNS]
        assert df["household_id"].notna().all() and df["record_ref"].is_unique
    assert len(data.truth) == sum(len(df) for df in data.agencies.values())
    assert set(data.truth.columns) >= {"agency", "record_ref", "entity_id", "household", "role"}
    assert len(data.people) == 20_000
    assert data.people["entity_id"].isin(data.truth["entity_id"]).all()  # everyone registered


def test_household_sizes_follow_the_shape(data):
    shape = HouseholdShape()
    sizes = data.households["size"].to_numpy()
    assert sizes.sum() == len(data.people)
    assert sizes.min() >= 1 and sizes.max() <= len(shape.sizes)
    assert abs(sizes.mean() - shape.mean_size) < 0.1
    weights = np.asarray(shape.sizes) / sum(shape.sizes)
    share = np.bincount(sizes[:-1], minlength=weights.size + 1)[1:] / (sizes.size - 1)
    np.testing.assert_allclose(share, weights, atol=0.02)
    assert sizes.mean() == pytest.approx(4.5, abs=0.15)


def test_other_sizes_are_honoured():
    d = generate_households(3000, 2, seed=1, shape=HouseholdShape(sizes=(0, 1)))
    assert set(d.households["size"]) == {2}


def test_every_household_has_one_head_listed_first_and_the_known_roles(data):
    assert set(data.people["role"]) <= set(HOUSEHOLD_ROLES)
    heads = data.people[data.people["role"] == "head"]
    assert heads["household"].is_unique and len(heads) == len(data.households)
    first = data.people.groupby("household").head(1)
    assert (first["role"] == "head").all()
    spouses = data.people[data.people["role"] == "spouse"].groupby("household").size()
    assert spouses.max() == 1
    with_spouse = spouses.size / (data.households["size"] >= 2).sum()
    assert with_spouse == pytest.approx(0.75, abs=0.03)
    shares = data.people["role"].value_counts(normalize=True)
    assert 0.45 < shares["child"] < 0.7 and shares["parent"] > 0.005 and shares["sibling"] > 0.005


def test_households_share_one_tradition(data):
    assert (data.people.groupby("household")["tradition"].nunique() == 1).all()


def test_spouses_are_of_the_other_sex_from_the_head(data):
    people = with_head(data)
    spouses = people[people["role"] == "spouse"]
    assert (spouses["sex"] != spouses["head_sex"]).all()


# --- family names -----------------------------------------------------------------------------


def test_children_of_a_male_head_bear_his_name_by_their_tradition(data):
    kids = with_head(data)
    kids = kids[(kids["role"] == "child") & (kids["head_sex"] == "M")]
    assert (kids["father_name"] == kids["head_given_name"]).all()
    patronymic = kids[kids["patronymic"]]
    assert len(patronymic) > 1000
    assert (patronymic["family_name"] == patronymic["head_father_name"]).all()
    spanish = kids[~kids["patronymic"] & (kids["tradition"] == "spanish")]
    first = spanish["head_family_name"].str.split(" ").str[0]
    assert (spanish["family_name"].str.split(" ").str[0] == first).all()
    assert spanish["family_name"].str.contains(" ").mean() > 0.5  # and their mother's
    others = kids[~kids["patronymic"] & (kids["tradition"] != "spanish")]
    assert len(others) > 1000
    assert (others["family_name"] == others["head_family_name"]).all()


def test_somali_tigrinya_and_rohingya_households_are_always_patronymic(data):
    h = data.households
    assert h.loc[h["tradition"].isin(["somali", "tigrinya", "rohingya"]), "patronymic"].all()
    assert not h.loc[h["tradition"].isin(["ukrainian", "spanish"]), "patronymic"].any()


def test_children_of_a_female_head_with_a_husband_bear_his_given_name(data):
    people = with_head(data)
    husbands = people[(people["role"] == "spouse") & (people["sex"] == "M")]
    kids = people[people["role"] == "child"].merge(
        husbands[["household", "given_name"]], on="household", suffixes=("", "_husband")
    )
    assert len(kids) > 50
    assert (kids["father_name"] == kids["given_name_husband"]).all()


def test_children_share_father_and_family_names_and_bear_distinct_given_names(data):
    kids = data.people[data.people["role"] == "child"]
    per = kids.groupby("household").agg(
        n=("given_name", "size"),
        given=("given_name", "nunique"),
        father=("father_name", "nunique"),
        family=("family_name", "nunique"),
    )
    assert (per["father"] == 1).all() and (per["family"] == 1).all()
    assert (per["given"] == per["n"]).mean() > 0.995


def test_a_heads_father_is_named_as_the_heads_father_name(data):
    people = with_head(data)
    fathers = people[(people["role"] == "parent") & (people["sex"] == "M")]
    assert len(fathers) > 20
    assert (fathers["given_name"] == fathers["head_father_name"]).all()
    siblings = people[people["role"] == "sibling"]
    assert (siblings["father_name"] == siblings["head_father_name"]).all()


# --- dates ------------------------------------------------------------------------------------


def year(column: pd.Series) -> pd.Series:
    return column.str.slice(0, 4).astype(int)


def test_children_are_15_to_45_years_younger_than_their_parents_in_the_household(data):
    people = with_head(data)
    kids = people[people["role"] == "child"]
    gap = year(kids["date_of_birth"]) - year(kids["head_date_of_birth"])
    assert gap.between(15, 45).all()
    spouses = people[people["role"] == "spouse"].set_index("household")["date_of_birth"]
    with_spouse = kids[kids["household"].isin(spouses.index)]
    gap = year(with_spouse["date_of_birth"]) - year(with_spouse["household"].map(spouses))
    assert gap.between(15, 45).all()
    parents = people[people["role"] == "parent"]
    gap = year(parents["head_date_of_birth"]) - year(parents["date_of_birth"])
    assert gap.between(15, 45).all()
    heads = people[people["role"] == "head"]
    assert (2025 - year(heads["date_of_birth"])).between(17, 87).all()


def test_twins_are_two_children_of_one_household_born_the_same_day_with_other_names(data):
    twins = data.people[data.people["twin"] >= 0]
    pairs = twins.groupby("twin").agg(
        n=("entity_id", "size"),
        household=("household", "first"),
        households=("household", "nunique"),
        dates=("date_of_birth", "nunique"),
        given=("given_name", "nunique"),
        sexes=("sex", "nunique"),
    )
    assert len(pairs) > 100
    assert (pairs["n"] == 2).all() and (pairs["households"] == 1).all()
    assert (pairs.index == pairs["household"]).all()
    assert (pairs["dates"] == 1).all() and (pairs["given"] == 2).all()
    assert (twins["role"] == "child").all()
    kids = data.people[data.people["role"] == "child"].groupby("household").size()
    assert len(pairs) / (kids >= 2).sum() == pytest.approx(0.05, abs=0.015)
    same_sex = (pairs["sexes"] == 1).mean()  # 0.6 set; half of the others by chance
    assert same_sex == pytest.approx(0.6 + 0.4 * 0.5, abs=0.1)


def test_siblings_are_born_at_least_the_birth_interval_apart_unless_twins(data):
    """Two births of one mother are MIN_BIRTH_INTERVAL (0.8 years, 292 days) apart or more:
    the non-twin children of one household, and the head and the head's siblings (dates
    estimated as 1 January left out: they lose the day)."""
    people = data.people.assign(born=pd.to_datetime(data.people["date_of_birth"]))
    people = people[~data.people["date_of_birth"].str.endswith("-01-01")]
    kids = people[people["role"] == "child"]
    pairs = kids.merge(kids, on="household")
    pairs = pairs[pairs["entity_id_x"] < pairs["entity_id_y"]]
    twins = (pairs["twin_x"] >= 0) & (pairs["twin_x"] == pairs["twin_y"])
    days = (pairs["born_x"] - pairs["born_y"]).dt.days.abs()
    assert len(pairs) > 10_000 and twins.sum() > 50
    assert (days[~twins] >= 290).all() and (days[twins] == 0).all()
    heads = people[people["role"] == "head"].set_index("household")["born"]
    sib = people[(people["role"] == "sibling") & people["household"].isin(heads.index)]
    apart = (sib["born"] - sib["household"].map(heads)).dt.days.abs()
    assert len(apart) > 100 and (apart >= 290).all()
    # spread as before otherwise: a few percent of sibling pairs born within a year and a half
    assert 0.05 < (days[~twins] < 548).mean() < 0.25


def test_a_share_of_households_have_every_date_estimated_as_1_january(data):
    january = data.people["date_of_birth"].str.endswith("-01-01")
    whole = january.groupby(data.people["household"]).all()
    assert whole.mean() == pytest.approx(0.15 + 0.2 * 0.01, abs=0.03)


# --- registrations ----------------------------------------------------------------------------


def missing_share(d: HouseholdData) -> float:
    """Of the members of households held by both of two agencies, the share of (member,
    agency) with no registration within the household there."""
    rec = records(d)
    within = rec[~rec["apart"]].groupby(["entity_id", "agency"]).size()
    people = d.people[d.people["household"].isin(d.households["household"])]
    expected = len(people) * 2
    return 1 - len(within) / expected


def test_members_are_missing_at_one_agency_at_the_configured_rate():
    r = HouseholdRegistration(missing_member=0.2, registered_apart=0.0)
    d = generate_households(20_000, 2, overlap=1.0, seed=2, messiness=CLEAN, registration=r)
    # missing at both agencies happens with 0.2 ** 2, and then the person is put back at one
    assert missing_share(d) == pytest.approx(0.2 - 0.2**2 / 2, abs=0.01)
    none = generate_households(
        5000,
        2,
        overlap=1.0,
        seed=2,
        messiness=CLEAN,
        registration=dataclasses.replace(r, missing_member=0.0),
    )
    assert missing_share(none) == 0


def test_members_are_registered_apart_at_the_configured_rate_alone_or_elsewhere():
    r = HouseholdRegistration(missing_member=0.0, registered_apart=0.1, apart_alone=0.5)
    d = generate_households(20_000, 3, seed=3, messiness=CLEAN, registration=r)
    rec = records(d)
    sizes = d.households.set_index("household")["size"]
    eligible = d.people[d.people["household"].map(sizes) >= 2]
    apart = rec.loc[rec["apart"], "entity_id"]
    assert apart.is_unique
    assert apart.isin(eligible["entity_id"]).all()
    assert len(apart) / len(eligible) == pytest.approx(0.1, abs=0.01)
    # an apart record's household id at its agency is never its own household's there
    mine = rec[~rec["apart"]][["agency", "household", "household_id"]].drop_duplicates()
    away = rec[rec["apart"]].merge(
        mine, on=["agency", "household"], how="left", suffixes=("", "_own")
    )
    assert (away["household_id"] != away["household_id_own"]).all()
    group = rec.groupby(["agency", "household_id"])["entity_id"].transform("size")
    alone = (group[rec["apart"]] == 1).mean()
    assert alone == pytest.approx(0.5, abs=0.05)


def test_household_ids_are_each_agencys_own(data):
    rec = records(data)
    within = rec[~rec["apart"]]
    per = within.groupby(["agency", "household"])["household_id"].nunique()
    assert (per == 1).all()  # one id per household at an agency
    back = within.groupby(["agency", "household_id"])["household"].nunique()
    assert (back == 1).all()  # and one household per id
    prefixes = {a: set(df["household_id"].str[:2]) for a, df in data.agencies.items()}
    assert prefixes["agency-a"] == {"HH"} and prefixes["agency-b"] == {"FA"}
    ids = within.drop_duplicates(["agency", "household"]).pivot(
        index="household", columns="agency", values="household_id"
    )
    both = ids.dropna(subset=["agency-a", "agency-c"])
    number_a = both["agency-a"].str.extract(r"(\d+)")[0].astype(int)
    number_c = both["agency-c"].str.extract(r"(\d+)")[0].astype(int)
    assert abs(np.corrcoef(number_a, number_c)[0, 1]) < 0.1


def test_every_written_relationship_is_understood_by_bloom_and_says_the_role():
    r = dataclasses.replace(EXACT, missing_member=0.0, registered_apart=0.0)
    d = generate_households(5000, 3, seed=6, messiness=CLEAN, registration=r)
    rec = records(d)
    codes, unknown = _households.relationship_codes(rec["relationship"].tolist())
    assert unknown.size == 0 and (codes >= 0).all()
    assert HOUSEHOLD_ROLES == _households.RELATIONSHIPS
    assert (np.array(HOUSEHOLD_ROLES)[codes] == rec["role"].to_numpy()).all()
    assert rec["relationship"].nunique() > 30  # styles, sexes and cases


def test_each_household_at_each_agency_has_one_head_written():
    r = dataclasses.replace(EXACT, missing_member=0.3, registered_apart=0.1)
    d = generate_households(10_000, 3, seed=7, messiness=CLEAN, registration=r)
    rec = records(d)
    codes, _ = _households.relationship_codes(rec["relationship"].tolist())
    rec["written"] = np.array(HOUSEHOLD_ROLES)[codes]
    heads = rec.assign(head=rec["written"] == "head").groupby(["agency", "household_id"])["head"]
    assert (heads.sum() == 1).all()
    promoted = rec[(rec["written"] == "head") & (rec["role"] != "head") & ~rec["apart"]]
    assert len(promoted) > 100 and set(promoted["role"]) <= {
        "spouse",
        "child",
        "parent",
        "sibling",
        "other",
    }


def test_relationships_have_errors_and_gaps_at_the_configured_rates():
    r = HouseholdRegistration(
        missing_member=0.0, registered_apart=0.0, relationship_error=0.1, relationship_missing=0.05
    )
    d = generate_households(10_000, 3, seed=8, messiness=CLEAN, registration=r)
    rec = records(d)
    assert rec["relationship"].isna().mean() == pytest.approx(0.05, abs=0.01)
    given = rec[rec["relationship"].notna()]
    codes, _ = _households.relationship_codes(given["relationship"].tolist())
    wrong = (np.array(HOUSEHOLD_ROLES)[codes] != given["role"].to_numpy()).mean()
    assert wrong == pytest.approx(0.1, abs=0.015)


def test_consent_scopes_are_drawn_with_their_shares(data):
    rec = data.all_records()
    scopes = rec["consent"].map(_households.split_scopes)
    assert (rec["consent"] == scopes.map(_households.join_scopes)).all()  # the stored form
    assert scopes.map(lambda s: "tracing" in s).mean() == pytest.approx(0.9, abs=0.01)
    assert scopes.map(lambda s: "coordination" in s).mean() == pytest.approx(0.7, abs=0.01)
    r = HouseholdRegistration(consent={"tracing": 0.5, "health-data": 0.2})
    other = generate_households(3000, 2, seed=1, registration=r).all_records()["consent"]
    assert set(other) == {"", "tracing", "health-data", "health-data tracing"}
    assert other.str.contains("tracing").mean() == pytest.approx(0.5, abs=0.03)


def test_registrations_are_corrupted_by_messiness():
    d = generate_households(3000, 2, seed=9)
    rec = records(d).merge(d.people, on="entity_id", suffixes=("", "_true"))
    assert (rec["given_name"] != rec["given_name_true"]).mean() > 0.1
    assert rec["date_of_birth"].isna().mean() > 0.005
    clean = generate_households(3000, 2, seed=9, messiness=CLEAN)
    rec = records(clean).merge(clean.people, on="entity_id", suffixes=("", "_true"))
    assert (rec["given_name"] == rec["given_name_true"]).all()


def test_duplicates_within_an_agency_share_household_and_relationship():
    d = generate_households(3000, 2, seed=10, duplicates_within_agency=0.2, messiness=CLEAN)
    rec = records(d)
    dup = rec[rec.duplicated(["agency", "entity_id"], keep=False)]
    assert len(dup) > 0.2 * len(rec)
    per = dup.groupby(["agency", "entity_id"]).agg(
        ids=("household_id", "nunique"), rel=("relationship", "nunique")
    )
    assert (per["ids"] == 1).mean() > 0.99


def test_two_agency_view_pairs_a_persons_records():
    d = generate_households(2000, 3, seed=12)
    two = d.two_agency("agency-a", "agency-b")
    assert len(two.true_pairs) > 100
    ent = d.truth.set_index(["agency", "record_ref"])["entity_id"]
    a = ent.loc[list(zip(["agency-a"] * len(two.true_pairs), two.true_pairs["ref_a"], strict=True))]
    b = ent.loc[list(zip(["agency-b"] * len(two.true_pairs), two.true_pairs["ref_b"], strict=True))]
    assert (a.to_numpy() == b.to_numpy()).all()


# --- bad input --------------------------------------------------------------------------------


def test_bad_parameters_are_all_named_in_one_error():
    with pytest.raises(ValueError) as e:
        generate_households(
            0,
            shape=HouseholdShape(spouse=1.5, sizes=()),
            registration=HouseholdRegistration(missing_member=-1, consent={"Tracing!": 0.5}),
            common_names=0,
        )
    text = str(e.value)
    for part in ("n_people", "spouse", "sizes", "missing_member", "consent", "common_names"):
        assert part in text


def test_a_shape_that_is_no_shape_is_refused():
    with pytest.raises(ValueError, match="shape must be a HouseholdShape"):
        generate_households(100, shape={"sizes": (1,)})  # type: ignore[arg-type]


def test_the_registers_encode_with_the_person_schema():
    d = generate_households(400, 2, seed=13)
    secret = bloom.Secret(bytes(range(32)))
    for name, df in d.agencies.items():
        batch = bloom.encode(
            df, bloom.Schema.load("person"), secret, agency=name, id_column="record_ref"
        )
        assert (batch.record_refs == df["record_ref"].to_numpy()).all()
