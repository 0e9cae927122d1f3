"""Normalising and date-parsing from Arrow buffers equal the reference functions."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from bloom._arrowparse import FlatText, normalise_dictionary, parse_dates_dictionary
from bloom._encoder import factorize
from bloom._fastparse import DateParser, TextNormaliser
from bloom._tokens import normalise_text, parse_date_with_format

from .test_reference_parity import FORMATS, OPTIONS, date_text, text

ascii_text = st.text(alphabet=st.characters(max_codepoint=127), max_size=20)
values = st.lists(st.one_of(ascii_text, text, st.text(alphabet="al -HsnEé,.\t", max_size=16)))


def _sliced(items: list[str]) -> pa.Array:
    """The values as a string array with a non-zero offset, as Arrow slices are."""
    return pa.array(["pad", *items], type=pa.string()).slice(1)


@settings(max_examples=300, deadline=None)
@given(values=values, opts=st.sampled_from(OPTIONS))
def test_buffer_normaliser_matches_reference(values, opts):
    got = normalise_dictionary(_sliced(values), TextNormaliser(opts)).strings()
    assert got == [normalise_text(v, opts) for v in values]


@settings(max_examples=50, deadline=None)
@given(values=st.lists(text))
def test_flat_text_round_trips(values):
    assert FlatText.from_strings(values).strings() == values


@settings(max_examples=300, deadline=None)
@given(values=st.lists(date_text, max_size=10), formats=st.sampled_from(FORMATS))
def test_buffer_date_parser_matches_reference(values, formats):
    d = parse_dates_dictionary(_sliced(values), DateParser(formats))
    for v, row, parsed, is_blank, which in zip(
        values, d.ymd.tolist(), d.ok, d.blank, d.format, strict=True
    ):
        expected, expected_format = parse_date_with_format(v, formats)
        got = (row[0], row[1] or None, row[2] or None) if parsed else None
        assert got == expected
        assert which == expected_format  # the format that read it (ambiguity depends on it)
        assert is_blank == (expected is None and not v.strip())


@settings(max_examples=100, deadline=None)
@given(
    cells=st.lists(st.none() | st.sampled_from(["a", "b", "", "é"]), max_size=40),
    start=st.integers(0, 5),
)
def test_factorize_codes_round_trip(cells, start):
    arr = pa.array(cells, type=pa.string()).slice(min(start, len(cells)))
    codes, uniques = factorize(arr)
    assert [None if c < 0 else uniques[int(c)].as_py() for c in codes] == arr.to_pylist()
    assert uniques.null_count == 0 and len(set(uniques.to_pylist())) == len(uniques)
