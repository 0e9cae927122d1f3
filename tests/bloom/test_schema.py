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


# -- input settings: date order and category spellings ------------------------------------------
SEX = {"name": "sex", "type": "category"}
DOB = {"name": "dob", "type": "date", "date": {"formats": ["%Y-%m-%d", "%d.%m.%Y", "%m/%Y"]}}


def test_date_order_rewrites_day_month_formats_only():
    plain = Schema.from_dict({"version": 1, "fields": [DOB]})
    assert plain.date_order is None and plain.fields[0].date_formats == (
        "%Y-%m-%d",
        "%d.%m.%Y",
        "%m/%Y",
    )
    read = {o: plain.with_date_order(o).fields[0] for o in ("DMY", "MDY", "YMD")}
    assert read["MDY"].date_formats == ("%Y-%m-%d", "%m.%d.%Y", "%m/%Y")
    assert read["YMD"].date_formats == ("%Y-%m-%d", "%Y.%m.%d", "%m/%Y")
    assert read["DMY"].date_formats == plain.fields[0].date_formats
    assert (read["DMY"].alt_date_order, read["MDY"].alt_date_order) == ("MDY", "DMY")
    assert read["MDY"].alt_date_formats == plain.fields[0].date_formats
    assert {plain.with_date_order(o).fingerprint for o in ("DMY", "MDY", None)} == {
        plain.fingerprint
    }
    with pytest.raises(SchemaError, match="date order 'DYM' is not one of DMY, MDY, YMD"):
        plain.with_date_order("DYM")
    with pytest.raises(SchemaError, match="date_order"):
        Schema.from_dict({"version": 1, "date_order": "dmy", "fields": [DOB]})


def test_category_values_are_checked_and_normalised():
    doc = {"version": 1, "fields": [{**SEX, "category": {"values": {"M": ["male"], "F": ["f."]}}}]}
    f = Schema.from_dict(doc).fields[0]
    assert dict(f.category_map) == {"m": "m", "male": "m", "f": "f"}  # 'f.' normalises to 'f'
    assert f.categories == ("M", "F") and f.on_unknown == "reject"
    bad = {
        "version": 1,
        "fields": [
            {**SEX, "category": {"values": {"M": ["male", "X"], "F": ["female", "x"], "?": []}}},
            {"name": "given_name", "type": "name", "category": {"values": {"A": []}}},
        ],
    }
    with pytest.raises(SchemaError) as e:
        Schema.from_dict(bad)
    assert set(e.value.problems) == {
        "fields/0 (sex)/category/values: 'x' reads as a spelling of both 'M' and 'F' after the "
        "field's normalisation",
        "fields/0 (sex)/category/values: '?' is empty after the field's normalisation",
        "fields/1 (given_name)/category: category options apply to category fields only",
    }


def test_the_fingerprint_holds_the_category_values_not_their_spellings():
    def fingerprint(values, **extra):
        field = {**SEX, "category": {"values": values, **extra}}
        return Schema.from_dict({"version": 1, "fields": [field]}).fingerprint

    base = fingerprint({"M": ["male"], "F": []})
    assert fingerprint({"m": ["man", "MALE"], "F": ["female"]}) == base  # same values
    assert fingerprint({"M": [], "F": []}, on_unknown="missing") == base
    assert fingerprint({"M": [], "F": [], "X": []}) != base
    assert Schema.from_dict({"version": 1, "fields": [SEX]}).fingerprint != base
