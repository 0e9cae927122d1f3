"""The fast encoder equals the plain-Python reference, bit for bit."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bloom
from bloom._encoder import Encoder
from bloom._fastparse import DateParser, TextNormaliser
from bloom._reference import reference_encode
from bloom._tokens import normalise_text, parse_date

text = st.text(
    alphabet=st.characters(categories=["L", "M", "N", "P", "S", "Zs", "Cc"], max_codepoint=0x2FFF),
    max_size=24,
)
OPTIONS = [
    {
        "unicode": u,
        "strip_accents": sa,
        "casefold": cf,
        "punctuation": p,
        "whitespace": w,
        "particles": parts,
    }
    for u in ("NFKC", "NFKD")
    for sa in (True, False)
    for cf in (True, False)
    for p in ("remove", "space", "keep")
    for w in ("collapse", "remove")
    for parts in ([], ["al", "de"])
]


@settings(max_examples=300, deadline=None)
@given(value=text, opts=st.sampled_from(OPTIONS))
def test_fast_normaliser_matches_reference(value, opts):
    assert TextNormaliser(opts)(value) == normalise_text(value, opts)


date_text = st.one_of(
    st.from_regex(r"\A ?[0-9]{1,4}[-/ .]?[0-9]{0,2}[-/ .]?[0-9]{0,4} ?\Z"),
    st.dates().map(lambda d: d.strftime("%d/%m/%Y")),
    st.dates().map(lambda d: d.strftime("%Y%m%d")),
    text,
)
FORMATS = [
    ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%Y"),
    ("%Y%m%d", "%Y"),
    ("%d/%m/%Y", "%Y"),
    ("%m%d%Y",),
    ("%d %m %Y", "%Y-%m"),
    ("%b %Y",),
]


@settings(max_examples=400, deadline=None)
@given(value=date_text, formats=st.sampled_from(FORMATS))
def test_fast_date_parser_matches_reference(value, formats):
    assert DateParser(formats)(value) == parse_date(value, formats)


@pytest.mark.parametrize(("value", "expected"), [("1232", None), ("0101", (1900, 1, 1))])
def test_date_parser_keeps_strptime_matching_rules(value, expected):
    # strptime matches left to right without backtracking into the month: '12' then '32' fails
    assert DateParser(("%m%d",))(value) == parse_date(value, ("%m%d",)) == expected


HARDENING = [
    {},
    {"salt": {"field": "date_of_birth", "part": "year"}},
    {"salt": {"field": "family_name"}},
    {"balance": True, "xor_fold": True},
    {"diffusion": {"t": 3}, "blip": {"epsilon": 3.0}},
]
FIELDS = [
    {
        "name": "given_name",
        "type": "name",
        "segment": "a",
        "hash_domain": "nm",
        "tokenisers": [
            {"kind": "qgram", "q": 2},
            {"kind": "phonetic", "algorithm": "soundex"},
            {"kind": "exact", "weight": 3},
        ],
    },
    {
        "name": "family_name",
        "type": "name",
        "segment": "a",
        "hash_domain": "nm",
        "tokenisers": [{"kind": "qgram", "q": 3, "padding": False}],
    },
    {
        "name": "place",
        "type": "string",
        "segment": "b",
        "tokenisers": [{"kind": "qgram", "q": 1}, {"kind": "qgram", "q": 2, "per_part": True}],
    },
    {
        "name": "date_of_birth",
        "type": "date",
        "segment": "b",
        "date": {"on_invalid": "missing", "year_only_day_months": ["01-01", "07-01"]},
        "tokenisers": [
            {
                "kind": "date",
                "parts": ["year", "month", "day", "day_month", "year_month", "year_window", "full"],
            },
            {"kind": "exact"},
        ],
    },
    {
        "name": "age",
        "type": "number",
        "segment": "b",
        "tokenisers": [{"kind": "numeric", "width": 5}, {"kind": "exact"}],
    },
    {"name": "sex", "type": "category", "segment": "b"},
]


def _schema(hardening):
    return bloom.Schema.from_dict(
        {
            "version": 1,
            "filter": {"segments": [{"name": "a", "bits": 256}, {"name": "b", "bits": 256}]},
            "hardening": hardening,
            "fields": FIELDS,
        }
    )


cell = st.one_of(
    st.none(),
    text,
    st.sampled_from(["Amina", "al-Hassan", "José", "1985-03-04", "1985", "1985-01-01", "41", "x"]),
)
rows = st.lists(st.fixed_dictionaries({f["name"]: cell for f in FIELDS}), min_size=1, max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=rows, hardening=st.sampled_from(HARDENING))
def test_fast_encoder_matches_reference(records, hardening, secret):
    schema = _schema(hardening)
    df = pd.DataFrame(records, columns=[f["name"] for f in FIELDS])
    fast = Encoder(schema, secret).encode_chunk({c: df[c] for c in df.columns}, len(df)).filters
    assert np.array_equal(fast, reference_encode(df, schema, secret))


def test_fast_encoder_matches_reference_on_febrl(febrl4, febrl_schema, person_schema, secret):
    df = febrl4.b.iloc[:400]
    fast = bloom.encode(df, febrl_schema, secret).filters
    assert np.array_equal(fast, reference_encode(df, febrl_schema, secret))


def test_token_rows_carry_over_between_chunks(febrl4, febrl_schema, secret):
    """Rows remembered from earlier chunks give the same bits as a fresh encoder."""
    df = febrl4.a.iloc[:600]
    enc = Encoder(febrl_schema, secret)
    cols = lambda d: {c: d[c].reset_index(drop=True) for c in febrl_schema.columns}  # noqa: E731
    parts = [enc.encode_chunk(cols(df.iloc[i : i + 200]), 200).filters for i in (0, 200, 400)]
    whole = Encoder(febrl_schema, secret).encode_chunk(cols(df), 600).filters
    assert np.array_equal(np.vstack(parts), whole)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(text, st.text(alphabet="al -HsnEé,.\t", max_size=16)), max_size=8),
    opts=st.sampled_from(OPTIONS),
)
def test_vectorised_normaliser_matches_reference(values, opts):
    assert TextNormaliser(opts).many(values) == [normalise_text(v, opts) for v in values]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(date_text, max_size=10), formats=st.sampled_from(FORMATS))
def test_vectorised_date_parser_matches_reference(values, formats):
    assert DateParser(formats).many(values) == [parse_date(v, formats) for v in values]
