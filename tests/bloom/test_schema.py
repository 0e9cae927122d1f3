import json

import pytest

from bloom import BUILTIN_SCHEMAS, Schema, SchemaError

MINIMAL = {"version": 1, "fields": [{"name": "given_name", "type": "name"}]}


@pytest.mark.parametrize("name", BUILTIN_SCHEMAS)
def test_shipped_schemas_load(name):
    schema = Schema.load(name)
    # revision 2 adds a name_year segment (and person drops its 64-bit sex segment)
    bits = {"person-v1": 1024, "febrl-v1": 1024, "person": 1152, "febrl": 1280}
    assert schema.filter_bits == bits[name] and schema.name == name
    assert schema.fingerprint.startswith("blake3:") and len(schema.fingerprint) == 71


def test_febrl_schema_leaves_out_social_security_number():
    assert "soc_sec_id" not in Schema.load("febrl").columns


def test_defaults_are_filled_in():
    s = Schema.from_dict(MINIMAL)
    assert [seg.name for seg in s.segments] == ["record"]
    assert s.filter_bits == 1024
    f = s.fields[0]
    assert f.column == "given_name" and f.missing == "ignore"
    assert f.tokenisers[0].kind == "qgram" and f.tokenisers[0].per_part


def test_fingerprint_ignores_layout_name_and_description(tmp_path):
    doc = json.loads(json.dumps(MINIMAL))
    a = Schema.from_dict(doc)
    doc2 = {"fields": doc["fields"], "version": 1, "name": "renamed", "description": "words"}
    assert Schema.from_dict(doc2).fingerprint == a.fingerprint
    (tmp_path / "s.json").write_text(json.dumps(doc, indent=4))
    assert Schema.load(tmp_path / "s.json").fingerprint == a.fingerprint


def test_fingerprint_covers_defaults_and_semantics():
    a = Schema.from_dict(MINIMAL)
    explicit = {"version": 1, "fields": [{"name": "given_name", "type": "name", "weight": 8}]}
    assert Schema.from_dict(explicit).fingerprint == a.fingerprint
    changed = {"version": 1, "fields": [{"name": "given_name", "type": "name", "weight": 9}]}
    assert Schema.from_dict(changed).fingerprint != a.fingerprint


def test_every_invalid_field_is_reported_at_once():
    doc = {
        "version": 1,
        "fields": [
            {"name": "a", "type": "colour"},
            {"name": "b", "type": "name", "weight": 500},
            {"name": "c", "type": "date", "tokenisers": [{"kind": "qgram"}]},
        ],
    }
    with pytest.raises(SchemaError) as e:
        Schema.from_dict(doc)
    text = str(e.value)
    assert len(e.value.problems) == 2  # structure first: the type and the weight
    assert "fields/0/type" in text and "fields/1/weight" in text
    doc["fields"] = [
        *doc["fields"][2:],
        {"name": "d", "type": "category", "tokenisers": [{"kind": "date"}]},
        {"name": "d", "type": "name"},
    ]
    with pytest.raises(SchemaError) as e:
        Schema.from_dict(doc)
    assert len(e.value.problems) == 3
    assert "'qgram' does not fit a date field" in str(e.value)
    assert "'date' does not fit a category field" in str(e.value)
    assert "'d' is used more than once" in str(e.value)


def test_segments_must_exist_and_be_named():
    doc = {
        "version": 1,
        "filter": {"segments": [{"name": "x", "bits": 512}, {"name": "y", "bits": 512}]},
        "fields": [{"name": "a", "type": "name", "segment": "z"}, {"name": "b", "type": "name"}],
    }
    with pytest.raises(SchemaError) as e:
        Schema.from_dict(doc)
    assert "no segment is named 'z'" in str(e.value)
    assert "must name its 'segment'" in str(e.value)


def test_lengths_must_fit_words_and_hardening():
    with pytest.raises(SchemaError, match="multiple of 64"):
        Schema.from_dict({**MINIMAL, "filter": {"length": 1000}})
    with pytest.raises(SchemaError, match="multiple of 128"):
        Schema.from_dict({**MINIMAL, "filter": {"length": 64}, "hardening": {"xor_fold": True}})
    with pytest.raises(SchemaError, match="differs from the sum"):
        Schema.from_dict(
            {**MINIMAL, "filter": {"length": 128, "segments": [{"name": "s", "bits": 64}]}}
        )


def test_salt_must_name_a_field():
    with pytest.raises(SchemaError, match="no field is named 'dob'"):
        Schema.from_dict({**MINIMAL, "hardening": {"salt": {"field": "dob"}}})


def test_bad_json_names_line(tmp_path):
    (tmp_path / "s.json").write_text('{"version": 1,\n "fields": [}')
    with pytest.raises(SchemaError, match="line 2"):
        Schema.load(tmp_path / "s.json")


def test_missing_file_lists_shipped_schemas(tmp_path):
    with pytest.raises(SchemaError, match="febrl, person"):
        Schema.load(tmp_path / "absent.json")


def test_unknown_top_level_key_is_refused():
    with pytest.raises(SchemaError, match="Additional properties"):
        Schema.from_dict({**MINIMAL, "colour": "blue"})


def test_hardening_changes_output_length():
    base = {"version": 1, "filter": {"length": 256}, "fields": MINIMAL["fields"]}
    assert Schema.from_dict({**base, "hardening": {"balance": True}}).filter_bits == 512
    assert Schema.from_dict({**base, "hardening": {"xor_fold": True}}).filter_bits == 128
    both = {"balance": True, "xor_fold": True, "diffusion": {"t": 4}, "blip": {"epsilon": 3}}
    assert Schema.from_dict({**base, "hardening": both}).filter_bits == 256
