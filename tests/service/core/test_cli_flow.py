"""The service's command line end to end, over a real server: what the operator (admin), a
steward and a data officer type, with exit codes and the files they get.

The operator's bootstrap and the data officer's ``run`` are the installed script; the other
commands run its entry function in this process (``tests/cli.py``): the same code, without a
fresh interpreter's imports for each of some twenty commands."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service import ServiceProcess
from tests import forkserver
from tests.cli import caselink
from tests.service.servers import ray_settings

CASELINK = Path(sys.executable).with_name("caselink")


@pytest.fixture(scope="module")
def cli(tmp_path_factory, febrl4, ray_session):
    work = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{work / 'caselink.db'}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CASELINK_")}
    boot = forkserver.run(  # a process of its own (tests/forkserver.py)
        [
            "caselink",
            "admin",
            "create-agency",
            "operator",
            "--role",
            "admin",
            "--database-url",
            url,
        ],
        env=clean,
    )
    assert boot.returncode == 0, boot.stderr
    assert "with role admin" in boot.stderr, boot.stderr
    (work / "admin.key").write_text(boot.stdout.strip().splitlines()[-1])
    env = ray_settings(ray_session.address)
    svc = ServiceProcess(url, log=work / "service.log", env=env).start()
    a = febrl4.a.head(200)
    entity = lambda refs: refs.str.split("-").str[1]  # noqa: E731
    b = febrl4.b[entity(febrl4.b["record_ref"]).isin(entity(a["record_ref"]))]
    for name, frame in (("aga", a), ("agb", b)):
        frame.to_csv(work / f"{name}.csv", index=False)

    def run(
        *args: str, key: str | None = None, real: bool = False, **env: str
    ) -> subprocess.CompletedProcess:
        opts = ["--url", svc.url, "--api-key-file", str(work / key)] if key else []
        if not real:
            return caselink(*args, *opts, cwd=work, env={"COLUMNS": "200", **env})
        full = {**clean, "COLUMNS": "200", **env}
        return subprocess.run(
            [str(CASELINK), *args, *opts],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            env=full,
        )

    try:
        yield work, run, url
    finally:
        svc.stop()


def test_steward_and_officers_link_through_the_cli(cli):
    work, run, _ = cli
    r = run(
        "agency", "add", "coord", "--role", "steward", "--key-out", "steward.key", key="admin.key"
    )
    assert r.returncode == 0, r.stderr
    for name in ("aga", "agb"):
        r = run("agency", "add", name, "--key-out", f"{name}.key", key="admin.key")
        assert r.returncode == 0, r.stderr
        assert (work / f"{name}.key").stat().st_mode & 0o777 == 0o600
    r = run("agency", "add", "aga", "--key-out", "stolen.key", key="steward.key")
    assert r.returncode == 2 and "its own agency (coord) only" in r.stderr, r.stderr
    assert not (work / "stolen.key").exists()
    r = run(
        "agency",
        "add",
        "coord",
        "--role",
        "tracer",
        "--key-out",
        "coord-tracer.key",
        key="steward.key",
    )
    assert r.returncode == 0, r.stderr  # a steward issues its own agency's keys
    r = run(
        "agreement",
        "create",
        "--name",
        "cli",
        "--party",
        "aga",
        "--party",
        "agb",
        "--schema",
        "febrl",
        "--retention-days",
        "30",
        key="steward.key",
    )
    assert r.returncode == 0, r.stderr
    agreement = r.stdout.strip().splitlines()[-1]
    assert agreement.startswith("agr_")
    assert run("keygen", "--out", "secret.key").returncode == 0
    for name in ("aga", "agb"):
        files = ["--input", f"{name}.csv", "--out", f"{name}.parquet"]
        r = run(
            "encode",
            "--schema",
            "febrl",
            "--secret",
            "secret.key",
            "--agency",
            name,
            "--id-column",
            "record_ref",
            *files,
        )
        assert r.returncode == 0, r.stderr
        r = run("upload", f"{name}.parquet", "--agreement", agreement, key=f"{name}.key")
        assert r.returncode == 0 and "pending" in r.stdout, r.stderr
    again = run("upload", "aga.parquet", "--agreement", agreement, key="aga.key")
    assert again.returncode == 0 and "already there" in again.stdout
    r = run("run", "start", "--agreement", agreement, key="aga.key", real=True)
    assert r.returncode == 0 and "succeeded: 400 new records" in r.stderr, r.stderr
    r = run("cases", "--agreement", agreement, "--out", "cases.csv", key="agb.key")
    assert r.returncode == 0, r.stderr
    with (work / "cases.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 200 and all(x["record_ref"].startswith("rec-") for x in rows)
    assert sum(x["other_agencies"] == "aga" for x in rows) > 150  # the shared people
    r = run("cases", "--agreement", agreement, key="agb.key")
    assert r.returncode == 0 and "200 records (0 not linked yet)" in r.stdout


def test_a_register_encoded_with_the_wrong_secret_is_refused_at_upload(cli):
    """The steward gives the agreement its secret's key check value (only the value is
    sent); a data officer holding another secret learns so at once, before anything is
    stored, and with what to do."""
    _, run, _ = cli
    assert run("keygen", "--out", "other.key").returncode == 0
    r = run(
        "agreement",
        "create",
        "--name",
        "checked",
        "--party",
        "aga",
        "--schema",
        "febrl",
        "--retention-days",
        "30",
        "--secret",
        "secret.key",
        key="steward.key",
    )
    assert r.returncode == 0, r.stderr
    agreement = r.stdout.strip().splitlines()[-1]
    expected = run("keygen", "--check", "secret.key").stdout.strip()
    r = run(
        "encode",
        "--schema",
        "febrl",
        "--secret",
        "other.key",
        "--agency",
        "aga",
        "--id-column",
        "record_ref",
        "--input",
        "aga.csv",
        "--out",
        "aga-other.parquet",
    )
    assert r.returncode == 0, r.stderr
    r = run("upload", "aga-other.parquet", "--agreement", agreement, key="aga.key")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "encoded with a different secret" in r.stderr and expected in r.stderr, r.stderr
    r = run("upload", "aga.parquet", "--agreement", agreement, key="aga.key")
    assert r.returncode == 0 and "pending" in r.stdout, r.stderr


def test_refusals_exit_2_with_the_services_message(cli):
    _, run, _ = cli
    r = run("upload", "aga.parquet", "--agreement", "agr_0000000000000000", key="aga.key")
    assert r.returncode == 2 and "no agreement agr_0000000000000000" in r.stderr
    r = run("cases", "--agreement", "agr_x", "--url", "http://127.0.0.1:9")
    assert r.returncode == 2 and "no API key" in r.stderr
    r = run(
        "cases",
        "--agreement",
        "agr_x",
        CASELINK_API_KEY="clk_0_wrong",
        CASELINK_URL="http://127.0.0.1:9",
    )
    assert r.returncode == 2 and "cannot reach the caselink service" in r.stderr, r.stderr
    r = run("cases", "--agreement", "agr_x", key="aga.key", CASELINK_API_KEY="ignored")
    assert r.returncode == 2 and "no agreement (the id you sent)" in r.stderr  # never echoed


def test_admin_backup_restore_and_migrate(cli, tmp_path):
    work, run, url = cli
    assert (work / "caselink.db").stat().st_mode & 0o777 == 0o600  # made by the bootstrap
    r = run("admin", "backup", "--out", str(tmp_path / "b.db"), "--database-url", url)
    assert r.returncode == 0 and "audit entries verified" in r.stderr, r.stderr
    kept = (tmp_path / "b.db").read_bytes()
    r = run("admin", "backup", "--out", str(tmp_path / "b.db"), "--database-url", url)
    assert r.returncode == 2 and "--force" in r.stderr, r.stderr  # an old backup is kept
    assert (tmp_path / "b.db").read_bytes() == kept
    r = run("admin", "backup", "--out", str(tmp_path / "b.db"), "--force", "--database-url", url)
    assert r.returncode == 0, r.stderr
    target = f"sqlite:///{tmp_path / 'r.db'}"
    r = run("admin", "restore", str(tmp_path / "b.db"), "--database-url", target)
    assert r.returncode == 0, r.stderr
    # onto the database the module's service runs on: refused before anything is copied
    r = run("admin", "restore", str(tmp_path / "b.db"), "--database-url", url)
    assert r.returncode == 2 and "a caselink service is running" in r.stderr, r.stderr
    assert run("admin", "verify-audit", "--database-url", target).returncode == 0
    assert run("admin", "migrate", "--database-url", target).returncode == 0
    r = run(
        "admin",
        "backup",
        "--out",
        str(tmp_path / "p.db"),
        "--database-url",
        "postgresql+psycopg://postgres@127.0.0.1/test",
    )
    assert r.returncode == 2 and "pg_dump" in r.stderr


def test_a_new_key_can_go_to_a_private_file_only(cli, tmp_path):
    _, run, url = cli
    out = tmp_path / "tracer.key"
    r = run(
        "admin",
        "create-agency",
        "field-office",
        "--role",
        "tracer",
        "--key-out",
        str(out),
        "--database-url",
        url,
    )
    assert r.returncode == 0, r.stderr
    key = out.read_text().strip()
    assert key.startswith("clk_") and key not in r.stdout + r.stderr
    assert out.stat().st_mode & 0o777 == 0o600 and str(out) in r.stderr
    again = run(
        "admin",
        "create-agency",
        "field-office",
        "--role",
        "tracer",
        "--key-out",
        str(out),
        "--database-url",
        url,
    )
    assert again.returncode == 2 and "exists already" in again.stderr
    assert out.read_text().strip() == key  # never replaced
