"""`caselink inspect --json` and `caselink privacy check --json`: one JSON document on stdout,
the figures the tables show, nothing that identifies anyone; the exit codes as without it."""

import json

import pytest

from bloom._privacy import EXIT_LEAKS

from .test_privacy_check import register, run


@pytest.fixture(scope="module")
def batches(tmp_path_factory, secret):
    d = tmp_path_factory.mktemp("json")
    register().to_csv(d / "reg.csv", index=False)
    secret.write(d / "s.key")
    for schema in ("person-v1", "person"):
        r = run(
            "encode", "--schema", schema, "--secret", d / "s.key", "--input", d / "reg.csv",
            "--agency", "a", "--id-column", "ref", "--out", d / f"{schema}.parquet",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
    return d


def test_inspect_prints_the_metadata_and_densities_as_json(batches, person_schema):
    r = run("inspect", batches / "person.parquet", "--json")
    assert r.exit_code == 0, r.output
    found = json.loads(r.stdout)
    meta = found["metadata"]
    assert (meta["agency"], meta["record_count"]) == ("a", 400)
    assert meta["schema_fingerprint"] == person_schema.fingerprint
    assert [(d["segment"], d["bits"]) for d in found["bits_set_per_record"]] == [
        tuple(s) for s in person_schema.layout
    ]
    assert all(0 < d["mean_density"] < 1 and d["min"] <= d["mean"] <= d["max"]
               for d in found["bits_set_per_record"])  # fmt: skip
    assert found["records_without_bits"] == 0
    assert "r0" not in r.stdout and "Aleppo" not in r.stdout


def test_privacy_check_json_keeps_the_verdict_and_the_exit_code(batches):
    leaky = run("privacy", "check", batches / "person-v1.parquet", "--json")
    assert leaky.exit_code == EXIT_LEAKS, leaky.output
    found = json.loads(leaky.stdout)
    assert found["leaks"] is True and found["verdict"].startswith("LEAKS:")
    by_segment = {s["segment"]: s for s in found["segments"]}
    assert by_segment["sex"]["leaks"] is True and by_segment["sex"]["grouped_share"] == 1.0
    assert found["records"] == 400 and found["schema"] == "person-v1"
    fine = run("privacy", "check", batches / "person.parquet", "--json")
    assert fine.exit_code == 0 and json.loads(fine.stdout)["leaks"] is False
