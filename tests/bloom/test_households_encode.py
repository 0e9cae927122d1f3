"""Households and consent through the encoder: ``bloom.encode``, ``bloom.encode_csv`` and
``caselink encode``/``inspect``. The group ids are keyed, the relationships and scopes read
through their spellings, problems listed by row and never with a value, the CSV path (any
chunking) equal to the in-memory one, and a register without the columns encoded as before."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bloom
from bloom import EncodingError, group_keys
from tests.cli import caselink

SECRET_IDS = ("HHzq-0017", "HHzq-0042")  # household ids that must never be shown
SCHEMA = {
    "version": 1,
    "fields": [{"name": "given_name", "type": "name"}],
    "household": {
        "group_column": "household",
        "relationship_column": "relation",
        "relationship_spellings": {"cousin": "other"},
    },
    "consent": {
        "column": "consent",
        "scopes": ["tracing", "coordination"],
        "spellings": {"trace": "tracing", "all": ["tracing", "coordination"], "no": []},
    },
}


@pytest.fixture()
def families(people) -> pd.DataFrame:
    """The four people, two of them in one household, with relationships and consent."""
    return people.assign(
        household_id=[SECRET_IDS[0], SECRET_IDS[0], None, SECRET_IDS[1]],
        relationship=["HoH", "fille", "", "Brother"],
        consent=["Tracing, coordination", "", "tracing", None],
    )


def test_encode_reads_the_schemas_columns_keyed(families, person_schema, secret):
    batch = bloom.encode(families, person_schema, secret, agency="unhcr", id_column="ref")
    expected = group_keys(secret, "unhcr", list(families["household_id"]))
    assert np.array_equal(batch.groups, expected)
    assert batch.groups[0] == batch.groups[1] != batch.groups[3] and batch.groups[2] == 0
    assert batch.relationships.tolist() == [0, 2, -1, 4]
    assert batch.consent.tolist() == ["coordination tracing", "", "tracing", ""]
    other = bloom.encode(families, person_schema, secret, agency="irc", id_column="ref")
    assert not np.isin(other.groups[other.groups != 0], batch.groups).any()
    # the household columns set no bits
    plain = bloom.encode(families.iloc[:, :7], person_schema, secret, id_column="ref")
    assert np.array_equal(plain.filters, batch.filters)
    assert plain.groups is None and plain.relationships is None and plain.consent is None


def test_options_name_other_columns_and_must_exist(families, person_schema, secret):
    renamed = families.rename(columns={"household_id": "hh", "relationship": "rel"})
    batch = bloom.encode(
        renamed,
        person_schema,
        secret,
        id_column="ref",
        group_column="hh",
        relationship_column="rel",
    )
    assert batch.groups is not None and batch.relationships.tolist() == [0, 2, -1, 4]
    with pytest.raises(EncodingError) as e:
        bloom.encode(families, person_schema, secret, group_column="hh", relationship_column="x")
    assert e.value.problems == (
        "missing_group_column: --group-column 'hh' is not in the input",
        "missing_relationship_column: --relationship-column 'x' is not in the input",
    )
    no_consent = bloom.Schema.load("person-v1")
    with pytest.raises(EncodingError, match="--consent-column: the schema declares no consent"):
        bloom.encode(families, no_consent, secret, consent_column="consent")
    # the relationship needs no schema section: the common spellings are known
    plain = bloom.encode(families, no_consent, secret, relationship_column="relationship")
    assert plain.relationships.tolist() == [0, 2, -1, 4] and plain.groups is None


def test_an_unknown_relationship_is_a_warning_or_an_error_as_the_schema_says(
    tmp_path, families, secret
):
    families["relationship"] = ["hoh", "Cousin", "boss", "Zyxwvu"]
    families.rename(columns={"household_id": "household", "relationship": "relation"}).to_csv(
        tmp_path / "r.csv", index=False
    )
    schema = bloom.Schema.from_dict(SCHEMA)
    report = bloom.encode_csv(
        tmp_path / "r.csv", schema, secret, agency="a", out=tmp_path / "b.parquet", id_column="ref"
    )
    [warning] = report.warnings
    assert (warning.code, warning.column, warning.rows.tolist()) == (
        "unknown_relationship",
        "relation",
        [3, 4],
    )
    assert "read as not given (household.relationship_on_unknown is 'missing')" in warning.what
    assert bloom.read_batch(tmp_path / "b.parquet").relationships.tolist() == [0, 5, -1, -1]
    strict = {**SCHEMA, "household": {**SCHEMA["household"], "relationship_on_unknown": "reject"}}
    with pytest.raises(EncodingError) as e:
        bloom.encode_csv(
            tmp_path / "r.csv",
            bloom.Schema.from_dict(strict),
            secret,
            agency="a",
            out=tmp_path / "c.parquet",
            id_column="ref",
        )
    [problem] = e.value.problems
    assert problem.startswith("unknown_relationship: column 'relation' holds relationships")
    assert problem.endswith("the schema rejects them: 2 rows (3, 4)")
    assert "boss" not in problem and "Zyxwvu" not in problem
    assert not (tmp_path / "c.parquet").exists()


def test_an_unknown_consent_scope_refuses_the_register(tmp_path, families, secret):
    families["consent"] = ["all", "trace; Zyxwvu", "no", "health"]
    frame = families.rename(columns={"household_id": "household", "relationship": "relation"})
    frame.to_csv(tmp_path / "r.csv", index=False)
    schema = bloom.Schema.from_dict(SCHEMA)
    with pytest.raises(EncodingError) as e:
        bloom.encode_csv(
            tmp_path / "r.csv",
            schema,
            secret,
            agency="a",
            out=tmp_path / "b.parquet",
            id_column="ref",
            problems_out=tmp_path / "p.csv",
        )
    [problem] = e.value.problems
    assert problem == (
        "unknown_consent_scope: column 'consent' holds consent scopes that are none of the "
        "schema's (tracing, coordination) nor one of their spellings: list the spelling under "
        "consent.spellings in the schema, or fix the rows: 2 rows (2, 4)"
    )
    assert not (tmp_path / "b.parquet").exists()
    listed = pd.read_csv(tmp_path / "p.csv")
    assert listed[["row", "column", "problem"]].values.tolist() == [
        [2, "consent", "unknown_consent_scope"],
        [4, "consent", "unknown_consent_scope"],
    ]
    with pytest.raises(EncodingError, match="2 rows \\(2, 4\\)"):
        bloom.encode(frame, schema, secret, id_column="ref")
    frame["consent"] = ["all", "trace", "no", ""]
    assert bloom.encode(frame, schema, secret).consent.tolist() == [
        "coordination tracing",
        "tracing",
        "",
        "",
    ]


def test_a_declared_column_the_register_lacks_is_not_carried(tmp_path, people, secret):
    schema = bloom.Schema.load("person")
    people.assign(relationship=["head", "child", "", "spouse"]).to_csv(
        tmp_path / "r.csv", index=False
    )
    report = bloom.encode_csv(
        tmp_path / "r.csv", schema, secret, agency="a", out=tmp_path / "b.parquet", id_column="ref"
    )
    assert report.not_carried == (("group", "household_id"), ("consent", "consent"))
    assert report.households == bloom.HouseholdCounts(
        records=4, relationships={"head": 1, "spouse": 1, "child": 1}, relationship_not_given=1
    )
    batch = bloom.read_batch(tmp_path / "b.parquet")
    assert batch.groups is None and batch.consent is None
    assert batch.relationships.tolist() == [0, 2, -1, 1]


# -- the CSV path equals the in-memory one, whatever the chunking ---------------------------
_GROUPS = st.sampled_from([None, "", "  ", "H1", "h1 ", " H1", "ménage-7", "١٢", "H,2", 'H"3'])
_RELATIONS = st.sampled_from([None, "", "head", "HoH", "épouse", "fils", "Cousin", "boss", " x "])
_SCOPES = st.lists(st.sampled_from(["tracing", "Coordination", "trace", "all", "no"]), max_size=3)
_SEPARATORS = st.sampled_from([", ", ";", " | ", " "])


@st.composite
def registers(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    consent = []
    for _ in range(n):
        words, sep = draw(_SCOPES), draw(_SEPARATORS)
        consent.append(
            draw(st.sampled_from([None, sep.join(words)])) if not words else sep.join(words)
        )
    return pd.DataFrame(
        {
            "ref": [f"r{k}" for k in range(n)],
            "given_name": draw(
                st.lists(st.sampled_from(["Amina", "Li", None]), min_size=n, max_size=n)
            ),
            "household": draw(st.lists(_GROUPS, min_size=n, max_size=n)),
            "relation": draw(st.lists(_RELATIONS, min_size=n, max_size=n)),
            "consent": consent,
        }
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=registers(), chunk=st.sampled_from([256, 1024, 1 << 20]))
def test_chunked_csv_encoding_equals_the_in_memory_one(frame, chunk, secret):
    schema = bloom.Schema.from_dict(SCHEMA)
    memory = bloom.encode(frame, schema, secret, agency="a", id_column="ref")
    with tempfile.TemporaryDirectory() as d:
        frame.to_csv(Path(d) / "r.csv", index=False)
        report = bloom.encode_csv(
            Path(d) / "r.csv",
            schema,
            secret,
            agency="a",
            out=Path(d) / "b.parquet",
            id_column="ref",
            chunk_bytes=chunk,
        )
        streamed = bloom.read_batch(Path(d) / "b.parquet")
    assert np.array_equal(streamed.groups, memory.groups)
    assert np.array_equal(streamed.relationships, memory.relationships)
    assert streamed.consent.tolist() == memory.consent.tolist()
    assert streamed.metadata.content_hash == memory.metadata.content_hash
    assert report.households == bloom.HouseholdCounts.of(
        memory.groups, memory.relationships, memory.consent
    )
    unknown = ~frame["relation"].isin([None, "", "head", "HoH", "épouse", "fils", "Cousin"])
    assert (memory.relationships[unknown.to_numpy()] == -1).all()


# -- the command ------------------------------------------------------------------------------
def test_encode_prints_counts_and_inspect_shows_them(tmp_path, families, secret):
    families.to_csv(tmp_path / "r.csv", index=False)
    secret.write(tmp_path / "s.key")
    r = caselink(
        "encode", "--schema", "person", "--secret", tmp_path / "s.key", "--input",
        tmp_path / "r.csv", "--agency", "unhcr", "--id-column", "ref", "--out",
        tmp_path / "b.parquet",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "household groups: 2; records in a group: 3" in r.stderr
    assert "relationships: head 1, child 1, sibling 1; not given: 1" in r.stderr
    assert "consent scopes: coordination 1, tracing 2; records with no scope: 2" in r.stderr
    shown = caselink("inspect", tmp_path / "b.parquet")
    assert shown.returncode == 0, shown.stderr
    assert "household groups: 2; records in a group: 3" in shown.stdout
    found = json.loads(caselink("inspect", tmp_path / "b.parquet", "--json").stdout)
    assert found["households"] == {
        "records": 4,
        "grouped": 3,
        "groups": 2,
        "relationships": {"head": 1, "child": 1, "sibling": 1},
        "relationship_not_given": 1,
        "scopes": {"coordination": 1, "tracing": 2},
        "no_scope": 2,
    }
    for said in (r.stderr, shown.stdout, json.dumps(found)):
        assert not any(i in said for i in SECRET_IDS) and "Mohammed" not in said


def test_encode_options_and_what_is_not_carried(tmp_path, people, secret):
    people.assign(hh=["a", "a", "b", "b"]).to_csv(tmp_path / "r.csv", index=False)
    secret.write(tmp_path / "s.key")
    args = [
        "encode", "--schema", "person", "--secret", tmp_path / "s.key", "--input",
        tmp_path / "r.csv", "--agency", "a", "--out", tmp_path / "b.parquet",
    ]  # fmt: skip
    r = caselink(*args, "--group-column", "hh")
    assert r.returncode == 0, r.stderr
    assert "household groups: 2; records in a group: 4" in r.stderr
    assert "relationships: the schema's column 'relationship' is not in the register" in r.stderr
    assert "consent: the schema's column 'consent' is not in the register" in r.stderr
    assert "household groups: the schema's column" not in r.stderr
    r = caselink(*args, "--consent-column", "agreed", "--lang", "fr")
    assert r.returncode == 2
    assert "missing_consent_column: --consent-column 'agreed' n'est pas dans le fichier" in r.stderr
    assert caselink("inspect", tmp_path / "b.parquet").returncode == 0
    plain = caselink("inspect", tmp_path / "b.parquet", "--json")
    assert json.loads(plain.stdout)["households"]["groups"] == 2
