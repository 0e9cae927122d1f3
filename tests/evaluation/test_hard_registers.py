"""The hard-register generator: determinism, truth, families and twins, its error model."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation._hard_registers import COLUMNS, PRESETS, HardParams, generate_hard
from evaluation._hard_registers_names import INVENTORIES, SCHEMES, romanise

SMALL = {"families": 120}


@pytest.fixture(scope="module")
def moderate():
    return generate_hard("moderate", **SMALL)


def test_same_parameters_give_identical_registers(moderate):
    again = generate_hard("moderate", **SMALL)
    for name, df in moderate.agencies.items():
        pd.testing.assert_frame_equal(df, again.agencies[name])
    pd.testing.assert_frame_equal(moderate.truth, again.truth)


def test_presets_differ_in_seed_and_rates_and_give_other_data(moderate):
    a, b = PRESETS["moderate"], PRESETS["heavy"]
    assert a.seed != b.seed and a.swap != b.swap and a.agencies != b.agencies
    heavy = generate_hard("heavy", **SMALL)
    assert len(heavy.agencies) == b.agencies
    assert not moderate.agencies["agency-a"].equals(heavy.agencies["agency-a"])


def test_truth_names_every_record_once_and_each_person_once_per_agency(moderate):
    truth = moderate.truth
    assert not truth.duplicated(["agency", "record_ref"]).any()
    assert not truth.duplicated(["agency", "entity_id"]).any()
    assert set(truth["entity_id"]) <= set(moderate.people["entity_id"])
    for name, df in moderate.agencies.items():
        assert list(df.columns) == ["record_ref", *COLUMNS]
        assert set(df["record_ref"]) == set(truth.loc[truth["agency"] == name, "record_ref"])
    assert set(moderate.facts["record_ref"]) == set(truth["record_ref"])


def test_namesakes_families_and_twins(moderate):
    people = moderate.people
    # a few hundred shared names: many people per (given, family) name
    assert people.groupby(["given", "family"]).size().max() >= 5
    twins = people.index[people["twin_of_previous"]]
    assert len(twins) > 0
    for i in twins:
        one, other = people.loc[i - 1], people.loc[i]
        assert one["family_id"] == other["family_id"] and one["family"] == other["family"]
        assert (one["year"], one["month"], one["day"]) == (
            other["year"],
            other["month"],
            other["day"],
        )


def test_one_name_is_written_several_ways_across_agencies(moderate):
    records = pd.concat(list(moderate.agencies.values()), ignore_index=True)
    records = records.merge(moderate.truth, on="record_ref")
    spellings = records.groupby("entity_id")["given_name"].agg(lambda s: s.str.lower().nunique())
    assert (spellings > 1).mean() > 0.3


def test_the_error_model_rates_show_in_the_facts():
    data = generate_hard(
        HardParams(
            families=300,
            swap=0.5,
            undocumented=0.0,
            default_date=0.0,
            day_missing=0.0,
            family_is_father=0.0,
            seed=3,
        )
    )
    facts = data.facts
    assert 0.4 < facts["swapped"].mean() < 0.6
    assert (facts["date_kind"] == "full").all()
    none = generate_hard(HardParams(families=100, swap=0.0, undocumented=1.0, seed=3)).facts
    assert not none["swapped"].any()
    assert set(none["date_kind"]) <= {"default", "bare_year"}


def test_estimated_and_default_dates_are_written_as_registers_write_them(moderate):
    dates = pd.concat([df["date_of_birth"] for df in moderate.agencies.values()]).dropna()
    forms = {
        "iso": r"\d{4}-\d{2}-\d{2}",
        "dmy": r"\d{2}/\d{2}/\d{4}",
        "bare": r"\d{4}",
        "no_day": r"\d{4}-\d{2}|\d{2}/\d{4}",
    }
    kinds = {k: dates.str.fullmatch(p).sum() for k, p in forms.items()}
    assert all(kinds.values())
    assert sum(kinds.values()) == len(dates)
    jan1 = dates.str.fullmatch(r"\d{4}-01-01|01/01/\d{4}").mean()
    assert jan1 > 0.15  # far above 1/365: the registers' default date


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="swap"):
        HardParams(swap=1.5)
    with pytest.raises(ValueError):
        HardParams(agencies=1)


_CANONICAL = [n for inv in INVENTORIES.values() for table in inv.values() for n, _ in table]


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(_CANONICAL), scheme=st.sampled_from(SCHEMES), seed=st.integers(0, 999))
def test_romanisation_gives_plain_latin_text(name, scheme, seed):
    text = romanise(name, scheme, np.random.default_rng(seed))
    assert text and re.fullmatch(r"[a-z' \-]+", text)
    assert "{" not in text and text == text.strip(" -")


def test_every_scheme_spells_every_sound_class():
    classes = {c for n in _CANONICAL for c in re.findall(r"\{(\w+)\}", n)} - {"art", "sep"}
    for scheme in SCHEMES:
        assert classes <= set(scheme.classes), scheme.name
        for options in scheme.classes.values():
            assert abs(sum(p for _, p in options) - 1) < 1e-9


def test_recall_options_turn_person_into_the_person_recall_proposal():
    from importlib import resources

    import bloom
    from evaluation._hard_registers_eval import load_schema

    shipped = resources.files("bloom.schemas").joinpath("person-recall.json")
    assert load_schema("person-v1+recall") == bloom.Schema.load(shipped)
    hardened = bloom.Schema.load("person")  # revision 2, the default: v2 with the options,
    options = load_schema("person-v2+recall")  # the place hashed into name_year
    assert [f.name for f in hardened.fields] == [f.name for f in options.fields]
    assert options.field("place_of_birth").segment == "place"
    assert hardened.field("place_of_birth").segment == "name_year"
    assert hardened.field("father_in_name").segment == "name"
    assert hardened.field("place_of_birth").normalise["fold"] == "romanisation"
