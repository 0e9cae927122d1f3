"""Messy registers through ``caselink encode``, as a data officer runs it.

Each test writes a small register with the faults of one report (issue 15), runs the command
in a process of its own (forked from an interpreter that has imported it, tests/forkserver.py:
a process's own stdin, stdout, stderr and exit code) and checks the exit code, the true row
numbers (the header is row 0, the first record row 1) in stderr and in ``--problems-out``,
and that no cell value appears in either.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import numpy as np

import bloom
from tests import forkserver

ROOT = Path(__file__).resolve().parents[2]
SECRET_HEX = "00" * 32
HEADER = [
    "ref",
    "given_name",
    "family_name",
    "father_name",
    "sex",
    "date_of_birth",
    "place_of_birth",
]


def register(n: int = 40) -> list[list[str]]:
    """``n`` good records; every name is distinctive, so a leak in the output is found."""
    return [
        [
            f"ref{k:03d}",
            f"Givenzq{k}",
            f"Familyzq{k}",
            f"Fatherzq{k}",
            "F" if k % 2 else "M",
            f"19{50 + k % 40}-0{1 + k % 9}-{10 + k % 18}",
            f"Placezq{k % 7}",
        ]
        for k in range(1, n + 1)
    ]


def write(path: Path, rows: list[list[str]], *, header=HEADER, sep=",", encoding="utf-8") -> Path:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows([header, *rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def schema_file(tmp_path: Path, **extra) -> Path:
    """Names, sex and date of birth (invalid dates rejected), plus ``extra`` top-level keys."""
    doc = {
        "version": 1,
        "fields": [
            {"name": "given_name", "type": "name"},
            {"name": "family_name", "type": "name"},
            {"name": "sex", "type": "category"},
            {"name": "date_of_birth", "type": "date", "date": {"on_invalid": "reject"}},
        ],
        **extra,
    }
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(doc))
    return path


def encode(tmp_path: Path, *args: object, stdin: bytes | None = None):
    env = {**os.environ, "CASELINK_SECRET": SECRET_HEX, "PYTHONPATH": str(ROOT)}
    cmd = ["caselink", "encode", "--agency", "a", *map(str, args)]
    if "--out" not in cmd:
        cmd += ["--out", str(tmp_path / "out.parquet")]
    return forkserver.run(cmd, input=stdin, env=env, cwd=tmp_path, text=False)


def stderr(r) -> str:
    return r.stderr.decode("utf-8", "replace")


def problem(text: str, code: str) -> str:
    """The one line of ``text`` reporting ``code``."""
    lines = [ln for ln in text.splitlines() if re.search(rf"\b{code}: ", ln)]
    assert len(lines) == 1, f"{code}: {lines} in\n{text}"
    return lines[0].strip()


def problems_file(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows == [] or list(rows[0]) == ["row", "line", "column", "problem", "severity"]
    return rows


def rows_of(listed: list[dict[str, str]], code: str) -> list[int]:
    return sorted(int(p["row"]) for p in listed if p["problem"] == code)


def assert_no_values(text: str, rows: list[list[str]]) -> None:
    for row in rows:
        for value in row:
            if len(value) >= 5:
                assert value not in text, "a cell value reached the output"


# -- structure ---------------------------------------------------------------------------------
def test_wrong_field_counts_name_their_true_rows(tmp_path):
    rows = register()
    rows[4] = [*rows[4], "Extrazq"]  # row 5: one field too many
    rows[9] = rows[9][:5]  # row 10: two too few
    rows[29][5] = "1990-13-45"  # row 30: an invalid date, after the two dropped rows
    write(tmp_path / "in.csv", rows)
    r = encode(tmp_path, "--schema", schema_file(tmp_path), "--input", "in.csv", "--id-column",
               "ref", "--problems-out", "p.csv")  # fmt: skip
    err = stderr(r)
    assert r.returncode == 2, err
    assert problem(err, "too_many_fields").endswith("1 row (5)")
    assert problem(err, "too_few_fields").endswith("1 row (10)")
    assert problem(err, "invalid_date").endswith("1 row (30)")  # not 28
    assert "-1" not in err and "Traceback" not in err
    listed = problems_file(tmp_path / "p.csv")
    assert rows_of(listed, "too_many_fields") == [5] and rows_of(listed, "too_few_fields") == [10]
    assert rows_of(listed, "invalid_date") == [30]
    assert {p["line"] for p in listed} == {"6", "11", "31"}  # the header is line 1
    assert_no_values(err + (tmp_path / "p.csv").read_text(), rows)
    assert "1990-13-45" not in err and not (tmp_path / "out.parquet").exists()


def test_an_unclosed_quote_names_its_row_in_a_file_of_many_blocks(tmp_path):
    rows = register(3000)
    rows[4][1] = '"Givenzq5'  # row 5 opens a quote that nothing closes
    path = tmp_path / "in.csv"
    text = "\n".join(",".join(r) for r in [HEADER, *rows]) + "\n"  # the quote left as it is
    path.write_text(text)
    r = encode(tmp_path, "--schema", "person", "--input", path, "--chunk-mb", "0.1",
               "--problems-out", "p.csv")  # fmt: skip
    err = stderr(r)
    assert r.returncode == 2, err
    assert problem(err, "unclosed_quote").endswith("1 row (5)")
    assert "-1" not in err and "Traceback" not in err
    assert rows_of(problems_file(tmp_path / "p.csv"), "unclosed_quote") == [5]
    assert_no_values(err + (tmp_path / "p.csv").read_text(), rows[:10])


def test_rows_after_quoted_line_breaks_and_blank_lines_keep_their_numbers(tmp_path):
    rows = register()
    rows[2][6] = "Placezq\nsecond line"  # row 3 spans two lines
    rows[19][5] = "not a date"  # row 20
    path = write(tmp_path / "in.csv", rows)
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(8, "\n")  # a blank line: not a row
    path.write_text("".join(lines))
    r = encode(tmp_path, "--schema", schema_file(tmp_path), "--input", path,
               "--problems-out", "p.csv")  # fmt: skip
    err = stderr(r)
    assert r.returncode == 2, err
    assert problem(err, "invalid_date").endswith("1 row (20)")
    (listed,) = problems_file(tmp_path / "p.csv")
    assert (listed["row"], listed["line"], listed["column"]) == ("20", "23", "date_of_birth")
    assert listed["severity"] == "error"
    assert_no_values(err + (tmp_path / "p.csv").read_text(), rows)


def test_duplicate_refs_come_with_every_other_problem_in_one_run(tmp_path):
    rows = register()
    rows[7][0] = rows[2][0]  # rows 3 and 8 share a ref
    rows[11][0] = ""  # row 12: no ref
    rows[29][5] = "31/02/1990"  # row 30: no such day
    write(tmp_path / "in.csv", rows)
    r = encode(tmp_path, "--schema", schema_file(tmp_path), "--input", "in.csv",
               "--id-column", "ref", "--problems-out", "p.csv")  # fmt: skip
    err = stderr(r)
    assert r.returncode == 2, err
    assert "rows 3 and 8" in problem(err, "duplicate_ref")
    assert problem(err, "empty_ref").endswith("1 row (12)")
    assert problem(err, "invalid_date").endswith("1 row (30)")
    assert "invalid encoded batch" not in err
    listed = problems_file(tmp_path / "p.csv")
    assert rows_of(listed, "duplicate_ref") == [3, 8]
    assert {p["column"] for p in listed if p["problem"] == "duplicate_ref"} == {"ref"}
    assert_no_values(err + (tmp_path / "p.csv").read_text(), rows)


def test_a_long_list_is_capped_on_the_terminal_but_complete_in_the_file(tmp_path):
    rows = register(200)
    for k in range(0, 200, 4):  # 50 rows: 1, 5, 9, ...
        rows[k][5] = "someday"
    write(tmp_path / "in.csv", rows)
    r = encode(tmp_path, "--schema", schema_file(tmp_path), "--input", "in.csv",
               "--problems-out", "p.csv")  # fmt: skip
    err = stderr(r)
    assert r.returncode == 2, err
    line = problem(err, "invalid_date")
    assert line.endswith(
        "50 rows (" + ", ".join(str(1 + 4 * k) for k in range(20)) + " and 30 more)"
    )
    assert rows_of(problems_file(tmp_path / "p.csv"), "invalid_date") == list(range(1, 200, 4))


# -- text encodings and separators ---------------------------------------------------------
def test_an_unknown_input_encoding_is_named_without_a_traceback(tmp_path):
    write(tmp_path / "in.csv", register(3))
    r = encode(tmp_path, "--schema", "person", "--input", "in.csv", "--input-encoding", "nope")
    err = stderr(r)
    assert r.returncode == 2, err
    assert "Traceback" not in err and "--input-encoding 'nope'" in err
    assert not (tmp_path / "out.parquet").exists()
    assert_no_values(err, register(3))


def test_a_utf16_file_is_read_as_its_byte_order_mark_says(tmp_path):
    rows = register()
    write(tmp_path / "utf8.csv", rows)
    write(tmp_path / "utf16.csv", rows, encoding="utf-16")  # with a byte-order mark
    a = encode(tmp_path, "--schema", "person", "--input", "utf8.csv", "--out", "a.parquet")
    b = encode(tmp_path, "--schema", "person", "--input", "utf16.csv", "--out", "b.parquet")
    assert a.returncode == 0 and b.returncode == 0, stderr(b)
    fa, fb = bloom.read_batch(tmp_path / "a.parquet"), bloom.read_batch(tmp_path / "b.parquet")
    assert len(fb) == 40 and np.array_equal(fa.filters, fb.filters)


def test_utf16_without_a_byte_order_mark_is_named_not_blamed_on_quoting(tmp_path):
    write(tmp_path / "in.csv", register(), encoding="utf-16-le")
    r = encode(tmp_path, "--schema", "person", "--input", "in.csv")
    err = stderr(r)
    assert r.returncode == 2, err
    assert "looks like UTF-16" in err and "--input-encoding utf-16-le" in err
    assert "quoting" not in err
    assert_no_values(err, register())


def test_a_semicolon_file_gets_one_hint_and_reads_with_delimiter(tmp_path):
    rows = register()
    write(tmp_path / "semi.csv", rows, sep=";")
    write(tmp_path / "tab.csv", rows, sep="\t")
    write(tmp_path / "comma.csv", rows)
    r = encode(tmp_path, "--schema", "person", "--input", "semi.csv", "--id-column", "ref")
    err = stderr(r)
    assert r.returncode == 2, err
    assert "--delimiter ';'" in problem(err, "wrong_delimiter")
    assert "not in the input" not in err  # not one problem per column
    assert_no_values(err, rows)
    base = encode(tmp_path, "--schema", "person", "--input", "comma.csv", "--out", "c.parquet")
    semi = encode(tmp_path, "--schema", "person", "--input", "semi.csv", "--delimiter", ";",
                  "--out", "s.parquet")  # fmt: skip
    tab = encode(tmp_path, "--schema", "person", "--input", "tab.csv", "--delimiter", "tab",
                 "--out", "t.parquet")  # fmt: skip
    assert base.returncode == semi.returncode == tab.returncode == 0, stderr(semi) + stderr(tab)
    filters = [
        bloom.read_batch(tmp_path / f).filters for f in ("c", "s", "t") for f in [f + ".parquet"]
    ]
    assert np.array_equal(filters[0], filters[1]) and np.array_equal(filters[0], filters[2])


def test_stdin_is_read_when_input_is_a_dash(tmp_path):
    rows = register()
    path = write(tmp_path / "in.csv", rows)
    a = encode(tmp_path, "--schema", "person", "--input", path, "--out", "a.parquet")
    b = encode(tmp_path, "--schema", "person", "--input", "-", "--out", "b.parquet",
               stdin=path.read_bytes())  # fmt: skip
    assert a.returncode == 0 and b.returncode == 0, stderr(b)
    fa, fb = bloom.read_batch(tmp_path / "a.parquet"), bloom.read_batch(tmp_path / "b.parquet")
    assert np.array_equal(fa.filters, fb.filters) and list(fb.record_refs) == list(fa.record_refs)
    rows[5] = rows[5][:3]
    bad = write(tmp_path / "bad.csv", rows).read_bytes()
    r = encode(tmp_path, "--schema", "person", "--input", "-", stdin=bad)
    assert r.returncode == 2 and problem(stderr(r), "too_few_fields").endswith("1 row (6)")


# -- values --------------------------------------------------------------------------------
def test_unparseable_dates_kept_as_missing_are_listed_by_row(tmp_path):
    rows = register()
    rows[11][5] = "Datezq garbage"  # row 12; person reads invalid dates as missing
    write(tmp_path / "in.csv", rows)
    r = encode(tmp_path, "--schema", "person", "--input", "in.csv", "--problems-out", "p.csv")
    err = stderr(r)
    assert r.returncode == 0, err
    assert problem(err, "invalid_date").endswith("1 row (12)")
    (listed,) = [p for p in problems_file(tmp_path / "p.csv") if p["problem"] == "invalid_date"]
    assert (listed["row"], listed["column"], listed["severity"]) == (
        "12",
        "date_of_birth",
        "warning",
    )
    assert_no_values(err + (tmp_path / "p.csv").read_text(), rows)


def _sex_schema(tmp_path: Path, spellings: dict[str, list[str]]) -> Path:
    path = schema_file(tmp_path)
    doc = json.loads(path.read_text())
    doc["fields"][2]["category"] = {"values": spellings}
    path.write_text(json.dumps(doc))
    return path


def test_category_spellings_map_to_one_value_and_others_are_named(tmp_path):
    rows = register(6)
    for k in range(6):  # six records alike but for how sex is written
        rows[k][1:4] = ["Givenzq", "Familyzq", "Fatherzq"]
        rows[k][5] = "1980-01-02"
    for k, spelling in enumerate(["M", "male", "m", "Man", "MALE", "F"]):
        rows[k][4] = spelling
    write(tmp_path / "in.csv", rows)
    s = _sex_schema(tmp_path, {"M": ["male", "man"], "F": ["female", "woman"]})
    r = encode(tmp_path, "--schema", s, "--input", "in.csv")
    assert r.returncode == 0, stderr(r)
    f = bloom.read_batch(tmp_path / "out.parquet").filters
    assert all(np.array_equal(f[0], f[k]) for k in range(1, 5)) and not np.array_equal(f[0], f[5])

    rows[2][4] = "unknownzq"  # row 3: neither a value nor one of its spellings
    write(tmp_path / "in.csv", rows)
    r = encode(tmp_path, "--schema", s, "--input", "in.csv", "--problems-out", "p.csv")
    err = stderr(r)
    assert r.returncode == 2, err
    assert problem(err, "unknown_category").endswith("1 row (3)") and "unknownzq" not in err
    assert rows_of(problems_file(tmp_path / "p.csv"), "unknown_category") == [3]
    assert_no_values(err + (tmp_path / "p.csv").read_text(), rows)


def test_a_spelling_list_is_local_but_the_values_are_in_the_fingerprint(tmp_path):
    a = bloom.Schema.load(_sex_schema(tmp_path, {"M": ["male"], "F": ["female"]}))
    b = bloom.Schema.load(_sex_schema(tmp_path, {"M": ["male", "man", "h"], "F": ["f"]}))
    c = bloom.Schema.load(_sex_schema(tmp_path, {"Male": ["m"], "Female": ["f"]}))
    plain = bloom.Schema.load(schema_file(tmp_path))
    assert a.fingerprint == b.fingerprint  # more spellings, same values: same bits
    assert len({a.fingerprint, c.fingerprint, plain.fingerprint}) == 3


def test_ambiguous_dates_are_counted_and_the_date_order_decides(tmp_path):
    rows = register()
    rows[1][5] = "03/12/2010"  # row 2: 3 December or March 12?
    rows[2][5] = "25/12/2010"  # row 3: day first, unambiguous
    rows[3][1:6] = [*rows[1][1:5], "2010-12-03"]  # row 4: row 2 again, its date in ISO
    write(tmp_path / "in.csv", rows)
    dmy = schema_file(tmp_path, date_order="DMY")
    r = encode(tmp_path, "--schema", dmy, "--input", "in.csv", "--problems-out", "p.csv")
    err = stderr(r)
    assert r.returncode == 0, err
    assert problem(err, "ambiguous_date").endswith("1 row (2)") and "DMY" in err
    listed = problems_file(tmp_path / "p.csv")
    assert [(p["row"], p["problem"], p["severity"]) for p in listed] == [
        ("2", "ambiguous_date", "warning")
    ]
    f = bloom.read_batch(tmp_path / "out.parquet").filters
    assert np.array_equal(f[1], f[3])  # read as 3 December

    r = encode(tmp_path, "--schema", dmy, "--input", "in.csv", "--date-order", "MDY",
               "--problems-out", "p.csv")  # fmt: skip
    err = stderr(r)
    assert r.returncode == 2, err  # 25/12/2010 is no month/day date
    line = problem(err, "wrong_date_order")
    assert line.endswith("1 row (3)") and "DMY" in line and "25/12/2010" not in err
    assert rows_of(problems_file(tmp_path / "p.csv"), "wrong_date_order") == [3]
    assert_no_values(err + (tmp_path / "p.csv").read_text(), rows)


def test_date_order_does_not_change_the_fingerprint(tmp_path):
    plain = bloom.Schema.load(schema_file(tmp_path))
    for order in ("DMY", "MDY", "YMD"):
        assert bloom.Schema.load(schema_file(tmp_path, date_order=order)) == plain
