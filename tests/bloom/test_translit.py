"""Romanisation folding (``normalise.fold``): its properties, its variant groups, its encoding."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bloom
from bloom._encoder import Encoder
from bloom._reference import reference_encode
from bloom._tokens import fold_romanisation, normalise_text

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=14)
name = st.lists(word, min_size=1, max_size=4).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(name)
def test_folding_is_idempotent(text):
    once = fold_romanisation(text)
    assert fold_romanisation(once) == once


@settings(max_examples=400, deadline=None)
@given(name)
def test_folding_keeps_a_nonempty_name_of_at_most_as_many_parts(text):
    folded = fold_romanisation(text)
    assert folded
    assert folded == " ".join(folded.split())  # no empty part, no stray space
    assert len(folded.split()) <= len(text.split())


@settings(max_examples=300, deadline=None)
@given(name)
def test_folded_text_uses_a_smaller_alphabet(text):
    # the letters every variant folds away never survive
    assert not set(fold_romanisation(text)) & set("cqwxoe")


@pytest.mark.parametrize(
    "variants",
    [
        ("Muhammad", "Mohammed", "Mouhamed", "MOHAMAD", "Muhammed"),
        ("Hussein", "Husayn", "Houssein", "Husein"),
        ("Yuriy", "Iouri", "Yurii", "Iurii", "Yury"),
        ("Shevchenko", "Chevtchenko", "Szewczenko", "Schewtschenko"),
        ("Khalid", "Halid", "Xalid", "Khaalid"),
        ("Yusuf", "Yousouf", "Yussuf", "Iusuf"),
        ("Qasim", "Kasim", "Kassim"),
        ("Djamal", "Jamal", "Zhamal"),
        ("Fatimah", "Fatima", "Fattima", "Fatyma"),
        ("Walid", "Oualid", "Waleed"),
        ("Natalia", "Nataliya", "Nataliia", "Natalya"),
        ("al-Rashid", "Ar-Rashid", "el Rasheed", "Rashid"),
        ("Abd al-Rahman", "Abdul Rahman", "Abdel Rahman", "Abd el-Rahman"),
    ],
)
def test_romanisations_of_one_name_fold_to_one_spelling(variants):
    opts = {**bloom.Schema.load("person").field("given_name").normalise, "fold": "romanisation"}
    opts["particles"] = []
    assert len({normalise_text(v, opts) for v in variants}) == 1


@pytest.mark.parametrize(
    "different",
    [("Hasan", "Husayn"), ("Ali", "Alia"), ("Omar", "Amir"), ("Olena", "Halyna"), ("Said", "Saad")],
)
def test_different_names_stay_apart(different):
    assert fold_romanisation(different[0].lower()) != fold_romanisation(different[1].lower())


def test_a_lone_article_is_kept_and_a_joined_one_is_not_guessed_at():
    assert fold_romanisation("al") == "al"  # nothing follows: it is the name
    assert fold_romanisation("alena") == "alana"  # Alena is not al- + ena


def _fold_schema(fold: str | None) -> bloom.Schema:
    norm = {"fold": fold} if fold else {}
    return bloom.Schema.from_dict(
        {
            "version": 1,
            "filter": {"segments": [{"name": "a", "bits": 256}, {"name": "b", "bits": 128}]},
            "fields": [
                {
                    "name": "given_name",
                    "type": "name",
                    "segment": "a",
                    "hash_domain": "nm",
                    "normalise": {**norm, "particles": ["al", "bin"]},
                    "tokenisers": [
                        {"kind": "qgram", "q": 2},
                        {"kind": "phonetic", "algorithm": "nysiis", "weight": 4},
                    ],
                },
                {
                    "name": "family_name",
                    "type": "name",
                    "segment": "a",
                    "hash_domain": "nm",
                    "normalise": norm,
                    "tokenisers": [{"kind": "qgram", "q": 2}],
                    "salt": {"field": "place"},
                },
                {"name": "place", "type": "string", "segment": "b", "normalise": norm},
            ],
        }
    )


cell = st.one_of(
    st.none(),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzKHÉé -'", max_size=16),
    st.sampled_from(["Muhammad", "Mohammed", "al-Hassan", "Abd el-Rahman", "Kharkiv", "Ḥasan"]),
)
rows = st.lists(
    st.fixed_dictionaries({c: cell for c in ("given_name", "family_name", "place")}),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=rows)
def test_fast_encoder_folds_as_the_reference_does(records, secret):
    schema = _fold_schema("romanisation")
    df = pd.DataFrame(records, columns=["given_name", "family_name", "place"])
    fast = Encoder(schema, secret).encode_chunk({c: df[c] for c in df.columns}, len(df)).filters
    assert np.array_equal(fast, reference_encode(df, schema, secret))


def test_folding_makes_two_romanisations_encode_alike(secret):
    df = pd.DataFrame(
        {
            "given_name": ["Mouhamed", "Muhammad"],
            "family_name": ["Chevtchenko", "Shevchenko"],
            "place": ["Kharkiw", "Harkiv"],
        }
    )
    plain = bloom.encode(df, _fold_schema(None), secret).filters
    folded = bloom.encode(df, _fold_schema("romanisation"), secret).filters
    assert not np.array_equal(plain[0, :4], plain[1, :4])
    assert np.array_equal(folded[0, :4], folded[1, :4])  # the whole name segment agrees


def test_fold_none_and_absent_give_the_same_filters_but_shipped_fingerprints_stay(secret):
    df = pd.DataFrame({"given_name": ["Mouhamed"], "family_name": ["Ali"], "place": ["Homs"]})
    absent, none = _fold_schema(None), _fold_schema("none")
    assert np.array_equal(
        bloom.encode(df, absent, secret).filters, bloom.encode(df, none, secret).filters
    )
    for shipped in ("person-v1", "febrl-v1", "febrl"):  # no default written into the schema
        text = resources.files("bloom.schemas").joinpath(f"{shipped}.json").read_text("utf-8")
        fields = bloom.Schema.from_dict(json.loads(text)).effective["fields"]
        assert all("fold" not in f.get("normalise", {}) for f in fields)


def test_fold_on_a_category_or_an_unknown_fold_is_refused():
    doc = {
        "version": 1,
        "fields": [{"name": "sex", "type": "category", "normalise": {"fold": "romanisation"}}],
    }
    with pytest.raises(bloom.SchemaError, match="normalise/fold"):
        bloom.Schema.from_dict(doc)
    doc = {"version": 1, "fields": [{"name": "n", "type": "name", "normalise": {"fold": "x"}}]}
    with pytest.raises(bloom.SchemaError, match="fold"):
        bloom.Schema.from_dict(doc)


def test_the_recall_proposal_schema_loads_and_reads_month_year_dates():
    schema = bloom.Schema.load(resources.files("bloom.schemas").joinpath("person-recall.json"))
    assert schema.field("given_name").normalise["fold"] == "romanisation"
    assert schema.fingerprint != bloom.Schema.load("person").fingerprint
    from bloom._tokens import parse_value

    for written in ("1975-10", "10/1975"):
        assert parse_value(written, schema.field("birth_year")) == ((1975, 10, None), "ok")
