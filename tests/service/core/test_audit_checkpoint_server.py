"""Audit checkpoints through a real server, on SQLite and PostgreSQL.

The server signs with a key file it creates (mode 0600) and appends checkpoints to its file:
at start, whenever a party fetches one (``GET .../audit/checkpoint``, ``caselink audit
checkpoint``) and at shutdown — the interval is an hour here, so no write depends on timing.
Then the issue's attack on the stopped server's database: drop the newest entries of the
agreement's chain and rewrite its head. The real ``caselink admin verify-audit`` still exits 0;
with ``--against`` a kept checkpoint (the party's, or the service's file) it exits 1 naming
the chain and the entries.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from caselink_cli import app
from service import Client, ServiceProcess
from service._admin import bootstrap_agency, open_database
from service._checkpoint import check_kept, read_checkpoints
from service._signing import load_signer
from tests import forkserver
from tests.cli import caselink
from tests.service.core.tamper import head, truncate
from tests.service.servers import agreement_body, make_database, ray_settings


def _caselink(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASELINK_")}
    env.update(CASELINK_DATABASE_URL=url, COLUMNS="2000")
    return forkserver.run(["caselink", *args], env=env, timeout=120)  # a process of its own


def _lines_of(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def anchored(request, tmp_path_factory, person_schema, ray_session):
    """A server run from start to SIGTERM, what its checkpoint file held at each step, and
    the database truncated afterwards."""
    work = tmp_path_factory.mktemp("anchor")
    with make_database(request.param, request, work) as db:
        engine = open_database(db.url)
        steward = bootstrap_agency(engine, "coord", "steward").api_key  # service chain: 2 entries
        admin = bootstrap_agency(engine, "operator", "admin").api_key
        key_file, file = work / "keys" / "audit.key", work / "anchor" / "checkpoints.jsonl"
        env = {
            **ray_settings(ray_session.address),
            "CASELINK_AUDIT_KEY_FILE": str(key_file),
            "CASELINK_AUDIT_CHECKPOINT_FILE": str(file),
            "CASELINK_AUDIT_CHECKPOINT_SECONDS": "3600",
        }
        svc = ServiceProcess(db.url, log=work / "service.log", env=env).start()
        try:
            r = _drive(svc, admin, steward, work, file, person_schema)
        finally:
            stopped = svc.stop()
        r.update(
            stopped=stopped,
            after_stop=file.read_bytes(),
            key_file=key_file,
            file=file,
            url=db.url,
            heads={s: head(engine, s) for s in ("", r["agreement"])},
        )
        truncate(engine, r["agreement"], keep=r["kept"]["seq"] - 3)
        engine.dispose()
        yield SimpleNamespace(**r)


def _drive(svc: ServiceProcess, admin: str, steward: str, work: Path, file: Path, schema) -> dict:
    at_start = file.read_bytes()
    (work / "steward.key").write_text(steward)
    with Client(svc.url, admin) as operator:
        operator.create_agency("aga")
    with Client(svc.url, steward) as c:
        agreement = c.create_agreement(**agreement_body(schema, ["aga"]))["agreement_id"]
        for _ in range(4):
            c.agreement(agreement)
        fetched = c.audit_checkpoint(agreement)
        after_fetch = file.read_bytes()
        kept_file = work / "party" / "kept.jsonl"
        cli = CliRunner().invoke(
            app,
            [
                "audit",
                "checkpoint",
                "--agreement",
                agreement,
                "--out",
                str(kept_file),
                "--url",
                svc.url,
                "--api-key-file",
                str(work / "steward.key"),
            ],
        )
        assert cli.exit_code == 0, cli.output
        with Client(svc.url, admin) as operator:
            service_chain = operator.audit_checkpoint()
        c.agreement(agreement)  # the chain moves on after the party's checkpoint
    kept = _lines_of(kept_file.read_bytes())[-1]
    return dict(
        agreement=agreement,
        at_start=at_start,
        fetched=fetched,
        kept=kept,
        after_fetch=after_fetch,
        kept_file=kept_file,
        service_chain=service_chain,
        before_stop=file.read_bytes(),
    )


def test_the_key_file_is_made_with_mode_0600(anchored):
    assert stat.S_IMODE(anchored.key_file.stat().st_mode) == 0o600
    audit_key = CliRunner().invoke(
        app, ["admin", "audit-key", "--key-file", str(anchored.key_file)]
    )
    assert audit_key.exit_code == 0, audit_key.output
    signer = load_signer(anchored.key_file)
    assert audit_key.stdout.strip().splitlines()[-1] == signer.public.hex
    assert anchored.fetched["key_id"] == signer.key_id


def test_start_checkpoints_the_chains_that_exist(anchored):
    assert [(d["scope"], d["seq"]) for d in _lines_of(anchored.at_start)] == [("", 2)]


def test_a_fetched_checkpoint_is_written_to_the_file_too(anchored):
    assert anchored.after_fetch.startswith(anchored.at_start)
    assert _lines_of(anchored.after_fetch)[-1] == anchored.fetched
    assert anchored.fetched["scope"] == anchored.agreement
    assert anchored.service_chain["scope"] == ""


def test_shutdown_checkpoints_what_moved_and_old_lines_stay(anchored):
    assert anchored.stopped == 0
    for earlier in (anchored.at_start, anchored.after_fetch, anchored.before_stop):
        assert anchored.after_stop.startswith(earlier)  # never rewritten, only appended to
    last = {d["scope"]: (d["seq"], d["hash"]) for d in _lines_of(anchored.after_stop)}
    assert last == anchored.heads  # each chain's head at shutdown, signed
    kept = check_kept(read_checkpoints(anchored.file), load_signer(anchored.key_file).public)
    assert kept.problems == {}


def test_plain_verify_audit_passes_the_truncated_chain(anchored):
    """The limit of a chain alone: a consistent truncation is not visible in the database."""
    plain = caselink(
        "admin",
        "verify-audit",  # in this process (tests/cli.py)
        env={"CASELINK_DATABASE_URL": anchored.url, "COLUMNS": "2000"},
    )
    assert plain.returncode == 0, plain.stdout + plain.stderr


@pytest.mark.parametrize("source", ["party", "service file"])
def test_verify_audit_against_a_kept_checkpoint_exits_1(anchored, source):
    """The party's file through the installed command; the service's file in-process."""
    kept = anchored.kept_file if source == "party" else anchored.file
    args = [
        "admin",
        "verify-audit",
        "--against",
        str(kept),
        "--public-key",
        load_signer(anchored.key_file).public.hex,
    ]
    if source == "party":
        run = _caselink(anchored.url, *args)
        code, out = run.returncode, run.stdout + run.stderr
    else:
        run = CliRunner().invoke(
            app, [*args, "--database-url", anchored.url], env={"COLUMNS": "2000"}
        )
        code, out = run.exit_code, run.output
    assert code == 1, out
    (row,) = [line for line in out.splitlines() if anchored.agreement in line]
    shortened = anchored.kept["seq"] - 3
    newest = anchored.kept["seq"] if source == "party" else anchored.heads[anchored.agreement][0]
    assert f"the chain ends at entry {shortened} but a kept checkpoint signed entry {newest}" in row
    (service_row,) = [line for line in out.splitlines() if "(service)" in line]
    assert " ok " in f" {service_row} "
