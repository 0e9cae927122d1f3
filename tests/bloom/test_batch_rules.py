"""What a batch may hold: the ref rule and the layout rule, applied by the reader and the
writer alike. Each crafted file carries a correct content hash, so only the rule under test
can refuse it; every message names the row and the rule and never the ref."""

from __future__ import annotations

import secrets
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import bloom
from bloom import BatchError
from tests.bloom.crafted import content_hash, craft

SECRET_REF = "Zyxwvutsrq"  # a value that must never appear in an error message


@pytest.fixture()
def good(tmp_path, people, person_v1_schema, secret):
    """A genuine batch of four records and its metadata (1024-bit filters)."""
    path = tmp_path / "good.parquet"
    bloom.encode(people, person_v1_schema, secret, agency="unhcr", id_column="ref").write(path)
    return bloom.read_batch(path)


def refused(path) -> BatchError:
    with pytest.raises(BatchError) as e:
        bloom.read_batch(path)
    return e.value


def test_the_crafted_hash_is_the_real_one(good):
    refs = list(good.record_refs)
    assert content_hash(refs, good.filters) == good.metadata.content_hash


# -- the segment layout ---------------------------------------------------------------------
def _layout(*pairs):
    return [{"name": n, "bits": b} for n, b in pairs]


LAYOUTS = {
    # name: (segments, filter_bits, what the problem must say)
    "negative bits": (
        _layout(("name", -512), ("birth", 1536)),
        1024,
        "metadata/segments/0/bits: must be a positive multiple of 64 (found -512)",
    ),
    "zero bits": (
        _layout(("name", 0), ("birth", 1024)),
        1024,
        "metadata/segments/0/bits: must be a positive multiple of 64 (found 0)",
    ),
    "bits not a multiple of 64": (
        _layout(("name", 500), ("birth", 524)),
        1024,
        "metadata/segments/1/bits: must be a positive multiple of 64",
    ),
    "duplicate names": (
        _layout(("name", 512), ("name", 512)),
        1024,
        "metadata/segments: the name 'name' is used more than once",
    ),
    "sum differs": (
        _layout(("name", 512), ("birth", 256)),
        1024,
        "metadata/filter_bits: 1024 differs from the sum of the segment bits (768)",
    ),
    "malformed name": (
        _layout(("1st", 512), ("birth", 512)),
        1024,
        "metadata/segments/0/name: use 1-64 letters",
    ),
    "not a segment": (
        [["name", 512, "x"], {"name": "birth", "bits": 512}],
        1024,
        "metadata/segments/0: a segment is {name, bits}",
    ),
    "no segments": ([], 1024, "metadata/segments: a list of at least one"),
    "filter bits past any width": (
        _layout(("name", 512), ("birth", 512)),
        2**63,
        f"metadata/filter_bits: {2**63} differs from the sum of the segment bits (1024)",
    ),
    "filter width": (
        _layout(("name", 512), ("birth", 1024)),
        1536,
        "column 'bloom' has type fixed_size_binary[128]; metadata says 1536-bit",
    ),
}


@pytest.mark.parametrize("case", LAYOUTS)
def test_malformed_layouts_are_refused_each_named(tmp_path, good, case):
    segments, bits, said = LAYOUTS[case]
    path = craft(
        tmp_path / "b.parquet",
        list(good.record_refs),
        good.filters,
        like=good.metadata,
        segments=segments,
        filter_bits=bits,
    )
    e = refused(path)
    assert any(said in p for p in e.problems), e.problems


def test_a_wellformed_foreign_layout_is_read(tmp_path, good):
    """``name:512,zzz:512`` is a layout in itself: the service refuses it against the
    agreement's (tests/service/e2e/test_uploads.py); the reader reports it as it is."""
    path = craft(
        tmp_path / "b.parquet",
        list(good.record_refs),
        good.filters,
        like=good.metadata,
        segments=_layout(("name", 512), ("zzz", 512)),
    )
    assert bloom.read_batch(path).metadata.segments == (("name", 512), ("zzz", 512))


def test_the_writer_refuses_a_malformed_layout(tmp_path):
    with pytest.raises(BatchError, match=r"segments/0/bits: must be a positive multiple of 64"):
        bloom.BatchWriter(
            tmp_path / "b.parquet",
            fingerprint="blake3:00",
            agency="a",
            segments=(("name", -64), ("birth", 128)),
            key_check=None,
        )
    assert list(tmp_path.iterdir()) == []


# -- the ref rule ---------------------------------------------------------------------------
EMPTY, BLANK = "is empty", "is blank"
LONG, CONTROL, INVISIBLE = "is longer than 256 characters", "control character", "invisible"
BAD_REFS = {
    # name: (ref, the rule it breaks)
    "257 characters": (SECRET_REF + "x" * 247, LONG),
    "NUL": (SECRET_REF + "\x00", CONTROL),
    "tab": (SECRET_REF + "\t1", CONTROL),
    "CR": (SECRET_REF + "\r", CONTROL),
    "LF": ("\n" + SECRET_REF, CONTROL),
    "DEL": (SECRET_REF + "\x7f", CONTROL),
    "C1 control (NEL)": (SECRET_REF + "\x85", CONTROL),
    "line separator U+2028": (SECRET_REF + "\u2028", INVISIBLE),
    "zero-width space U+200B": (SECRET_REF + "\u200b", INVISIBLE),
    "right-to-left override U+202E": (SECRET_REF + "\u202e", INVISIBLE),
    "byte-order mark U+FEFF": ("\ufeff" + SECRET_REF, INVISIBLE),
    "empty": ("", EMPTY),
    "spaces only": ("   ", BLANK),
    "no-break and ideographic spaces only": ("\u00a0\u3000", BLANK),
}
GOOD_REFS = ["x" * 256, "\U0001f600" * 256, "رقم-١٢٣", "Dossier n° 12/B", " padded ", "a b"]


@pytest.mark.parametrize("case", BAD_REFS)
def test_each_bad_ref_is_refused_by_row_and_rule(tmp_path, good, case):
    ref, rule = BAD_REFS[case]
    refs = [*good.record_refs[:2], ref, good.record_refs[3]]
    path = craft(tmp_path / "b.parquet", refs, good.filters, like=good.metadata)
    e = refused(path)
    assert [p for p in e.problems if rule in p and "1 row (3)" in p], e.problems
    assert SECRET_REF not in str(e) and all(SECRET_REF not in p for p in e.problems)


@pytest.mark.parametrize("ref", GOOD_REFS)
def test_good_refs_round_trip(tmp_path, good, ref):
    refs = [*good.record_refs[:3], ref]
    path = craft(tmp_path / "b.parquet", refs, good.filters, like=good.metadata)
    assert list(bloom.read_batch(path).record_refs) == refs


def test_the_writer_refuses_bad_refs_in_every_chunk(tmp_path, good):
    path = tmp_path / "b.parquet"
    with (
        pytest.raises(BatchError) as e,
        bloom.BatchWriter(
            path,
            fingerprint=good.metadata.schema_fingerprint,
            agency="unhcr",
            segments=good.metadata.segments,
            key_check=good.metadata.key_check,
        ) as w,
    ):
        w.write(["a", "b\x00"], good.filters[:2])
        w.write(["c", "", "d" * 300, "a"], good.filters[:4])
    problems = e.value.problems
    control = "record_ref holds a control character (such as NUL, tab, CR or LF): 1 row (2)"
    assert control in problems
    assert "record_ref is empty: 1 row (4)" in problems
    assert "record_ref is longer than 256 characters: 1 row (5)" in problems
    assert any("duplicated: 1 pair (rows 1 and 6)" in p for p in problems), problems
    assert [p.name for p in tmp_path.iterdir()] == ["good.parquet"]  # nothing else left


def test_duplicates_get_one_message(tmp_path, good):
    refs = [good.record_refs[0], good.record_refs[1], good.record_refs[0], good.record_refs[0]]
    e = refused(craft(tmp_path / "b.parquet", refs, good.filters, like=good.metadata))
    assert e.problems == (
        "record_ref is duplicated: 2 pairs (rows 1 and 3, rows 3 and 4); "
        "each record needs its own ref",
    )


def test_refs_that_are_not_utf8_are_refused_by_row(tmp_path, good):
    path = craft(tmp_path / "b.parquet", list(good.record_refs), good.filters, like=good.metadata)
    raw = pa.array([b"p1", b"p2", b"\xff" + SECRET_REF.encode(), b"p4"], pa.binary())
    table = pq.read_table(path)
    meta = table.schema.metadata
    table = table.set_column(0, "record_ref", raw.view(pa.string()))
    pq.write_table(table.replace_schema_metadata(meta), path)
    e = refused(path)
    assert "record_ref is not valid UTF-8 text: 1 row (3)" in e.problems
    assert SECRET_REF not in str(e)


def test_a_batch_without_records_is_refused(tmp_path, good):
    empty = np.zeros((0, good.words), np.uint64)
    e = refused(craft(tmp_path / "b.parquet", [], empty, like=good.metadata))
    assert "the batch holds no records; a batch needs at least one" in e.problems


def test_a_plaintext_column_is_refused_saying_why(tmp_path, good, people):
    names = pa.array(list(people["given_name"]), pa.string())
    path = craft(
        tmp_path / "b.parquet",
        list(good.record_refs),
        good.filters,
        like=good.metadata,
        columns={"given_name": names, "\u202eevil\nname": names},
    )
    e = refused(path)
    [problem] = [p for p in e.problems if "plaintext" in p]
    assert problem.startswith("columns 'given_name', #4: a batch holds only record_ref")
    assert "plaintext never reaches the service" in problem
    for value in people["given_name"]:
        assert value not in str(e)
    assert "evil" not in str(e)


# -- the rule is one rule: any ref it accepts round-trips, any it refuses is refused --------
def _reference_accepts(ref: str) -> bool:
    """The rule as the module docstring states it, through Python's own Unicode tables."""
    banned = {"Cc", "Cf", "Zl", "Zp"}
    return (
        1 <= len(ref) <= bloom.MAX_REF_LENGTH
        and not all(unicodedata.category(c) == "Zs" for c in ref)
        and not any(unicodedata.category(c) in banned for c in ref)
    )


def test_the_arrow_tables_agree_with_python_on_every_assigned_code_point():
    """The categories the rule reads (RE2's, in pyarrow) are Python's, for every code point
    Python's Unicode database assigns (a newer table may know more)."""
    cps = [c for c in range(0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    arr = pa.array([chr(c) for c in cps], pa.string())
    for cls in ("Cc", "Cf", "Zl", "Zp", "Zs"):
        arrow = pc.match_substring_regex(arr, rf"\p{{{cls}}}").to_numpy(zero_copy_only=False)
        python = np.array([unicodedata.category(chr(c)) == cls for c in cps])
        assert np.array_equal(arrow, python), cls


REF_TEXT = st.text(
    st.characters(exclude_categories=("Cs", "Cn")) | st.sampled_from("\x00\t\n\r \u2028\u200b"),
    max_size=300,
) | st.text(st.sampled_from(" \u00a0\u3000"), max_size=4)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ref=REF_TEXT)
@example(ref="x" * 256)
@example(ref="x" * 257)
@example(ref="")
@example(ref="\u3000")
def test_any_ref_the_rule_accepts_round_trips_and_any_other_is_refused(tmp_path, good, ref):
    refs = [*good.record_refs[:3], ref]
    assume(ref not in refs[:3])
    accepted = _reference_accepts(ref)
    assert (not bloom.ref_problems([ref])) == accepted
    out = tmp_path / f"{secrets.token_hex(6)}.parquet"
    meta = good.metadata
    if accepted:
        bloom.EncodedBatch(np.array(refs, dtype=object), good.filters, meta).write(out)
        assert list(bloom.read_batch(out).record_refs) == refs
        return
    with pytest.raises(BatchError, match=r"record_ref .*: 1 row \(4\)"):
        bloom.EncodedBatch(np.array(refs, dtype=object), good.filters, meta).write(out)
    assert not out.exists()
    e = refused(craft(tmp_path / f"{secrets.token_hex(6)}.parquet", refs, good.filters, like=meta))
    assert any(p.startswith("record_ref ") and p.endswith("1 row (4)") for p in e.problems)
