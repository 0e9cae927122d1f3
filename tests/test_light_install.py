"""The light install as a field office does it: `pip install caselink` — the encoder alone —
into a fresh virtualenv, offline, from a wheelhouse; then a register encoded with the installed
command. Nothing of the service, the linkage registry or the evaluation comes with it, and a
command that needs them says which extra to install."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from evaluation._light_install import (
    HEAVY,
    _no_pip_config,
    build_wheelhouse,
    install_offline,
    installed,
    project_root,
    source_copy,
)


@pytest.fixture(scope="module")
def light(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("light")
    source = source_copy(project_root(), work / "src")
    build_wheelhouse(source, work / "wheelhouse")
    # what is installed is under test here, not how long a field laptop takes (the bench's)
    install_offline(work / "wheelhouse", work / "venv", bytecode=False)
    # ... and nothing installed from the wheelhouse was compiled ahead (pip --no-compile)
    (site,) = (work / "venv" / "lib").glob("python3*/site-packages")
    installed_dirs = [site / d for d in ("numpy", "pandas", "bloom")]
    assert all(d.is_dir() for d in installed_dirs)
    assert not [p for d in installed_dirs for p in d.rglob("*.pyc")]
    return work


def _caselink(light: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(light / "venv" / "bin" / "caselink"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=light,
        env={**_no_pip_config(), "COLUMNS": "200"},
        timeout=600,
    )


def test_the_bare_install_brings_the_encoder_and_nothing_heavy(light):
    have = installed(light / "venv")
    assert "caselink" in have
    assert {"numba", "pyarrow", "blake3", "pandas"} <= set(have)
    assert not set(HEAVY) & set(have), sorted(set(HEAVY) & set(have))
    assert (light / "venv" / "bin" / "caselink").exists()
    built = project_root() / "build"  # the wheel was built from a copy, not in the checkout
    assert not (built / "lib").exists() and not list(built.glob("bdist.*"))


def test_the_installed_command_encodes_a_register(light, people):
    people.to_csv(light / "register.csv", index=False)
    made = _caselink(light, "keygen", "--out", "secret.key")
    assert made.returncode == 0, made.stderr
    done = _caselink(
        light,
        "encode",
        "--schema",
        "person",
        "--secret",
        "secret.key",
        "--input",
        "register.csv",
        "--agency",
        "field-office",
        "--id-column",
        "ref",
        "--out",
        "batch.parquet",
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(light / "batch.parquet")
    assert table.column_names == ["record_ref", "bloom"]
    assert table.column("record_ref").to_pylist() == list(people["ref"])
    shown = _caselink(light, "inspect", "batch.parquet")
    assert shown.returncode == 0 and "field-office" in shown.stdout, shown.stderr
    checked = _caselink(light, "privacy", "check", "batch.parquet", "--schema", "person")
    assert checked.returncode in (0, 1), checked.stderr  # 1: a leak found in 4 records
    assert "Traceback" not in checked.stderr
    version = _caselink(light, "--version")
    assert version.returncode == 0 and version.stdout.startswith("caselink ")
    raw = pd.read_csv(light / "register.csv")
    assert set(raw["ref"]) == set(people["ref"])


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (("link", "batch.parquet", "--out", "cases.csv"), "link"),
        (("serve",), "service"),
        (("upload", "batch.parquet", "--agreement", "agr_0"), "service"),
        (("evaluate", "--dataset", "febrl4", "--out", "report"), "evaluation"),
        (("demo",), "evaluation"),
    ],
)
def test_a_command_of_an_extra_says_which_to_install(light, command, extra):
    done = _caselink(light, *command)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"pip install 'caselink[{extra}]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_installed_command_speaks_french_from_catalogues_compiled_into_the_wheel(light, people):
    catalogues = list((light / "venv").rglob("bloom/locale/*/LC_MESSAGES/caselink-encode.mo"))
    assert sorted(p.parent.parent.name for p in catalogues) == ["ar", "fr"]
    bad = people.head(5).copy()
    bad = bad.drop(columns=["family_name"])  # a column the schema needs
    bad.to_csv(light / "bad.csv", index=False)
    made = _caselink(light, "keygen", "--out", "fr.key")
    assert made.returncode == 0, made.stderr
    said = _caselink(
        light, "encode", "--schema", "person", "--input", "bad.csv", "--agency", "field-office",
        "--secret", "fr.key", "--out", "bad.parquet", "--lang", "fr",
    )  # fmt: skip
    assert said.returncode == 2, said.stderr
    assert "missing_column: la colonne 'family_name'" in said.stderr
    assert "n'est pas dans le fichier" in said.stderr
    assert not any(str(v) in said.stderr for v in bad["given_name"])
