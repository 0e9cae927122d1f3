"""The synthetic multi-agency generator: determinism, truth, overlap, corruptions, bad input."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import jellyfish
import numpy as np
import pandas as pd
import pytest

import bloom
from evaluation import _spelling as sp
from evaluation._datasets import MultiAgencyData, TwoAgencyData
from evaluation._synthetic import (
    COLUMNS,
    DEFAULT_TRADITION_MIX,
    Messiness,
    SyntheticData,
    generate,
    name_table,
)

CLEAN = Messiness.clean()
NAMES = ("given_name", "family_name", "father_name")
REPO = Path(__file__).resolve().parents[2]


def only(**probabilities: float) -> Messiness:
    return dataclasses.replace(CLEAN, **probabilities)


def with_truth(data: SyntheticData) -> pd.DataFrame:
    """Every record beside its person's true values (columns ``true_<column>``)."""
    truth = data.people.rename(columns={c: f"true_{c}" for c in COLUMNS})
    records = data.all_records().merge(data.truth, on=["agency", "record_ref"], validate="1:1")
    return records.merge(truth, on="entity_id", validate="m:1")


def frames(data: SyntheticData) -> list[pd.DataFrame]:
    return [*data.agencies.values(), data.truth, data.people]


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_data():
    one = generate(300, 3, seed=5, duplicates_within_agency=0.2)
    two = generate(300, 3, seed=5, duplicates_within_agency=0.2)
    assert list(one.agencies) == list(two.agencies)
    for a, b in zip(frames(one), frames(two), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_another_seed_gives_other_data():
    one, two = generate(300, 3, seed=5), generate(300, 3, seed=6)
    assert not one.people.equals(two.people)
    assert not one.agencies["agency-a"].equals(two.agencies["agency-a"])


def digest(data: SyntheticData) -> int:
    return int(pd.util.hash_pandas_object(data.all_records(), index=False).sum())


def test_another_process_with_another_hash_seed_gives_identical_data():
    code = (
        "from evaluation._synthetic import generate; import pandas as pd;"
        "d = generate(400, 3, seed=3);"
        "print(int(pd.util.hash_pandas_object(d.all_records(), index=False).sum()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == digest(generate(400, 3, seed=3))


# --- ground truth -----------------------------------------------------------------------------


def test_truth_lists_every_record_exactly_once():
    data = generate(800, 3, seed=1, duplicates_within_agency=0.1)
    assert isinstance(data, MultiAgencyData)
    assert list(data.agencies) == ["agency-a", "agency-b", "agency-c"]
    held = {(a, r) for a, df in data.agencies.items() for r in df["record_ref"]}
    assert len(held) == sum(len(df) for df in data.agencies.values())
    assert not data.truth.duplicated(["agency", "record_ref"]).any()
    assert set(zip(data.truth["agency"], data.truth["record_ref"], strict=True)) == held
    # entity ids are the people: every person is held somewhere, nobody else is
    assert set(data.truth["entity_id"]) == set(data.people["entity_id"]) == set(range(800))
    for k, (name, df) in enumerate(data.agencies.items(), start=1):
        assert list(df.columns) == ["record_ref", *COLUMNS]
        assert df["record_ref"].str.fullmatch(rf"A{k}-\d{{6}}").all(), name


def test_record_refs_do_not_follow_the_people():
    data = generate(2000, 1, seed=2)
    entity = data.truth["entity_id"].to_numpy()
    assert abs(np.corrcoef(np.arange(entity.size), entity)[0, 1]) < 0.1


def test_clean_registrations_equal_the_truth():
    data = generate(600, 3, seed=4, messiness=CLEAN, duplicates_within_agency=0.3)
    r = with_truth(data)
    for c in COLUMNS:
        assert r[c].equals(r[f"true_{c}"]), c
    assert r["date_of_birth"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert set(r["sex"]) == {"F", "M"}


def tiny() -> SyntheticData:
    regs = {
        "a": pd.DataFrame({"record_ref": ["a1", "a2", "a3"]}),
        "b": pd.DataFrame({"record_ref": ["b1", "b2", "b3"]}),
    }
    truth = pd.DataFrame(
        {
            "agency": ["a", "a", "a", "b", "b", "b"],
            "record_ref": ["a1", "a2", "a3", "b1", "b2", "b3"],
            "entity_id": [1, 2, 1, 2, 1, 3],
        }
    )
    return SyntheticData(agencies=regs, truth=truth, people=pd.DataFrame({"entity_id": [1, 2, 3]}))


def test_true_pairs_on_a_hand_checked_case():
    data = tiny()
    pairs = data.true_pairs("a", "b")
    assert list(pairs.itertuples(index=False, name=None)) == [
        ("a1", "b2"),
        ("a2", "b1"),
        ("a3", "b2"),
    ]
    assert list(data.true_pairs("b", "a").itertuples(index=False, name=None)) == [
        ("b1", "a2"),
        ("b2", "a1"),
        ("b2", "a3"),
    ]
    assert list(data.true_pairs("a", "a").itertuples(index=False, name=None)) == [("a1", "a3")]
    assert data.true_pairs("b", "b").empty
    with pytest.raises(ValueError, match="'c'"):
        data.true_pairs("a", "c")


def test_true_pairs_are_exactly_the_same_entity_pairs():
    data = generate(700, 3, seed=8, duplicates_within_agency=0.2)
    pairs = data.true_pairs("agency-a", "agency-c")
    entity = dict(zip(data.truth["record_ref"], data.truth["entity_id"], strict=True))
    assert (pairs["ref_a"].map(entity) == pairs["ref_b"].map(entity)).all()
    counts = data.truth.groupby(["entity_id", "agency"]).size().unstack(fill_value=0)
    assert len(pairs) == int((counts["agency-a"] * counts["agency-c"]).sum())
    two = data.two_agency("agency-a", "agency-c")
    assert isinstance(two, TwoAgencyData)
    assert two.a is data.agencies["agency-a"] and two.true_pairs.equals(pairs)


def test_all_records_and_csv_files(tmp_path):
    data = generate(200, 2, seed=9)
    stacked = data.all_records()
    assert list(stacked.columns) == ["agency", "record_ref", *COLUMNS]
    assert len(stacked) == len(data.truth)
    paths = data.to_csv(tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["agency-a.csv", "agency-b.csv", "truth.csv"]
    back = pd.read_csv(paths["agency-a"], dtype=str, keep_default_na=False)
    expected = data.agencies["agency-a"].fillna("")
    pd.testing.assert_frame_equal(back, expected)
    assert pd.read_csv(paths["truth"]).equals(data.truth)


# --- who holds whom ---------------------------------------------------------------------------


def held_by(data: SyntheticData) -> pd.Series:
    return data.truth.groupby("entity_id")["agency"].nunique()


@pytest.mark.parametrize("p", [0.3, 0.8])
def test_overlap_sets_the_share_of_people_in_several_agencies(p):
    n, k = 6000, 3
    counts = held_by(generate(n, k, overlap=p, seed=11, messiness=CLEAN))
    none, one = (1 - p) ** k, k * p * (1 - p) ** (k - 1)
    several = (1 - none - one) / (1 - none)
    assert abs((counts >= 2).mean() - several) < 4 * np.sqrt(several * (1 - several) / n)
    assert counts.between(1, k).all()


def test_overlap_per_agency():
    data = generate(3000, 3, overlap=[1.0, 0.0, 0.5], seed=12, messiness=CLEAN)
    assert len(data.agencies["agency-a"]) == 3000
    assert data.agencies["agency-b"].empty
    assert list(data.agencies["agency-b"].columns) == ["record_ref", *COLUMNS]
    assert abs(len(data.agencies["agency-c"]) / 3000 - 0.5) < 0.04
    full = generate(500, 4, overlap=1.0, seed=12)
    assert all(len(df) == 500 for df in full.agencies.values())


def test_default_overlap_puts_many_people_in_two_or_three_agencies():
    share = held_by(generate(5000, seed=13)).value_counts(normalize=True)
    assert 0.25 < share[1] < 0.37 and share[2] > 0.4 and share[3] > 0.18


def test_duplicates_within_agency():
    data = generate(2000, 2, overlap=1.0, seed=14, duplicates_within_agency=0.5)
    per_agency = data.truth.groupby(["agency", "entity_id"]).size()
    assert per_agency.max() == 2
    assert abs((per_agency == 2).mean() - 0.5) < 0.04
    dups = data.true_pairs("agency-a", "agency-a")
    assert len(dups) == int((per_agency.loc["agency-a"] == 2).sum())
    none = generate(2000, 2, overlap=1.0, seed=14)
    assert none.truth.groupby(["agency", "entity_id"]).size().max() == 1


# --- corruptions ------------------------------------------------------------------------------


def squeeze(text: str) -> str:
    return re.sub(r"(.)\1+", r"\1", text.lower())


def check_transliteration(r: pd.DataFrame) -> None:
    for col in (*NAMES, "place_of_birth"):
        for trad, got, true in zip(r["tradition"], r[col], r[f"true_{col}"], strict=True):
            others = dict(sp.transliteration_alternatives(trad, true))
            assert got in others if others else got == true, (col, true, got)
    assert (r["given_name"] != r["true_given_name"]).mean() > 0.5


def check_surname(r: pd.DataFrame) -> None:
    double = (r["tradition"] == "spanish") & r["true_family_name"].str.contains(" ")
    assert double.sum() > 50
    assert r["family_name"].equals(
        r["true_family_name"].where(~double, r["true_family_name"].str.split(" ").str[0])
    )


def check_swap(r: pd.DataFrame) -> None:
    assert r["given_name"].equals(r["true_family_name"])
    assert r["family_name"].equals(r["true_given_name"])


def check_double(r: pd.DataFrame) -> None:
    for col in NAMES:
        for got, true in zip(r[col], r[f"true_{col}"], strict=True):
            assert got != true and squeeze(got) == squeeze(true), (true, got)


def check_typo(r: pd.DataFrame) -> None:
    for col in NAMES:
        for got, true in zip(r[col], r[f"true_{col}"], strict=True):
            assert got != true and got == got.title(), (true, got)
            assert jellyfish.damerau_levenshtein_distance(got.lower(), true.lower()) == 1


def check_missing(col: str):
    def check(r: pd.DataFrame) -> None:
        assert r[col].isna().all()

    return check


def check_age(r: pd.DataFrame) -> None:
    got, true = pd.to_datetime(r["date_of_birth"]), pd.to_datetime(r["true_date_of_birth"])
    assert ((got.dt.year - true.dt.year).abs() == 1).all()
    assert (got.dt.month == true.dt.month).all()
    feb29 = (true.dt.month == 2) & (true.dt.day == 29)
    assert (got.dt.day == true.dt.day)[~feb29].all()


def check_day_month(r: pd.DataFrame) -> None:
    got, true = pd.to_datetime(r["date_of_birth"]), pd.to_datetime(r["true_date_of_birth"])
    swapped = (true.dt.day <= 12) & (true.dt.day != true.dt.month)
    assert swapped.mean() > 0.25
    assert (got.dt.month == true.dt.day.where(swapped, true.dt.month)).all()
    assert (got.dt.day == true.dt.month.where(swapped, true.dt.day)).all()


def check_year_only(bare: bool):
    def check(r: pd.DataFrame) -> None:
        years = r["true_date_of_birth"].str[:4]
        assert r["date_of_birth"].equals(years if bare else years + "-01-01")

    return check


CORRUPTIONS = {
    "transliteration": (
        {"transliteration": 1.0},
        (*NAMES, "place_of_birth"),
        check_transliteration,
    ),
    "second_surname": ({"second_surname_dropped": 1.0}, ("family_name",), check_surname),
    "swap": ({"name_swap": 1.0}, ("given_name", "family_name"), check_swap),
    "double_letter": ({"double_letter": 1.0}, NAMES, check_double),
    "typo": ({"typo": 1.0}, NAMES, check_typo),
    "father_missing": ({"father_missing": 1.0}, ("father_name",), check_missing("father_name")),
    "place_missing": ({"place_missing": 1.0}, ("place_of_birth",), check_missing("place_of_birth")),
    "sex_missing": ({"sex_missing": 1.0}, ("sex",), check_missing("sex")),
    "date_missing": ({"date_missing": 1.0}, ("date_of_birth",), check_missing("date_of_birth")),
    "age_estimate": ({"age_estimate": 1.0}, ("date_of_birth",), check_age),
    "day_month_swap": ({"day_month_swap": 1.0}, ("date_of_birth",), check_day_month),
    "year_only": ({"year_only": 1.0}, ("date_of_birth",), check_year_only(bare=False)),
    "bare_year": ({"year_only": 1.0, "bare_year": 1.0}, ("date_of_birth",), check_year_only(True)),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_alone_does_what_it_says(name):
    probabilities, affected, check = CORRUPTIONS[name]
    data = generate(1500, 2, overlap=1.0, seed=21, messiness=only(**probabilities))
    r = with_truth(data)
    check(r)
    for col in set(COLUMNS) - set(affected):
        assert r[col].equals(r[f"true_{col}"]), col


def test_default_messiness_rates():
    r = with_truth(generate(5000, 2, overlap=1.0, seed=22))
    m, n = Messiness(), len(r)

    def near(share: float, p: float) -> bool:
        return abs(share - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9

    assert near(r["father_name"].isna().mean(), m.father_missing)
    assert near(r["place_of_birth"].isna().mean(), m.place_missing)
    assert near(r["sex"].isna().mean(), m.sex_missing)
    assert near(
        r["date_of_birth"].str.len().eq(4).mean(), m.year_only * m.bare_year * (1 - m.date_missing)
    )
    differ = (r["given_name"] != r["true_given_name"]).mean()
    assert 0.1 < differ < 0.4


def test_scaled_messiness():
    m = Messiness()
    assert m.scaled(1) == m
    zero = m.scaled(0)
    assert all(getattr(zero, f.name) == 0 for f in dataclasses.fields(m) if f.name != "bare_year")
    assert zero.bare_year == m.bare_year and m.scaled(2).typo == 2 * m.typo
    assert all(
        getattr(m.scaled(100), f.name) == 1.0
        for f in dataclasses.fields(m)
        if f.name != "bare_year"
    )
    changed = []
    for factor in (0, 0.5, 1, 2, 4):
        r = with_truth(generate(1500, 2, overlap=1.0, seed=23, messiness=m.scaled(factor)))
        changed.append(np.mean([(r[c] != r[f"true_{c}"]).mean() for c in COLUMNS]))
    assert changed[0] == 0 and changed == sorted(changed) and changed[-1] > 2 * changed[2]


# --- the people -------------------------------------------------------------------------------


def test_people_ages_and_traditions():
    people = generate(20_000, 1, seed=24, messiness=CLEAN).people
    born = pd.to_datetime(people["date_of_birth"])
    age = (pd.Timestamp("2025-01-01") - born).dt.days / 365.2425
    assert age.min() >= 0 and age.max() < 91
    assert 0.4 < (age < 18).mean() < 0.6 and 0.03 < (age >= 60).mean() < 0.12
    share = people["tradition"].value_counts(normalize=True)
    for tradition, p in DEFAULT_TRADITION_MIX.items():
        assert abs(share[tradition] - p) < 0.015, tradition
    assert 0.45 < (people["sex"] == "F").mean() < 0.55


def test_tradition_mix_and_patronymic_family_names():
    people = generate(2000, 1, seed=25, tradition_mix={"somali": 1.0}).people
    assert set(people["tradition"]) == {"somali"}
    males = set(name_table().query("tradition == 'somali' and kind == 'given_male'")["name"])
    assert set(people["family_name"]) <= males and set(people["father_name"]) <= males
    spanish = generate(2000, 1, seed=25, tradition_mix={"spanish": 1}).people
    assert 0.65 < spanish["family_name"].str.contains(" ").mean() < 0.85


def test_common_names_draw_every_name_from_the_most_frequent_of_its_list():
    """The namesake-heavy mode: each person's true names come from the first few names of
    each list by frequency, so thousands share a name; corruption still varies spellings."""
    people = generate(3000, 1, seed=27, tradition_mix={"somali": 1.0}, common_names=5).people
    table = name_table().query("tradition == 'somali'")
    top = {
        kind: set(table[table["kind"] == kind].nlargest(5, "frequency")["name"])
        for kind in ("given_female", "given_male")
    }
    assert set(people["given_name"]) <= top["given_female"] | top["given_male"]
    assert set(people["father_name"].dropna()) <= top["given_male"]
    assert people["given_name"].value_counts().iloc[0] > 3000 / 20
    whole = generate(3000, 1, seed=27, tradition_mix={"somali": 1.0}).people
    assert whole["given_name"].nunique() > 2 * people["given_name"].nunique()


def test_encodes_with_the_shipped_person_schema(person_schema, secret):
    data = generate(400, 2, overlap=1.0, seed=26)
    a, b = (
        bloom.encode(df, person_schema, secret, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    )
    assert len(a) == len(data.agencies["agency-a"]) and len(b) == len(data.agencies["agency-b"])
    index_a = {r: i for i, r in enumerate(a.record_refs)}
    index_b = {r: i for i, r in enumerate(b.record_refs)}
    pairs = data.true_pairs("agency-a", "agency-b")
    fa, fb = a.filters[pairs["ref_a"].map(index_a)], b.filters[pairs["ref_b"].map(index_b)]
    rb = b.filters[np.random.default_rng(0).permutation(len(pairs["ref_b"]))]

    def dice(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        both = np.bitwise_count(x & y).sum(axis=1)
        return 2 * both / (np.bitwise_count(x).sum(axis=1) + np.bitwise_count(y).sum(axis=1))

    assert np.median(dice(fa, fb)) > np.median(dice(fa, rb)) + 0.3


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"n_people": 0}, "n_people"),
        ({"n_people": 2.5}, "n_people"),
        ({"n_agencies": 0}, "n_agencies"),
        ({"overlap": 1.5}, "overlap"),
        ({"overlap": -0.1}, "overlap"),
        ({"overlap": 0.0}, "overlap"),
        ({"overlap": [0.5, 0.5]}, "overlap"),
        ({"duplicates_within_agency": 2.0}, "duplicates_within_agency"),
        ({"seed": -1}, "seed"),
        ({"tradition_mix": {"klingon": 1.0}}, "tradition_mix"),
        ({"tradition_mix": {"somali": 0.0}}, "tradition_mix"),
        ({"messiness": {"typo": 0.1}}, "messiness"),
        ({"common_names": 0}, "common_names"),
        ({"common_names": 2.5}, "common_names"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, named):
    args = {"n_people": 10, "n_agencies": 3, **kwargs}
    with pytest.raises(ValueError, match=named):
        generate(**args)


def test_every_bad_parameter_in_one_error():
    with pytest.raises(ValueError) as info:
        generate(0, 0, overlap=7, duplicates_within_agency=-1)
    for named in ("n_people", "n_agencies", "overlap", "duplicates_within_agency"):
        assert named in str(info.value)


@pytest.mark.parametrize("value", [1.2, -0.1, float("nan"), "0.5", True])
def test_bad_messiness_names_the_field(value):
    with pytest.raises(ValueError, match="typo"):
        Messiness(typo=value)
    with pytest.raises(ValueError, match="factor"):
        Messiness().scaled(-1)
