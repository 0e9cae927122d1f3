"""`caselink privacy check` and the `caselink encode` warning, run as a data officer would.

The commands run in this process through typer's runner (the installed script costs seconds
per start); the exit code of a bad batch, which the script's entry point sets, is checked once
through the script itself.
"""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import bloom
from bloom._privacy import EXIT_LEAKS, check_batch
from caselink_cli import app

from .test_cli import caselink


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    result.text = " ".join(result.stdout.split())  # the words, whatever the terminal wrapped
    result.err = " ".join(result.stderr.split())
    return result


def register(n: int = 400, seed: int = 3) -> pd.DataFrame:
    """Random names (so names never group), a few sexes, years and places (so those do)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    word = lambda: "".join(rng.choice(letters, rng.integers(5, 9)))  # noqa: E731
    return pd.DataFrame(
        {
            "ref": [f"r{k}" for k in range(n)],
            "given_name": [word() for _ in range(n)],
            "family_name": [word() for _ in range(n)],
            "father_name": [word() for _ in range(n)],
            "sex": rng.choice(["F", "M"], n),
            "date_of_birth": [
                f"{y}-{m:02d}-{d:02d}"
                for y, m, d in zip(
                    rng.integers(1980, 1990, n),
                    rng.integers(1, 13, n),
                    rng.integers(1, 29, n),
                    strict=True,
                )
            ],
            "place_of_birth": rng.choice(["Aleppo", "Kabul", "Mosul", "Herat", "Juba"], n),
        }
    )


def folded(person: bloom.Schema) -> dict:
    """The person schema with every field in one segment: no field has bits of its own."""
    doc = person.document
    doc["name"] = "person-folded"
    doc["filter"] = {"segments": [{"name": "record", "bits": 1024}]}
    for f in doc["fields"]:
        f["segment"] = "record"
    return doc


@pytest.fixture(scope="module")
def files(tmp_path_factory, secret, person_v1_schema):
    d = tmp_path_factory.mktemp("privacy")
    register().to_csv(d / "reg.csv", index=False)
    secret.write(d / "s.key")
    (d / "folded.json").write_text(json.dumps(folded(person_v1_schema)))
    return d


def encode(d, schema, out):
    return run(
        "encode",
        "--schema",
        schema,
        "--secret",
        d / "s.key",
        "--input",
        d / "reg.csv",
        "--agency",
        "a",
        "--id-column",
        "ref",
        "--out",
        d / out,
    )


def test_an_unhardened_batch_leaks_sex_and_birth_year(files):
    r = encode(files, "person-v1", "plain.parquet")
    assert r.exit_code == 0, r.output
    names = "the names (given_name, family_name, father_name) are not hardened"
    assert f"warning: schema 'person-v1': {names}" in r.err
    open_segments = (("sex", "sex"), ("birth_year", "birth year"), ("place", "place of birth"))
    for segment, what in open_segments:
        assert f"warning: schema 'person-v1': segment '{segment}' holds only {what}:" in r.err
    assert f"Run `caselink privacy check {files / 'plain.parquet'}`" in r.err

    r = run("privacy", "check", files / "plain.parquet")
    assert r.exit_code == EXIT_LEAKS, r.output
    assert "LEAKS: the service could sort 100% of your records by" in r.text
    assert "by sex (segment 'sex')" in r.text
    assert "by birth year (segment 'birth_year')" in r.text
    assert "schema person-v1, hardening: none" in r.text
    for value in ("Aleppo", "aleppo", "Kabul"):
        assert value not in r.text  # nothing of the register is shown


def test_the_default_schema_groups_nobody_by_sex_year_or_place(files):
    """Revision 2 (``person``): no segment holds sex, the year or the place on its own (the
    place is hashed with the names, keyed by the year windows); the encoder warns about the
    names and the day and month it leaves open, and on a register of five places, ten years
    and two sexes -- where revision 1 sorts everyone -- the check finds no segment grouping."""
    r = encode(files, "person", "v2.parquet")
    assert r.exit_code == 0, r.output
    names = "the names (given_name, family_name, father_name, father_in_name) are not hardened"
    assert f"warning: schema 'person': {names}" in r.err
    assert "segment 'birth_day' holds only birth day" in r.err
    assert "'sex'" not in r.err and "'birth_year'" not in r.err and "'place'" not in r.err
    r = run("privacy", "check", files / "v2.parquet")
    assert r.exit_code == 0, r.output
    assert "schema person, hardening: salt" in r.text
    assert "OK: no segment lets the service group more than 10% of your records" in r.text


def test_a_batch_without_segments_of_its_own_for_those_fields_is_ok(files):
    r = encode(files, files / "folded.json", "folded.parquet")
    assert r.exit_code == 0, r.output
    assert "are not hardened" in r.err  # still warned: folding is not hardening

    r = run("privacy", "check", files / "folded.parquet", "--schema", files / "folded.json")
    assert r.exit_code == 0, r.output
    assert "OK: no segment lets the service group more than 10% of your records" in r.text
    assert "schema person-folded, hardening: none" in r.text

    r = run("privacy", "check", files / "folded.parquet", "--schema", "person-v1")
    assert isinstance(r.exception, bloom.SchemaError)
    assert "--schema: the batch was encoded with schema" in str(r.exception)


def test_an_unreadable_batch_is_named_and_exits_2(files):
    r = caselink("privacy", "check", files / "reg.csv")  # the installed script sets the code
    assert r.returncode == 2
    assert "reg.csv is not a Parquet file" in r.stderr
    r = run("privacy", "check", files / "missing.parquet")
    assert isinstance(r.exception, bloom.BatchError)
    assert "missing.parquet does not exist" in str(r.exception)


def test_balancing_is_still_warned_about_and_the_check_knows_it(files, person_v1_schema):
    doc = person_v1_schema.document
    doc["hardening"] = {"balance": True}
    (files / "balanced.json").write_text(json.dumps(doc))
    r = encode(files, files / "balanced.json", "balanced.parquet")
    assert r.exit_code == 0, r.output
    assert "segment 'sex' holds only sex" in r.err and "are not hardened" in r.err
    batch = bloom.read_batch(files / "balanced.parquet")
    found = check_batch(batch, bloom.Schema.from_dict(doc))
    assert found.hardening == ("balance",)
    assert found.leaks  # balancing alone hides nothing: equal values, equal bits
    unknown = check_batch(batch, None)  # no schema: segments judged all the same
    assert unknown.hardening is None and unknown.leaks and unknown.segments[0].fields == ()


def test_a_salt_is_no_excuse_for_a_segment_of_one_field():
    """A salted segment that holds one field still groups records by value within each salt
    group (person-v2's place, keyed by the year windows: 44% of a 50,000-record register in
    the privacy table), so the warning stays, naming the salt; a salt spares the names."""
    from pathlib import Path

    from bloom._privacy import schema_warnings

    v2 = bloom.Schema.load(Path(bloom.__file__).parent / "schemas" / "person-v2.json")
    said = schema_warnings(v2)
    assert any(
        w.startswith("segment 'place' holds only place of birth, salted by birth year")
        and "within each salt group" in w
        for w in said
    )
    doc = bloom.Schema.load("person-v1").document
    doc["hardening"] = {"salt": {"field": "birth_year", "part": "year"}}
    said = schema_warnings(bloom.Schema.from_dict(doc))
    assert not any("are not hardened" in w for w in said)
    assert any(w.startswith("segment 'sex' holds only sex, salted by birth year") for w in said)
    assert any(w.startswith("segment 'birth_year' holds only birth year:") for w in said)


def test_diffusion_spares_the_names_and_a_rekey_key_is_not_a_segment_of_its_own():
    """Diffusion (and XOR-folding) stop the frequency attack on names -- not grouping by the
    values of a one-field segment, which stays warned; person-v3's emptied rekey key segment
    and its rekeyed name segments are not warned about, its day-and-month segment is."""
    from pathlib import Path

    from bloom._privacy import schema_warnings

    doc = bloom.Schema.load("person-v1").document
    doc["hardening"] = {"diffusion": {"t": 5}}
    said = schema_warnings(bloom.Schema.from_dict(doc))
    assert not any("are not hardened" in w for w in said)
    assert [w.split("'")[1] for w in said] == ["birth_year", "birth_day", "place", "sex"]
    v3 = bloom.Schema.load(Path(bloom.__file__).parent / "schemas" / "person-v3.json")
    assert v3.hardening.rekey_key == "key"
    said = schema_warnings(v3)
    assert {w.split("'")[1] for w in said} == {"birth_day", "place"}
