"""The structure scanner agrees with Arrow's CSV parser on which rows it skips, with Python's
csv module on the line each row starts on, and with Python's decoder on what is UTF-8."""

import csv
import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from hypothesis import given, settings
from hypothesis import strategies as st

from bloom._csvscan import CsvScan

pieces = st.sampled_from(["a", "bb", ",", ",", '"', '""', "\n", "\n", "\r", "\r\n", "é", " "])
headers = st.sampled_from(["h1\n", "h1,h2\n", "h1,h2,h3\r\n", '"h,1",h2\n'])


def _arrow(data: bytes, block: int) -> tuple[int, list[int]] | None:
    """(rows read, field counts of the rows skipped, in order); None when Arrow gives up."""
    skipped: list[int] = []

    def handler(row):
        skipped.append(row.actual_columns)
        return "skip"

    try:
        reader = pacsv.open_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(block_size=block),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(  # as encode reads: text, not inferred types
                column_types=dict.fromkeys(("h1", "h2", "h3", "h,1"), pa.string())
            ),
        )
        return sum(b.num_rows for b in reader), skipped
    except pa.ArrowInvalid as e:
        assert "straddles two block boundaries" in str(e)
        return None


def _scan(data: bytes, cut: int):
    scan = CsvScan(ord(","))
    scan.feed(data[:cut])
    scan.feed(data[cut:])
    return scan.finish()


@settings(max_examples=400, deadline=None)
@given(
    header=headers,
    body=st.lists(pieces, max_size=120),
    cut=st.integers(0, 400),
    block=st.sampled_from([16, 64, 1 << 20]),
)
def test_the_scan_skips_the_rows_arrow_skips(header, body, cut, block):
    data = (header + "".join(body)).encode()
    shape = _scan(data, cut)
    found = _arrow(data, block)
    if found is None:  # a quoted value (closed or not) across two of these tiny blocks
        assert block < len(data)
        return
    read, skipped = found
    assert shape.wrong_fields[:, 1].tolist() == skipped
    assert shape.records - len(shape.wrong_fields) == read
    good = sorted(set(range(1, shape.records + 1)) - set(shape.wrong_fields[:, 0].tolist()))
    assert shape.true_rows(np.arange(1, read + 1)).tolist() == good


@settings(max_examples=300, deadline=None)
@given(body=st.lists(pieces, max_size=80), cut=st.integers(0, 300))
def test_each_row_starts_on_the_line_pythons_csv_says(body, cut):
    text = "h1,h2\n" + "".join(body)
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    starts, previous = [], 0
    try:
        for row in reader:
            if row:  # a blank line is no row
                starts.append(previous + 1)
            previous = reader.line_num
    except csv.Error:  # the end of the input inside quotes
        return
    shape = _scan(text.encode(), cut)
    if shape.unclosed_quote is None:
        assert shape.line_of(np.arange(shape.records + 1)).tolist() == starts


byte = st.sampled_from([0x61, 0x80, 0xBF, 0xC3, 0xA9, 0xE0, 0xA0, 0xED, 0x9F, 0xF0, 0x90, 0xF4])


@settings(max_examples=300, deadline=None)
@given(records=st.lists(st.lists(byte, min_size=1, max_size=6), min_size=1, max_size=6))
def test_rows_that_are_not_utf8_are_the_ones_python_cannot_decode(records):
    values = [bytes(r) for r in records]
    shape = _scan(b"h,g\n" + b"".join(b"x," + v + b"\n" for v in values), 5)
    expected = []
    for row, value in enumerate(values, start=1):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            expected.append(row)
    assert sorted(set(shape.bad_utf8[:, 0].tolist())) == expected
    assert set(shape.bad_utf8[:, 1].tolist()) <= {1}  # the second field holds them


def test_an_unclosed_quote_is_found_where_it_opens():
    shape = _scan(b'a,b\n1,2\n3,"4\n5,6\n7,8\n', 9)
    assert shape.unclosed_quote == (2, 3)  # row 2, line 3
    assert shape.wrong_fields.tolist() == []  # the rest is one value: two fields, as wanted


def test_many_problems_outgrow_the_scans_first_buffers():
    rows = b"".join(b"1,2,3\n" if k % 2 else b"1\n\n" for k in range(5000))
    shape = _scan(b"a,b,c\n" + rows, 1000)
    assert shape.wrong_fields[:, 0].tolist() == list(range(1, 5001, 2))
    assert shape.line_of(np.array([2, 4]))[0] == 4  # a blank line after each short row
