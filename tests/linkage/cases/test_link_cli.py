"""`caselink link` as a data officer runs it: real batch files; the first link through the
installed command, the others through its entry function in this process (``tests/cli.py``)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from linkage import is_valid_case_id
from tests.cli import caselink

CASELINK = shutil.which("caselink", path=str(Path(sys.executable).parent))


def run(*args, real=False):
    if not real:
        return caselink(*args, clean=False)
    return subprocess.run([CASELINK, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_link_writes_a_case_per_record_and_keeps_them(tmp_path, febrl4_batches):
    a, b = febrl4_batches
    paths = [a.write(tmp_path / "a.parquet"), b.write(tmp_path / "b.parquet")]
    cases, reg = tmp_path / "cases.csv", tmp_path / "reg.sqlite"
    r = run("link", *paths, "--out", cases, "--registry", reg, real=True)
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(tmp_path / "cases.csv")
    assert list(out.columns) == ["agency", "record_ref", "case_id", "confidence"]
    assert len(out) == 10_000 and out["case_id"].map(is_valid_case_id).all()
    assert "linked across agencies" in r.stderr
    summary = tmp_path / "summary.json"
    r = run("link", *paths, "--out", tmp_path / "plain.csv", "--summary", summary)
    assert r.returncode == 0, r.stderr
    told = json.loads(summary.read_text())
    plain = pd.read_csv(tmp_path / "plain.csv")
    assert told["records"] == len(plain) == 10_000
    assert told["cases"] == plain["case_id"].nunique()
    assert 0 < told["threshold"] <= 1 and 0.3 <= told["candidate_threshold"] <= 0.95
    assert list(told["floors"]) == ["agency-a~agency-b"] and told["links_accepted"] > 4900
    again = run(
        "link", paths[0], "--out", tmp_path / "again.csv", "--registry", tmp_path / "reg.sqlite"
    )
    assert again.returncode == 0, again.stderr
    second = pd.read_csv(tmp_path / "again.csv").merge(out, on=["agency", "record_ref"])
    assert (second["case_id_x"] == second["case_id_y"]).all()


def test_link_refuses_bad_input_with_exit_2(
    tmp_path, febrl4_batches, people, person_schema, secret
):
    import bloom

    a, _ = febrl4_batches
    a.write(tmp_path / "a.parquet")
    bloom.encode(people, person_schema, secret, agency="p").write(tmp_path / "p.parquet")
    r = run("link", tmp_path / "a.parquet", tmp_path / "p.parquet", "--out", tmp_path / "x.csv")
    assert r.returncode == 2 and "same schema" in r.stderr
    other = bloom.Secret(bytes(32))  # not the fixture's secret
    bloom.encode(people.head(50), person_schema, secret, agency="q").write(tmp_path / "q.parquet")
    bloom.encode(people.tail(50), person_schema, other, agency="r").write(tmp_path / "r.parquet")
    r = run("link", tmp_path / "q.parquet", tmp_path / "r.parquet", "--out", tmp_path / "x.csv")
    assert r.returncode == 2 and "encoded with different secrets" in r.stderr, r.stderr
    assert bloom.key_check_value(other) in r.stderr and "batches 2" in r.stderr
    r = run("link", tmp_path / "a.parquet", "--out", tmp_path / "x.csv", "--threshold", "1.5")
    assert r.returncode == 2 and "(0, 1]" in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_link_on_ray_gives_the_cases_of_one_process_and_says_its_stages(
    tmp_path, febrl4_batches, ray_session
):
    """``--ray-address local`` links in a Ray task with its search as Ray tasks, the batch
    files sent through the object store: the same records together with the same confidence
    as in this process; the summary names each stage."""
    a, b = febrl4_batches
    paths = [a.write(tmp_path / "a.parquet"), b.write(tmp_path / "b.parquet")]
    summary = tmp_path / "summary.json"
    assert run("link", *paths, "--out", tmp_path / "here.csv").returncode == 0
    r = run(
        "link",
        *paths,
        "--out",
        tmp_path / "ray.csv",
        "--ray-address",
        "local",
        "--summary",
        summary,
    )
    assert r.returncode == 0, r.stderr
    here, there = (
        pd.read_csv(tmp_path / f).sort_values(["agency", "record_ref"])
        for f in ("here.csv", "ray.csv")
    )
    assert (here["confidence"].to_numpy() == there["confidence"].to_numpy()).all()
    assert here.groupby("case_id").ngroups == there.groupby("case_id").ngroups
    pair = {c: frozenset(g) for c, g in here.groupby("case_id")["record_ref"]}
    other = {c: frozenset(g) for c, g in there.groupby("case_id")["record_ref"]}
    assert set(pair.values()) == set(other.values())
    stages = json.loads(summary.read_text())["stages"]
    assert list(stages)[:3] == ["pool", "baseline", "search"] and "clustering" in stages


def test_link_on_ray_keeps_a_registry_as_in_this_process(tmp_path, febrl4_batches, ray_session):
    """With ``--registry``, a run on Ray links new records to the stored ones as a run here
    does; the stored records keep their case ids."""
    from linkage import Registry

    a, b = febrl4_batches
    pa, pb = a.write(tmp_path / "a.parquet"), b.write(tmp_path / "b.parquet")
    groups, first = {}, {}
    for where, extra in (("here", ()), ("ray", ("--ray-address", "local"))):
        reg = tmp_path / f"{where}.sqlite"
        for step, path in enumerate((pb, pa)):
            r = run(
                "link", path, "--out", tmp_path / f"{where}{step}.csv", "--registry", reg, *extra
            )
            assert r.returncode == 0, r.stderr
            if step == 0:
                first[where] = pd.read_csv(tmp_path / f"{where}0.csv")
        held = Registry.open(reg).assignments()
        assert len(held) == 10_000
        kept = held.merge(first[where], on=["agency", "record_ref"])
        assert len(kept) == 5_000 and (kept["case_id_x"] == kept["case_id_y"]).all()
        groups[where] = {
            frozenset(zip(g["agency"], g["record_ref"], strict=True))
            for _, g in held.groupby("case_id")
        }
    assert groups["here"] == groups["ray"]
    assert sum(len(g) == 2 for g in groups["ray"]) > 4_500  # linked across the agencies
