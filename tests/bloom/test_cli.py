"""The agency-side commands, run as a data officer would. The first key and the first refusal
go through the installed `caselink` script; the rest run its entry function in this process
(``tests/cli.py``), the same code without a fresh interpreter's imports each time."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import bloom
from tests.cli import caselink as in_process

CASELINK = shutil.which("caselink", path=str(Path(sys.executable).parent))


def caselink(*args, env=None, cwd=None, real=False):
    if not real:
        return in_process(*args, env=env or {"CASELINK_SECRET": None}, cwd=cwd, clean=False)
    full_env = {**os.environ, **(env or {})}
    full_env.pop("CASELINK_SECRET", None) if env is None else None
    return subprocess.run(
        [CASELINK, *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture()
def register(tmp_path, people):
    people.to_csv(tmp_path / "reg.csv", index=False)
    return tmp_path / "reg.csv"


def test_keygen_encode_inspect(tmp_path, register):
    r = caselink("keygen", "--out", tmp_path / "s.key", real=True)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((tmp_path / "s.key").stat().st_mode) == 0o600
    assert caselink("keygen", "--out", tmp_path / "s.key").returncode == 2  # no overwrite

    r = caselink(
        "encode",
        "--schema",
        "person",
        "--secret",
        tmp_path / "s.key",
        "--input",
        register,
        "--agency",
        "unhcr",
        "--out",
        tmp_path / "b.parquet",
        "--id-column",
        "ref",
    )
    assert r.returncode == 0, r.stderr
    assert "encoded 4 records" in r.stderr
    batch = bloom.read_batch(tmp_path / "b.parquet")
    assert batch.metadata.agency == "unhcr"

    r = caselink("inspect", tmp_path / "b.parquet")
    assert r.returncode == 0, r.stderr
    assert "unhcr" in r.stdout and "mean density" in r.stdout
    for ref in ("p1", "p2", "Mohammed"):
        assert ref not in r.stdout  # nothing that helps re-identify anyone


def test_secret_from_environment_matches_secret_file(tmp_path, register, secret):
    secret.write(tmp_path / "s.key")
    args = ["encode", "--schema", "person", "--input", register, "--agency", "a"]
    assert (
        caselink(*args, "--secret", tmp_path / "s.key", "--out", tmp_path / "f.parquet").returncode
        == 0
    )
    r = caselink(
        *args, "--out", tmp_path / "e.parquet", env={"CASELINK_SECRET": secret.key_bytes.hex()}
    )
    assert r.returncode == 0, r.stderr
    f, e = bloom.read_batch(tmp_path / "f.parquet"), bloom.read_batch(tmp_path / "e.parquet")
    assert (f.filters == e.filters).all()


def test_errors_exit_2_with_an_actionable_message(tmp_path, register, people):
    (tmp_path / "short.key").write_text("abcd")
    r = caselink(
        "encode",
        "--schema",
        "person",
        "--secret",
        tmp_path / "short.key",
        "--input",
        register,
        "--agency",
        "a",
        "--out",
        tmp_path / "x.parquet",
        real=True,
    )
    assert r.returncode == 2 and "64 hex characters" in r.stderr
    r = caselink(
        "encode",
        "--schema",
        "febrl",
        "--input",
        register,
        "--agency",
        "a",
        "--out",
        tmp_path / "x.parquet",
        env={"CASELINK_SECRET": "00" * 32},
    )
    assert r.returncode == 2 and "column 'surname'" in r.stderr
    assert not (tmp_path / "x.parquet").exists()
    r = caselink("inspect", register)
    assert r.returncode == 2 and "not a Parquet file" in r.stderr
    r = caselink(
        "encode",
        "--schema",
        "person",
        "--input",
        register,
        "--agency",
        "a",
        "--out",
        tmp_path / "x.parquet",
        env={"CASELINK_SECRET": ""},
    )
    assert r.returncode == 2 and "--secret" in r.stderr


def test_secret_is_not_a_positional_argument(tmp_path, register):
    r = caselink(
        "encode",
        "00" * 32,
        "--schema",
        "person",
        "--input",
        register,
        "--agency",
        "a",
        "--out",
        tmp_path / "x.parquet",
    )
    assert r.returncode != 0 and not (tmp_path / "x.parquet").exists()
