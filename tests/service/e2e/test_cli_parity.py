"""The command line reaches what the API offers, over a real ``caselink serve``: run status,
the summary, agreements (list, show, amend), keys (list, rotate, revoke), the audit (show,
verify), bulk withdrawal from a refs file — each read with ``--json`` printing one JSON
document and nothing else on stdout.

One agreement of three agencies of this module's own (cli-a, cli-b and, later, cli-c), on the
SQLite server of the e2e fleet. Most commands run the installed script's entry function in
this process (tests/cli.py); a read with ``--json`` and the withdrawal reading stdin run the
real script, as a user's shell would.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from evaluation import generate_synthetic
from tests.cli import caselink
from tests.service.servers import PLANTED, Service, encode_file

pytestmark = pytest.mark.parametrize("service", ["sqlite"], indirect=True)
CASELINK = Path(sys.executable).with_name("caselink")


@dataclass
class Parity:
    service: Service
    work: Path
    agreement: str
    records: dict[str, int]  # agency -> records uploaded

    def run(self, *args: str, key: str | None = None) -> subprocess.CompletedProcess:
        """``caselink ARGS`` in this process, against the service, with ``key``'s file."""
        opts = ["--url", self.service.url, "--api-key-file", str(self.work / key)] if key else []
        return caselink(*args, *opts, cwd=self.work, env={"COLUMNS": "250"})

    def real(self, *args: str, key: str, stdin: str = "") -> subprocess.CompletedProcess:
        """The installed ``caselink`` script, as a shell runs it."""
        opts = ["--url", self.service.url, "--api-key-file", str(self.work / key)]
        return subprocess.run(
            [str(CASELINK), *args, *opts],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.work,
            env=self.service.server.env,
        )

    def me(self, api_key: str) -> dict:
        with self.service.client(api_key) as c:
            return c.me()

    def json(self, *args: str, key: str) -> object:
        r = self.run(*args, "--json", key=key)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)  # the whole of stdout: one document


def _ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def parity(service, person_schema, secret, tmp_path_factory) -> Parity:
    """Agencies cli-a, cli-b, cli-c with a submitter key each (issued by the admin through
    the CLI), an agreement of cli-a and cli-b made by the steward, both uploaded and linked."""
    work = tmp_path_factory.mktemp("cli-parity")
    (work / "admin.key").write_text(service.admin_key)
    (work / "steward.key").write_text(service.steward_key)
    p = Parity(service, work, "", {})
    for agency in ("cli-a", "cli-b", "cli-c"):
        _ok(p.run("agency", "add", agency, "--key-out", f"{agency}.key", key="admin.key"))
    made = p.run(
        "agreement",
        "create",
        "--name",
        "cli parity",
        "--party",
        "cli-a",
        "--party",
        "cli-b",
        "--purpose",
        "linkage",
        "--purpose",
        "evaluation",
        "--schema",
        "person",
        "--retention-days",
        "30",
        key="steward.key",
    )
    p.agreement = _ok(made).stdout.strip().splitlines()[-1]
    data = generate_synthetic(150, 2, seed=11)
    for agency, register in zip(("cli-a", "cli-b"), data.agencies.values(), strict=True):
        path = encode_file(register, person_schema, secret, agency, work / f"{agency}.parquet")
        _ok(p.run("upload", path.name, "--agreement", p.agreement, key=f"{agency}.key"))
        p.records[agency] = len(register)
    started = _ok(p.run("run", "start", "--agreement", p.agreement, key="cli-a.key"))
    assert "succeeded" in started.stderr
    return p


def test_run_status_summary_cases_and_agreements_read_as_json(parity):
    p, agreement = parity, parity.agreement
    status = p.json("run", "status", "--agreement", agreement, key="cli-a.key")
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    assert status["stats"]["new_records"] == sum(p.records.values())
    runs = p.json("run", "list", "--agreement", agreement, key="steward.key")
    assert [r["run_id"] for r in runs] == [status["run_id"]]
    named = p.json(
        "run", "status", "--agreement", agreement, "--run-id", status["run_id"], key="cli-a.key"
    )
    assert named == status
    shown = _ok(p.run("run", "status", "--agreement", agreement, key="cli-a.key"))
    assert status["run_id"] in shown.stdout and "succeeded" in shown.stdout
    missing = p.run(
        "run",
        "status",
        "--agreement",
        agreement,
        "--run-id",
        "run_0000000000000000",
        key="cli-a.key",
    )
    assert missing.returncode == 2 and "no run run_0000000000000000" in missing.stderr

    summary = p.json("summary", "--agreement", agreement, key="steward.key")
    assert summary["records_by_agency"] == p.records and summary["pending_records"] == 0
    assert summary["runs_succeeded"] == 1 and summary["cases_across_agencies"] > 0
    page = p.json("cases", "--agreement", agreement, "--limit", "5", key="cli-b.key")
    assert page["total"] == p.records["cli-b"] and len(page["items"]) == 5
    streamed = _ok(p.run("cases", "--agreement", agreement, "--out", "-", key="cli-b.key"))
    rows = list(csv.DictReader(io.StringIO(streamed.stdout)))
    assert len(rows) == p.records["cli-b"] and rows[0]["case_id"] == page["items"][0]["case_id"]

    listed = p.json("agreement", "list", key="cli-a.key")
    assert [a["agreement_id"] for a in listed] == [agreement]
    # the real script: stdout is the JSON document alone
    real = p.real("agreement", "show", agreement, "--json", key="cli-a.key")
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout) == listed[0]
    assert {"cli-a", "cli-b", "cli-c"} <= {
        a["name"] for a in p.json("agency", "list", key="steward.key")
    }


def test_keys_are_listed_rotated_to_a_private_file_and_revoked(parity):
    p = parity
    _ok(
        p.run(
            "agency", "add", "cli-a", "--role", "tracer", "--key-out", "tracer.key", key="admin.key"
        )
    )
    old = (p.work / "tracer.key").read_text().strip()
    me = p.me(old)
    rotated = _ok(p.run("keys", "rotate", "--key-out", "tracer-2.key", key="tracer.key"))
    new_file = p.work / "tracer-2.key"
    new = new_file.read_text().strip()
    assert new_file.stat().st_mode & 0o777 == 0o600 and new.startswith("clk_") and new != old
    assert new not in rotated.stdout + rotated.stderr and me["key_id"] in rotated.stderr
    assert p.run("keys", "list", key="tracer.key").returncode == 2  # the old key stops at once
    successor = p.me(new)
    assert (successor["agency"], successor["role"]) == ("cli-a", "tracer")

    again = p.run("keys", "rotate", "--key-out", "tracer-2.key", key="tracer-2.key")
    assert again.returncode == 2 and "--force" in again.stderr  # and nothing was rotated
    assert p.me(new) == successor

    by_admin = _ok(p.run("keys", "rotate", successor["key_id"], "--key-out", "-", key="admin.key"))
    third = by_admin.stdout.strip()
    assert third.startswith("clk_") and by_admin.stdout == third + "\n"  # the key, alone
    keys = {k["key_id"]: k for k in p.json("keys", "list", key="admin.key")}
    assert keys[me["key_id"]]["revoked_at"] and keys[successor["key_id"]]["revoked_at"]
    third_id = p.me(third)["key_id"]
    assert keys[third_id]["revoked_at"] is None and "api_key" not in keys[third_id]

    revoked = _ok(p.run("keys", "revoke", third_id, key="admin.key"))
    assert f"key {third_id} of agency cli-a (tracer) revoked" in revoked.stderr
    assert next(k for k in p.json("keys", "list", key="admin.key") if k["key_id"] == third_id)[
        "revoked_at"
    ]
    steward_view = p.json("keys", "list", key="steward.key")
    assert {k["agency"] for k in steward_view} == {p.service.steward_agency}


def test_a_steward_amends_the_agreement_and_the_audit_shows_it(parity):
    p, agreement = parity, parity.agreement
    r = _ok(
        p.run(
            "agreement",
            "amend",
            agreement,
            "--purpose",
            "linkage",
            "--purpose",
            "evaluation",
            "--purpose",
            "oversight",
            "--retention-days",
            "20",
            key="steward.key",
        )
    )
    assert "retention_days: 30 -> 20" in r.stderr and "next retention sweep" in r.stderr
    assert "purposes: linkage, evaluation -> linkage, evaluation, oversight" in r.stderr
    shown = p.json("agreement", "show", agreement, key="cli-b.key")
    assert shown["retention_days"] == 20 and shown["purposes"][-1] == "oversight"

    held = p.run("agreement", "amend", agreement, "--remove-party", "cli-a", key="steward.key")
    assert held.returncode == 2 and "cli-a holds" in held.stderr and "withdraw them" in held.stderr
    refused = p.run("agreement", "amend", agreement, "--retention-days", "5", key="cli-a.key")
    assert refused.returncode == 2 and "role steward" in refused.stderr
    nothing = p.run("agreement", "amend", agreement, key="steward.key")
    assert nothing.returncode == 2 and "--add-party" in nothing.stderr

    entries = p.json(
        "audit", "show", "--agreement", agreement, "--limit", "10000", key="steward.key"
    )["items"]
    amends = [e for e in entries if e["action"] == "agreement.amend"]
    assert [(e["actor"], e["outcome"]) for e in amends] == [
        (p.service.steward_agency, "ok"),
        (p.service.steward_agency, "conflict"),
        ("cli-a", "forbidden"),
    ]
    assert amends[0]["details"]["before"]["retention_days"] == 30
    assert amends[0]["details"]["after"]["retention_days"] == 20
    verified = p.json("audit", "verify", "--agreement", agreement, key="steward.key")
    assert verified["ok"] is True and verified["entries"] >= len(entries)
    shown = _ok(p.run("audit", "verify", "--agreement", agreement, key="steward.key"))
    assert "entries intact" in shown.stderr
    kept = _ok(
        p.run("audit", "checkpoint", "--agreement", agreement, "--out", "-", key="steward.key")
    )
    line = json.loads(kept.stdout)  # the line a checkpoint file would get, alone on stdout
    assert line["scope"] == agreement and line["seq"] > verified["head_seq"] and line["signature"]
    service_chain = p.json("audit", "show", "--limit", "3", key="admin.key")
    assert len(service_chain["items"]) == 3 and service_chain["items"][0]["seq"] == 1
    assert p.run("audit", "verify", key="steward.key").returncode == 2  # the service's: admins


def test_bulk_withdrawal_from_stdin_then_the_emptied_party_leaves(parity, person_schema, secret):
    p, agreement = parity, parity.agreement
    _ok(p.run("agreement", "amend", agreement, "--add-party", "cli-c", key="steward.key"))
    refs = [f"C-{k}" for k in range(len(PLANTED))]
    planted = encode_file(
        PLANTED.assign(record_ref=refs), person_schema, secret, "cli-c", p.work / "cli-c.parquet"
    )
    _ok(p.run("upload", planted.name, "--agreement", agreement, key="cli-c.key"))
    _ok(p.run("run", "start", "--agreement", agreement, key="cli-c.key"))
    lines = [refs[0], "", "NOT-A-REF-77", *refs[1:]]  # a blank line, a ref never uploaded
    stdin = "\n".join(lines) + "\n"
    r = p.real(
        "withdraw",
        "--agreement",
        agreement,
        "--reason",
        "erasure",
        "--refs-file",
        "-",
        "--json",
        key="cli-c.key",
        stdin=stdin,
    )
    assert r.returncode == 1, r.stderr  # one failed; the others went on
    done = json.loads(r.stdout)
    assert [w["line"] for w in done["withdrawn"]] == [1, 4, 5]
    assert [w["receipt"]["record_ref"] for w in done["withdrawn"]] == refs
    assert all(w["receipt"]["status"] == "linked" for w in done["withdrawn"])
    (failed,) = done["failed"]
    assert (failed["line"], failed["status"], failed["error"]) == (3, 404, "not_found")
    assert done["not_tried"] == []
    assert "NOT-A-REF-77" not in r.stdout + r.stderr  # a ref is never echoed
    assert "3 of 4 withdrawn, 1 failed" in r.stderr

    left = _ok(p.run("agreement", "amend", agreement, "--remove-party", "cli-c", key="steward.key"))
    assert (
        "parties:" in left.stderr
        and "cli-c" not in p.json("agreement", "show", agreement, key="steward.key")["parties"]
    )
    assert p.run("agreement", "show", agreement, key="cli-c.key").returncode == 2  # an outsider now

    refs_file = p.work / "refs.txt"
    refs_file.write_text("NOT-A-REF-1\nNOT-A-REF-2\n")
    table = p.run(
        "withdraw",
        "--agreement",
        agreement,
        "--reason",
        "consent",
        "--refs-file",
        str(refs_file),
        key="cli-a.key",
    )
    assert table.returncode == 1 and "0 of 2 withdrawn, 2 failed" in table.stderr
    assert "NOT-A-REF" not in table.stdout + table.stderr
    both = p.run(
        "withdraw",
        "--agreement",
        agreement,
        "--reason",
        "consent",
        "--record-ref",
        "x",
        "--refs-file",
        str(refs_file),
        key="cli-a.key",
    )
    assert both.returncode == 2 and "either --record-ref or --refs-file" in both.stderr


def test_admin_reads_of_the_database_print_json(parity):
    url = parity.service.db.url
    r = caselink("admin", "verify-audit", "--database-url", url, "--json")
    assert r.returncode == 0, r.stderr
    checked = json.loads(r.stdout)
    assert checked["ok"] is True and parity.agreement in {c["scope"] for c in checked["chains"]}
    r = caselink("admin", "data-keys", "--database-url", url, "--json")
    assert r.returncode == 0, r.stderr
    ring = json.loads(r.stdout)
    assert ring and sum(k["stored_filters"] for k in ring) >= sum(parity.records.values())


def _created(p: Parity, name: str, *auditors: str) -> str:
    """A new agreement of cli-b made by the steward through the CLI; its id."""
    named = [arg for a in auditors for arg in ("--auditor", a)]
    made = p.run(
        "agreement",
        "create",
        "--name",
        name,
        "--party",
        "cli-b",
        *named,
        "--schema",
        "person",
        "--retention-days",
        "30",
        key="steward.key",
    )
    return _ok(made).stdout.strip().splitlines()[-1]


def test_an_auditor_reads_and_verifies_only_the_audit_of_what_it_is_named_on(parity):
    p = parity
    bad = p.run(
        "agency", "add", "cli-dpo", "--role", "inspector", "--key-out", "x.key", key="admin.key"
    )
    assert bad.returncode == 2 and "use one of" in bad.stderr and "auditor" in bad.stderr
    _ok(
        p.run(
            "agency", "add", "cli-dpo", "--role", "auditor", "--key-out", "dpo.key", key="admin.key"
        )
    )
    assert p.me((p.work / "dpo.key").read_text().strip())["role"] == "auditor"
    overseen = _created(p, "overseen", "cli-dpo")
    other = _created(p, "not overseen")

    shown = p.json("agreement", "show", overseen, key="dpo.key")
    assert (shown["auditors"], shown["access"]) == (["cli-dpo"], "auditor")
    table = _ok(p.run("agreement", "show", overseen, key="dpo.key")).stdout
    assert "cli-dpo" in table and "auditor" in table
    assert [a["agreement_id"] for a in p.json("agreement", "list", key="dpo.key")] == [overseen]
    entries = p.json("audit", "show", "--agreement", overseen, key="dpo.key")["items"]
    assert entries[0]["action"] == "agreement.create"
    assert entries[0]["details"]["auditors"] == ["cli-dpo"]
    assert (entries[-1]["actor"], entries[-1]["role"]) == ("cli-dpo", "auditor")
    verified = _ok(p.run("audit", "verify", "--agreement", overseen, key="dpo.key"))
    assert "entries intact" in verified.stderr
    kept = _ok(p.run("audit", "checkpoint", "--agreement", overseen, "--out", "-", key="dpo.key"))
    assert json.loads(kept.stdout)["scope"] == overseen

    # nothing else: linked data of its agreement (403), another agreement, the service's chain
    cases = p.run("cases", "--agreement", overseen, key="dpo.key")
    assert cases.returncode == 2 and "yours has role auditor" in cases.stderr
    for args in (
        ("audit", "show", "--agreement", other),
        ("audit", "verify", "--agreement", other),
        ("agreement", "show", other),
    ):
        refused = p.run(*args, key="dpo.key")
        assert refused.returncode == 2, args
        assert "named as auditor of" in refused.stderr, (args, refused.stderr)
    assert p.run("audit", "show", key="dpo.key").returncode == 2


def test_a_steward_names_and_unnames_an_auditor_audited(parity):
    p = parity
    _ok(
        p.run(
            "agency",
            "add",
            "cli-watch",
            "--role",
            "auditor",
            "--key-out",
            "watch.key",
            key="admin.key",
        )
    )
    agreement = _created(p, "watched later")
    assert p.run("audit", "verify", "--agreement", agreement, key="watch.key").returncode == 2

    named = _ok(
        p.run("agreement", "amend", agreement, "--add-auditor", "cli-watch", key="steward.key")
    )
    assert "auditors: - -> cli-watch" in named.stderr
    _ok(p.run("audit", "verify", "--agreement", agreement, key="watch.key"))
    # a steward issues an auditor key to its own agency; a party's, that agency not named
    own = ("agency", "add", p.service.steward_agency, "--role", "auditor", "--key-out")
    _ok(p.run(*own, "own-auditor.key", key="steward.key"))
    assert p.run("agreement", "show", agreement, key="own-auditor.key").returncode == 2

    unnamed = _ok(
        p.run("agreement", "amend", agreement, "--remove-auditor", "cli-watch", key="steward.key")
    )
    assert "auditors: cli-watch -> -" in unnamed.stderr
    gone = p.run("audit", "show", "--agreement", agreement, key="watch.key")
    assert gone.returncode == 2 and "named as auditor of" in gone.stderr
    entries = p.json("audit", "show", "--agreement", agreement, key="steward.key")["items"]
    amends = [e["details"] for e in entries if e["action"] == "agreement.amend"]
    assert amends == [
        {"before": {"auditors": []}, "after": {"auditors": ["cli-watch"]}},
        {"before": {"auditors": ["cli-watch"]}, "after": {"auditors": []}},
    ]
    reads = [e for e in entries if e["actor"] == "cli-watch"]
    assert {(e["action"], e["role"]) for e in reads} >= {("audit.verify", "auditor")}
