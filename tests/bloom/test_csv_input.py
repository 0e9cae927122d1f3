"""Reading a register through ``encode_csv``: text encodings, byte-order marks, separators,
streams, and problems reported together with their true rows (in this process: fast)."""

import codecs
import io

import numpy as np
import pandas as pd
import pytest

import bloom
from bloom import EncodingError
from bloom._csvinput import check_encoding, delimiter_hint, parse_delimiter

NAMES = ["Zoë Ångström", "José Núñez", "Amina", "Olena", "Ḥasan", "Li Wei"]


@pytest.fixture()
def frame(people) -> pd.DataFrame:
    df = pd.concat([people] * 3, ignore_index=True)
    df["ref"] = [f"r{k}" for k in range(len(df))]
    df["given_name"] = [NAMES[k % len(NAMES)] for k in range(len(df))]
    return df


def run(source, schema, secret, tmp_path, **kw):
    return bloom.encode_csv(
        source, schema, secret, agency="a", out=tmp_path / "out.parquet", id_column="ref", **kw
    )


def filters_of(tmp_path):
    return bloom.read_batch(tmp_path / "out.parquet").filters


def problems_of(e: pytest.ExceptionInfo) -> dict[str, str]:
    return {p.split(": ")[0].removeprefix("(warning) "): p for p in e.value.problems}


@pytest.mark.parametrize(
    ("encoding", "bom", "option"),
    [
        ("utf-8", codecs.BOM_UTF8, None),
        ("utf-16-le", codecs.BOM_UTF16_LE, None),
        ("utf-16-be", codecs.BOM_UTF16_BE, None),
        ("utf-32-le", codecs.BOM_UTF32_LE, None),
        ("utf-16-le", codecs.BOM_UTF16_LE, "cp1252"),  # the mark decides
        ("utf-16-le", b"", "utf-16-le"),
        ("cp1252", b"", "cp1252"),
        ("latin-1", b"", "latin_1"),
    ],
)
def test_every_encoding_gives_the_bits_of_utf8(
    tmp_path, frame, person_schema, secret, encoding, bom, option
):
    text = frame.to_csv(index=False).replace("Ḥasan", "Hasan" if encoding != "utf-8" else "Ḥasan")
    (tmp_path / "u.csv").write_text(text, encoding="utf-8")
    run(tmp_path / "u.csv", person_schema, secret, tmp_path)
    expected = filters_of(tmp_path)
    (tmp_path / "e.csv").write_bytes(bom + text.encode(encoding))
    report = run(tmp_path / "e.csv", person_schema, secret, tmp_path, input_encoding=option)
    assert report.records == len(frame) and np.array_equal(filters_of(tmp_path), expected)


def test_a_byte_that_the_encoding_lacks_names_its_row(tmp_path, frame, person_schema, secret):
    frame["given_name"] = "Amina"
    frame.loc[6, "given_name"] = "José"  # row 7: no ASCII
    frame.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(EncodingError) as e:
        run(tmp_path / "in.csv", person_schema, secret, tmp_path, input_encoding="ascii")
    found = problems_of(e)
    assert found["not_in_encoding"].endswith("1 row (7)") and "(line 8)" in found["not_in_encoding"]
    assert "José" not in str(e.value) and not (tmp_path / "out.parquet").exists()


def test_bytes_that_are_not_utf8_in_a_column_not_read_do_no_harm(
    tmp_path, frame, person_schema, secret
):
    frame["notes"] = "x"
    data = frame.to_csv(index=False).encode().replace(b",x\n", b",caf\xe9\n", 2)
    (tmp_path / "in.csv").write_bytes(data)
    assert run(tmp_path / "in.csv", person_schema, secret, tmp_path).records == len(frame)


def test_a_stream_is_read_like_a_file(tmp_path, frame, person_schema, secret):
    frame.to_csv(tmp_path / "in.csv", index=False)
    run(tmp_path / "in.csv", person_schema, secret, tmp_path)
    expected = filters_of(tmp_path)

    class ReadOnly:  # a source with read() and nothing else
        def __init__(self, data: bytes) -> None:
            self._f = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._f.read(n)

    for source in (
        io.BytesIO((tmp_path / "in.csv").read_bytes()),
        ReadOnly((tmp_path / "in.csv").read_bytes()),
    ):
        report = run(source, person_schema, secret, tmp_path, chunk_bytes=512)
        assert report.records == len(frame) and np.array_equal(filters_of(tmp_path), expected)


def test_options_are_checked_before_reading():
    assert check_encoding(None) == "utf-8" and check_encoding("UTF8") == "utf-8"
    assert check_encoding("utf-8-sig") == "utf-8" and check_encoding("Latin-1") == "iso8859-1"
    for bad in ("nope", "base64", "rot13"):
        with pytest.raises(EncodingError, match=f"--input-encoding '{bad}'"):
            check_encoding(bad)
    assert [parse_delimiter(d) for d in ("tab", "\\t", "\t", ";", "|", ",")] == [
        "\t",
        "\t",
        "\t",
        ";",
        "|",
        ",",
    ]
    for bad in ("ab", '"', "\n", "a", "1", "¦"):
        with pytest.raises(EncodingError, match="--delimiter"):
            parse_delimiter(bad)
    assert delimiter_hint(["a;b;c"], ",") == ";" and delimiter_hint(["a,b"], ";") == ","
    assert delimiter_hint(["a\tb"], ",") == "\t" and delimiter_hint(["ab"], ",") is None
    assert delimiter_hint(["a;b", "c"], ",") is None


def test_a_comma_file_read_with_another_delimiter_gets_the_hint(
    tmp_path, frame, person_schema, secret
):
    frame.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(EncodingError) as e:
        run(tmp_path / "in.csv", person_schema, secret, tmp_path, delimiter="|")
    assert list(problems_of(e)) == ["wrong_delimiter"]
    assert "pass --delimiter ','" in str(e.value)


def test_a_missing_column_comes_with_the_rows_problems(tmp_path, frame, person_schema, secret):
    text = frame.drop(columns=["place_of_birth"]).to_csv(index=False).splitlines(keepends=True)
    text[5] = text[5].rstrip("\n") + ",extra\n"  # row 5
    (tmp_path / "in.csv").write_text("".join(text))
    with pytest.raises(EncodingError) as e:
        run(tmp_path / "in.csv", person_schema, secret, tmp_path, problems_out=tmp_path / "p.csv")
    found = problems_of(e)
    assert set(found) == {"missing_column", "too_many_fields"}
    assert found["too_many_fields"].endswith("1 row (5)")
    listed = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False)
    assert listed.to_dict("records") == [
        {
            "row": "",
            "line": "",
            "column": "place_of_birth",
            "problem": "missing_column",
            "severity": "error",
        },
        {"row": "5", "line": "6", "column": "", "problem": "too_many_fields", "severity": "error"},
    ]


def test_rows_stay_true_with_worker_processes(tmp_path, frame, secret):
    schema = bloom.Schema.from_dict(
        {
            "version": 1,
            "fields": [
                {"name": "given_name", "type": "name"},
                {"name": "date_of_birth", "type": "date", "date": {"on_invalid": "reject"}},
            ],
        }
    )
    big = pd.concat([frame] * 200, ignore_index=True)  # 2,400 rows, several blocks
    big["ref"] = [f"r{k}" for k in range(len(big))]
    big.loc[[99, 1999], "date_of_birth"] = "someday"  # rows 100 and 2000
    text = big.to_csv(index=False).splitlines(keepends=True)
    text[1500] = text[1500].rstrip("\n") + ",extra\n"  # row 1500, skipped by the reader
    (tmp_path / "in.csv").write_text("".join(text))
    with pytest.raises(EncodingError) as e:
        run(tmp_path / "in.csv", schema, secret, tmp_path, jobs=2, chunk_bytes=16 << 10)
    found = problems_of(e)
    assert found["invalid_date"].endswith("2 rows (100, 2000)")
    assert found["too_many_fields"].endswith("1 row (1500)")


def test_a_column_named_twice_is_refused(tmp_path, frame, person_schema, secret):
    text = frame.to_csv(index=False).replace("given_name", "given_name,given_name", 1)
    lines = text.splitlines(keepends=True)
    lines[1:] = [ln.replace(",", ",x,", 1) for ln in lines[1:]]  # one more field in every row
    (tmp_path / "in.csv").write_text("".join(lines))
    with pytest.raises(EncodingError) as e:
        run(tmp_path / "in.csv", person_schema, secret, tmp_path)
    assert problems_of(e) == {
        "duplicate_column": "duplicate_column: the header names column 'given_name' more than "
        "once: rename all but one"
    }
    with pytest.raises(EncodingError, match="duplicate_column"):
        bloom.encode(
            frame.set_axis(["given_name", *frame.columns[1:]], axis=1), person_schema, secret
        )


def test_no_output_replaces_the_register_or_lands_nowhere(tmp_path, frame, person_schema, secret):
    frame.to_csv(tmp_path / "in.csv", index=False)
    before = (tmp_path / "in.csv").read_bytes()
    for kw in ({"problems_out": tmp_path / "in.csv"}, {"problems_out": tmp_path / "no" / "p.csv"}):
        with pytest.raises(EncodingError, match="--problems-out"):
            run(tmp_path / "in.csv", person_schema, secret, tmp_path, **kw)
    with pytest.raises(EncodingError, match=r"--out .* is the register itself"):
        bloom.encode_csv(
            tmp_path / "in.csv", person_schema, secret, agency="a", out=tmp_path / "in.csv"
        )
    assert (tmp_path / "in.csv").read_bytes() == before
