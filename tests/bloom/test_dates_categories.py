"""Date orders and category spellings in the encoder: the bits they give (equal to the
reference encoder's), and the rows they flag."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bloom
from bloom import EncodingError
from bloom._encoder import Encoder
from bloom._reference import reference_encode

FIELDS = [
    {"name": "given_name", "type": "name"},
    {
        "name": "sex",
        "type": "category",
        "category": {"values": {"M": ["male", "man"], "F": ["female", "woman"]}},
    },
    {"name": "dob", "type": "date", "date": {"formats": ["%Y-%m-%d", "%d/%m/%Y", "%Y"]}},
]


def schema(order=None, on_unknown="reject", on_invalid="reject") -> bloom.Schema:
    fields = [dict(f) for f in FIELDS]
    fields[1]["category"] = {**fields[1]["category"], "on_unknown": on_unknown}
    fields[2]["date"] = {**fields[2]["date"], "on_invalid": on_invalid}
    doc = {"version": 1, "fields": fields, **({"date_order": order} if order else {})}
    return bloom.Schema.from_dict(doc)


cell = st.sampled_from(
    [
        None,
        "",
        "M",
        "male",
        "MALE ",
        "F",
        "woman",
        "x",
        "1980-01-02",
        "03/12/2010",
        "12/31/2010",
        "2010/03/12",
        "31/12/2010",
        "1990",
        "garbage",
        "Amina",
    ]
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.lists(st.tuples(cell, cell, cell), min_size=1, max_size=10),
    order=st.sampled_from([None, "DMY", "MDY", "YMD"]),
)
def test_the_fast_encoder_reads_orders_and_spellings_as_the_reference(records, order, secret):
    s = schema(order)
    df = pd.DataFrame(records, columns=["given_name", "sex", "dob"])
    fast = Encoder(s, secret).encode_chunk({c: df[c] for c in df.columns}, len(df)).filters
    assert np.array_equal(fast, reference_encode(df, s, secret))


def _flagged(s: bloom.Schema, secret, column: str, values: list[str | None]) -> dict:
    df = pd.DataFrame({"given_name": "Amina", "sex": "F", "dob": "1980-01-02"}, index=[0, 1])
    df = pd.concat([df.iloc[:1]] * len(values), ignore_index=True).assign(**{column: values})
    chunk = Encoder(s, secret).encode_chunk({c: df[c] for c in df.columns}, len(df), 1)
    return {code: rows.tolist() for (_, code), rows in chunk.flagged.items()}


def test_ambiguous_and_wrongly_ordered_dates_are_flagged_by_row(secret):
    values = ["03/12/2010", "12/12/2010", "25/12/2010", "12/25/2010", "2010-03-04", "1990"]
    assert _flagged(schema("DMY"), secret, "dob", values) == {
        "ambiguous_date": [1],  # 12/12 reads the same either way
        "wrong_date_order": [4],
    }
    assert _flagged(schema("MDY"), secret, "dob", values) == {
        "ambiguous_date": [1],
        "wrong_date_order": [3],
    }
    assert _flagged(schema("YMD"), secret, "dob", values) == {
        "wrong_date_order": [1, 2, 3],  # day-first, valid as DMY
        "invalid_date": [4],
    }


def test_the_order_decides_the_bits_of_an_ambiguous_date(secret):
    df = pd.DataFrame(
        {"given_name": ["A"] * 3, "sex": "F", "dob": ["03/12/2010", "2010-12-03", "2010-03-12"]}
    )
    dmy = bloom.encode(df, schema("DMY"), secret).filters
    mdy = bloom.encode(df, schema("MDY"), secret).filters
    assert np.array_equal(dmy[0], dmy[1]) and np.array_equal(mdy[0], mdy[2])
    assert np.array_equal(dmy[1:], mdy[1:])  # ISO reads the same in every order


def test_unknown_categories_refuse_or_read_as_missing(secret):
    df = pd.DataFrame({"given_name": "Amina", "sex": ["F", "x", "woman", None], "dob": "1990"})
    with pytest.raises(EncodingError) as e:
        bloom.encode(df, schema(), secret)
    assert len(e.value.problems) == 1
    assert e.value.problems[0].startswith("unknown_category: column 'sex' (field 'sex')")
    assert e.value.problems[0].endswith("1 row (2)") and "(M, F)" in e.value.problems[0]
    f = bloom.encode(df, schema(on_unknown="missing"), secret).filters
    assert np.array_equal(f[0], f[2]) and np.array_equal(f[1], f[3])  # x is read as missing


def test_kept_as_missing_dates_are_warnings_with_rows(tmp_path, secret):
    df = pd.DataFrame({"ref": ["a", "b", "c"], "given_name": "Amina", "sex": "F"})
    df["dob"] = ["1990", "someday", "03/04/1990"]
    df.to_csv(tmp_path / "in.csv", index=False)
    report = bloom.encode_csv(
        tmp_path / "in.csv", schema(on_invalid="missing"), secret, agency="a",
        out=tmp_path / "o.parquet", problems_out=tmp_path / "p.csv",
    )  # fmt: skip
    warned = {p.code: p for p in report.warnings}
    assert set(warned) == {"invalid_date", "ambiguous_date"}
    assert warned["invalid_date"].rows.tolist() == [2] and report.invalid == {"dob": 1}
    assert "encoded as missing (date.on_invalid is 'missing')" in warned["invalid_date"].what
    assert "as the schema's formats are written" in warned["ambiguous_date"].what
    listed = pd.read_csv(tmp_path / "p.csv")
    assert listed[["row", "line", "problem", "severity"]].values.tolist() == [
        [2, 3, "invalid_date", "warning"],
        [3, 4, "ambiguous_date", "warning"],
    ]
