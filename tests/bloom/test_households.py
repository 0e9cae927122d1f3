"""Households and consent in the schema and the batch file: the keyed group pseudonyms, the
relationship and scope spellings, the schema sections (never in the fingerprint), and the
optional batch columns (round trip, content hash, the reader's refusals, and batches without
them exactly as before)."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bloom
from bloom import RELATIONSHIPS, BatchError, SchemaError, group_keys, join_scopes, split_scopes
from bloom._households import relationship_code, relationship_codes
from tests.bloom.crafted import content_hash

SECRET_GROUP = "HH-Zyxwvu-77"  # a household id that must never appear in a message


# -- the contract: group keys, relationships, scopes ---------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12).filter(str.strip), min_size=1, max_size=20))
def test_group_keys_are_equal_within_an_agency_and_nowhere_else(refs):
    a = bloom.Secret(bytes(range(32)))
    other = bloom.Secret(bytes(range(1, 33)))
    keys = group_keys(a, "unhcr", refs)
    assert keys.dtype == np.uint64 and (keys != 0).all()
    for i, j in zip(range(len(refs)), range(1, len(refs)), strict=False):
        assert (keys[i] == keys[j]) == (refs[i].strip() == refs[j].strip())
    assert np.array_equal(group_keys(a, "unhcr", [f" {r} " for r in refs]), keys)
    assert not np.isin(group_keys(a, "irc", refs), keys).any()
    assert not np.isin(group_keys(other, "unhcr", refs), keys).any()


def test_an_empty_group_ref_is_no_group():
    keys = group_keys(bloom.Secret(bytes(32)), "a", [None, "", "   ", "H1"])
    assert keys.tolist()[:3] == [bloom.NO_GROUP] * 3 and keys[3] != 0


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("head", 0),
        ("HoH", 0),
        ("Head of household", 0),
        ("chef-de-ménage", None),  # accents are not folded: a schema may add it
        ("chef de menage", 0),
        ("épouse", 1),
        ("ابن", 2),
        ("Mother", 3),
        ("soeur", 4),
        ("non-relative", 5),
        ("", -1),
        ("  ", -1),
        (None, -1),
        ("cousin", None),
    ],
)
def test_relationship_spellings(written, code):
    assert relationship_code(written) == code


def test_a_schema_spelling_adds_to_the_common_ones():
    codes, unknown = relationship_codes(["Cousin", "hoh", "boss", "cousin"], {"cousin": "other"})
    assert codes.tolist() == [5, 0, -1, 5] and unknown.tolist() == [2]


def test_scopes_are_split_casefolded_and_stored_sorted():
    assert split_scopes("Tracing, coordination;health | tracing") == (
        "tracing",
        "coordination",
        "health",
        "tracing",
    )
    assert split_scopes("") == () and split_scopes(None) == () and split_scopes(" ,; ") == ()
    assert join_scopes(["tracing", "coordination", "tracing"]) == "coordination tracing"
    assert join_scopes([]) == ""


# -- the schema sections ------------------------------------------------------------------
MINIMAL = {"version": 1, "fields": [{"name": "given_name", "type": "name"}]}
HOUSEHOLD = {
    "group_column": "hh",
    "relationship_column": "rel",
    "relationship_spellings": {"cousin": "other", "Chef-de-ménage": "head"},
    "relationship_on_unknown": "reject",
}
CONSENT = {
    "column": "agreed",
    "scopes": ["tracing", "coordination"],
    "spellings": {"Trace": "tracing", "all": ["tracing", "coordination"], "no": []},
}


def test_the_sections_are_typed_and_left_out_of_the_fingerprint():
    plain = bloom.Schema.from_dict(MINIMAL)
    schema = bloom.Schema.from_dict({**MINIMAL, "household": HOUSEHOLD, "consent": CONSENT})
    assert schema.fingerprint == plain.fingerprint
    assert plain.household is None and plain.consent is None
    assert schema.household == bloom.HouseholdSpec(
        group_column="hh",
        relationship_column="rel",
        relationship_spellings=(("Chef-de-ménage", "head"), ("cousin", "other")),
        relationship_on_unknown="reject",
    )
    assert schema.consent == bloom.ConsentSpec(
        scopes=("tracing", "coordination"),
        column="agreed",
        spellings=(("all", ("coordination", "tracing")), ("no", ()), ("trace", ("tracing",))),
    )
    assert schema.consent.read("trace") == ("tracing",) and schema.consent.read("x") is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        schema.household.group_column = "other"  # type: ignore[misc,union-attr]
    assert set(schema.columns) == {"given_name"}  # the household columns set no bits


def test_the_person_schema_declares_them_and_keeps_its_fingerprint(person_schema):
    assert person_schema.household == bloom.HouseholdSpec("household_id", "relationship")
    assert person_schema.consent == bloom.ConsentSpec(("tracing", "coordination"), "consent")
    without = person_schema.document
    del without["household"], without["consent"]
    assert bloom.Schema.from_dict(without).fingerprint == person_schema.fingerprint
    pinned = "blake3:370725a1e884a2c2521bcf2f01f3629c05ac0835265ef960489f0f1efc4dfceb"
    assert person_schema.fingerprint == pinned


def test_the_json_schema_holds_the_contracts_relationships_and_scope_pattern():
    text = resources.files("bloom").joinpath("linkage-schema.v1.json").read_text("utf-8")
    doc = json.loads(text)
    spelling = doc["properties"]["household"]["properties"]["relationship_spellings"]
    assert tuple(spelling["additionalProperties"]["enum"]) == RELATIONSHIPS
    assert doc["$defs"]["scope"]["pattern"] == bloom.SCOPE_PATTERN.pattern


@pytest.mark.parametrize(
    ("section", "said"),
    [
        ({"consent": {"scopes": ["Tracing"]}}, "consent/scopes/0: 'Tracing' does not match"),
        ({"consent": {"scopes": []}}, "consent/scopes: [] should be non-empty"),
        ({"consent": {"column": "c"}}, "consent: 'scopes' is a required property"),
        (
            {"household": {"relationship_spellings": {"boss": "chief"}}},
            "household/relationship_spellings/boss: 'chief' is not one of",
        ),
        ({"household": {"relationship_on_unknown": "drop"}}, "household/relationship_on_unknown"),
        ({"household": {"group_colum": "h"}}, "household: Additional properties"),
    ],
)
def test_a_malformed_section_is_refused_naming_its_path(section, said):
    with pytest.raises(SchemaError) as e:
        bloom.Schema.from_dict({**MINIMAL, **section})
    assert any(p.startswith(said) for p in e.value.problems), e.value.problems


def test_every_wrong_spelling_is_reported_at_once():
    doc = {
        **MINIMAL,
        "household": {
            "relationship_spellings": {"Step-Son": "child", "stepson": "other", "--": "head"}
        },
        "consent": {
            "scopes": ["tracing"],
            "spellings": {"a b": "tracing", "Tracing": "tracing", "all": ["tracing", "health"]},
        },
    }
    with pytest.raises(SchemaError) as e:
        bloom.Schema.from_dict(doc)
    problems = e.value.problems
    assert len(problems) == 5, problems
    assert any(
        p.startswith("household/relationship_spellings/stepson: reads as the same")
        for p in problems
    )
    assert "household/relationship_spellings/--: a spelling needs a letter or digit" in problems
    assert any(p.startswith("consent/spellings/a b: a spelling is one word") for p in problems)
    assert any(p.startswith("consent/spellings/Tracing: 'tracing' is a scope") for p in problems)
    assert "consent/spellings/all: 'health' is not one of the scopes (tracing)" in problems


# -- the batch file ---------------------------------------------------------------------------
@pytest.fixture()
def plain(people, person_v1_schema, secret):
    """A genuine batch of four records without household columns."""
    return bloom.encode(people, person_v1_schema, secret, agency="unhcr", id_column="ref")


def with_households(batch: bloom.EncodedBatch, secret: bloom.Secret) -> bloom.EncodedBatch:
    groups = group_keys(secret, "unhcr", [SECRET_GROUP, SECRET_GROUP, None, "H2"])
    return dataclasses.replace(
        batch,
        groups=groups,
        relationships=np.array([0, 2, -1, 5], dtype=np.int8),
        consent=np.array(["coordination tracing", "", "tracing", ""], dtype=object),
    )


def test_the_household_columns_round_trip_and_read_in_plain_pandas(tmp_path, plain, secret):
    batch = with_households(plain, secret)
    path = batch.write(tmp_path / "b.parquet")
    back = bloom.read_batch(path)
    assert np.array_equal(back.groups, batch.groups) and back.groups.dtype == np.uint64
    assert back.relationships.tolist() == [0, 2, -1, 5] and back.relationships.dtype == np.int8
    assert back.consent.tolist() == ["coordination tracing", "", "tracing", ""]
    assert back.metadata.content_hash != plain.metadata.content_hash
    types = pq.read_schema(path)
    assert (types.field("group").type, types.field("relationship").type) == (
        pa.uint64(),
        pa.string(),
    )
    frame = pd.read_parquet(path)
    assert list(frame.columns) == ["record_ref", "bloom", "group", "relationship", "consent"]
    assert frame["relationship"].tolist() == ["head", "child", None, "other"]
    assert frame["group"].isna().tolist() == [False, False, True, False]
    assert SECRET_GROUP.encode() not in path.read_bytes()
    assert bloom.HouseholdCounts.of(back.groups, back.relationships, back.consent) == (
        bloom.HouseholdCounts(
            records=4,
            grouped=3,
            groups=2,
            relationships={"head": 1, "child": 1, "other": 1},
            relationship_not_given=1,
            scopes={"coordination": 1, "tracing": 2},
            no_scope=2,
        )
    )


def test_a_batch_without_them_is_the_file_it_always_was(tmp_path, plain):
    """Byte for byte the file the writer made before the household columns: the same columns,
    compression and encodings, and the content hash as computed then."""
    assert plain.groups is None and plain.relationships is None and plain.consent is None
    path = plain.write(tmp_path / "new.parquet")
    meta = pq.read_metadata(path).metadata[b"caselink"]
    assert json.loads(meta)["content_hash"] == content_hash(list(plain.record_refs), plain.filters)
    bits = plain.metadata.filter_bits
    old_schema = pa.schema(
        [
            pa.field("record_ref", pa.string(), nullable=False),
            pa.field("bloom", pa.binary(bits // 8), nullable=False),
        ]
    )
    filters = np.ascontiguousarray(plain.filters, dtype="<u8")
    blooms = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(bits // 8), len(plain), [None, pa.py_buffer(filters)]
    )
    refs = pa.array(list(plain.record_refs), pa.string())
    old = pq.ParquetWriter(
        tmp_path / "old.parquet",
        old_schema,
        compression={"record_ref": "zstd", "bloom": "none"},
        use_dictionary=False,
    )
    old.write_table(pa.Table.from_arrays([refs, blooms], schema=old_schema), row_group_size=256_000)
    old.add_key_value_metadata({"caselink": meta.decode()})
    old.close()
    assert path.read_bytes() == (tmp_path / "old.parquet").read_bytes()
    back = bloom.read_batch(path)
    assert back.groups is None and back.relationships is None and back.consent is None


def _rewritten(path, column: str, values: pa.Array):
    """The file with one household column replaced, its metadata (and content hash) kept."""
    table = pq.read_table(path)
    meta = {b"caselink": pq.read_metadata(path).metadata[b"caselink"]}
    index = table.schema.get_field_index(column)
    if index < 0:
        table = table.append_column(column, values)
    else:
        table = table.set_column(index, column, values)
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("group", None),  # the first two records' groups swapped for other keys
        ("relationship", pa.array(["head", "spouse", None, "other"], pa.string())),
        ("consent", pa.array(["tracing", "", "tracing", ""], pa.string())),
        ("consent", pa.array(["coordination tracing", "", "", ""], pa.string())),
    ],
)
def test_the_content_hash_catches_an_edited_household_value(
    tmp_path, plain, secret, column, values
):
    path = with_households(plain, secret).write(tmp_path / "b.parquet")
    if values is None:
        keys = group_keys(secret, "unhcr", ["H9", "H9", None, "H2"])
        values = pa.array(keys, pa.uint64(), mask=keys == 0)
    with pytest.raises(BatchError, match="content_hash does not match"):
        bloom.read_batch(_rewritten(path, column, values))


def test_dropping_a_household_column_breaks_the_hash(tmp_path, plain, secret):
    path = with_households(plain, secret).write(tmp_path / "b.parquet")
    table = pq.read_table(path).drop_columns(["consent"])
    meta = {b"caselink": pq.read_metadata(path).metadata[b"caselink"]}
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(BatchError, match="content_hash does not match"):
        bloom.read_batch(path)


BAD = [
    (
        "group",
        pa.array([1, 2, 3, 4], pa.int64()),
        "column 'group' has type int64; it must be uint64",
    ),
    (
        "group",
        pa.array([7, 0, None, 9], pa.uint64()),
        "column 'group' holds 0, which is no household pseudonym (a record in no group holds "
        "null): 1 row (2)",
    ),
    ("relationship", pa.array([0, 1, 2, 3], pa.int8()), "column 'relationship' has type int8"),
    (
        "relationship",
        pa.array(["head", "Cousin", None, "HoH"], pa.string()),
        "column 'relationship' holds values that are none of head, spouse, child, parent, "
        "sibling, other: 2 rows (2, 4)",
    ),
    ("consent", pa.array([b"tracing"] * 4, pa.binary()), "column 'consent' has type binary"),
    (
        "consent",
        pa.array(["tracing coordination", "Tracing", "tracing  x", None], pa.string()),
        "column 'consent' holds not scope codes, distinct and sorted, separated by one space: "
        "4 rows (1, 2, 3, 4)",
    ),
]


@pytest.mark.parametrize(("column", "values", "said"), BAD)
def test_the_reader_refuses_a_bad_type_or_value_naming_column_and_rows(
    tmp_path, plain, secret, column, values, said
):
    path = with_households(plain, secret).write(tmp_path / "b.parquet")
    with pytest.raises(BatchError) as e:
        bloom.read_batch(_rewritten(path, column, values))
    assert said in e.value.problems[0], e.value.problems
    assert "Cousin" not in str(e.value) and "Tracing" not in str(e.value)


def test_the_reader_still_refuses_any_other_column(tmp_path, plain, secret):
    path = with_households(plain, secret).write(tmp_path / "b.parquet")
    _rewritten(path, "household_id", pa.array([SECRET_GROUP] * 4, pa.string()))
    with pytest.raises(BatchError) as e:
        bloom.read_batch(path)
    [problem] = e.value.problems
    assert problem.startswith("column 'household_id': a batch holds only record_ref and bloom")
    assert "group, relationship and consent" in problem and SECRET_GROUP not in problem


def _writer(path, like: bloom.EncodedBatch) -> bloom.BatchWriter:
    m = like.metadata
    return bloom.BatchWriter(
        path,
        fingerprint=m.schema_fingerprint,
        agency=m.agency,
        segments=m.segments,
        key_check=m.key_check,
    )


def test_the_writer_holds_the_arrays_to_the_same_rules(tmp_path, plain):
    refs, filters = list(plain.record_refs), plain.filters
    cases = [
        ({"relationships": np.array([0, 1, 6, -2], np.int8)}, "not a relationship code"),
        ({"relationships": np.array([0, 1, 2, 3])}, "must be int8"),
        ({"groups": np.array([1, 2, 3], np.uint64)}, "one value per record is needed (4)"),
        ({"groups": np.array([1, 2, 3, 4], np.int64)}, "must be uint64"),
        ({"consent": np.array(["b a", "", "", ""], object)}, "1 row (1)"),
    ]
    for k, (given_, said) in enumerate(cases):
        target = tmp_path / f"b{k}.parquet"
        with pytest.raises(BatchError, match=re.escape(said)), _writer(target, plain) as w:
            w.write(refs, filters, **given_)
        assert not target.exists()
    with (
        pytest.raises(BatchError, match="every chunk must give the same household columns"),
        _writer(tmp_path / "c.parquet", plain) as w,
    ):
        w.write(refs[:2], filters[:2], groups=np.array([1, 2], np.uint64))
        w.write(refs[2:], filters[2:])
    assert list(tmp_path.glob("*.tmp")) == [] and not (tmp_path / "c.parquet").exists()


def test_chunked_writes_hash_as_one(tmp_path, plain, secret):
    batch = with_households(plain, secret)
    batch.write(tmp_path / "one.parquet")
    with _writer(tmp_path / "two.parquet", plain) as w:
        for part in (slice(0, 1), slice(1, 4)):
            w.write(
                batch.record_refs[part],
                batch.filters[part],
                groups=batch.groups[part],
                relationships=batch.relationships[part],
                consent=batch.consent[part],
            )
    one, two = (
        bloom.read_batch(tmp_path / "one.parquet"),
        bloom.read_batch(tmp_path / "two.parquet"),
    )
    assert one.metadata.content_hash == two.metadata.content_hash
    assert np.array_equal(one.groups, two.groups) and list(one.consent) == list(two.consent)
