"""The consent scope each purpose needs is part of the agreement: set at create and by
amendment (audited before and after), checked against the agreement's purposes, shown by the
API and the command line. On the ``households`` server (SQLite and PostgreSQL), each test
with agreements of its own.
"""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from service._tables import audit_entries
from tests.cli import caselink
from tests.service import loopback
from tests.service.servers import AGENCIES, agreement_body


def _create(households, **extra) -> httpx.Response:
    body = agreement_body(households.schema, list(AGENCIES), name="scopes") | extra
    url = f"{households.server.url}/v1/agreements"
    headers = {"Authorization": f"Bearer {households.keys['steward']}"}
    return loopback.post(url, json=body, headers=headers, timeout=60)


def _amend(households, agreement_id: str, **body) -> httpx.Response:
    url = f"{households.server.url}/v1/agreements/{agreement_id}"
    headers = {"Authorization": f"Bearer {households.keys['steward']}"}
    return loopback.patch(url, json=body, headers=headers, timeout=60)


def _entries(households, agreement_id: str, action: str) -> list[dict]:
    e = audit_entries.c
    q = sa.select(audit_entries).where(e.scope == agreement_id, e.action == action)
    return households.rows(q.order_by(e.seq))


def test_an_agreement_is_created_with_the_scope_of_each_purpose_and_audited(households):
    r = _create(households, purpose_scopes={"tracing": "tracing", "linkage": "coordination"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["purpose_scopes"] == {"linkage": "coordination", "tracing": "tracing"}
    (entry,) = _entries(households, made["agreement_id"], "agreement.create")
    details = json.loads(entry["details"])
    assert details["purpose_scopes"] == {"linkage": "coordination", "tracing": "tracing"}


@pytest.mark.parametrize(
    ("scopes", "problem"),
    [
        ({"marketing": "tracing"}, "'marketing' is not a purpose of the agreement"),
        ({"tracing": "Tracing!"}, "purpose_scopes"),
        ({"Tracing": "tracing"}, "purpose_scopes"),
    ],
)
def test_a_scope_for_a_purpose_the_agreement_lacks_is_refused(households, scopes, problem):
    r = _create(households, purpose_scopes=scopes)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"
    assert any(problem in p for p in r.json()["problems"]), r.json()


def test_an_amendment_replaces_the_map_and_is_audited_before_and_after(households):
    agreement_id = _create(households, purpose_scopes={"tracing": "tracing"}).json()["agreement_id"]
    r = _amend(households, agreement_id, purpose_scopes={"evaluation": "research"})
    assert r.status_code == 200, r.text
    assert r.json()["purpose_scopes"] == {"evaluation": "research"}
    (entry,) = _entries(households, agreement_id, "agreement.amend")
    assert json.loads(entry["details"]) == {
        "before": {"purpose_scopes": {"tracing": "tracing"}},
        "after": {"purpose_scopes": {"evaluation": "research"}},
    }
    r = _amend(households, agreement_id, purpose_scopes={})
    assert r.status_code == 200 and r.json()["purpose_scopes"] == {}


def test_a_mapped_purpose_cannot_be_taken_out_while_mapped(households):
    agreement_id = _create(households, purpose_scopes={"tracing": "tracing"}).json()["agreement_id"]
    r = _amend(households, agreement_id, purposes=["linkage", "evaluation"])
    assert r.status_code == 422, r.text
    assert any("give purpose_scopes without it too" in p for p in r.json()["problems"])
    refused = _entries(households, agreement_id, "agreement.amend")
    assert [e["outcome"] for e in refused] == ["invalid_request"]
    r = _amend(households, agreement_id, purposes=["linkage", "evaluation"], purpose_scopes={})
    assert r.status_code == 200, r.text
    assert (r.json()["purposes"], r.json()["purpose_scopes"]) == (["linkage", "evaluation"], {})


def test_the_command_line_sets_shows_and_clears_the_map(households, tmp_path):
    key = tmp_path / "steward.key"
    key.write_text(households.keys["steward"], encoding="utf-8")
    service = ["--url", households.server.url, "--api-key-file", str(key)]
    env = {"COLUMNS": "250"}
    create = ["agreement", "create", "--name", "cli scopes", "--schema", "person"]
    create += ["--retention-days", "30", "--purpose", "linkage", "--purpose", "tracing"]
    for agency in AGENCIES:
        create += ["--party", agency]
    r = caselink(*create, "--purpose-scope", "tracing=tracing", *service, env=env)
    assert r.returncode == 0, r.stderr
    agreement_id = r.stdout.strip().splitlines()[-1]
    r = caselink("agreement", "show", agreement_id, *service, env=env)
    assert r.returncode == 0 and "tracing=tracing" in r.stdout, r.stdout + r.stderr
    listed = caselink("agreement", "list", "--json", *service, env=env)
    by_id = {a["agreement_id"]: a for a in json.loads(listed.stdout)}
    assert by_id[agreement_id]["purpose_scopes"] == {"tracing": "tracing"}
    r = caselink("agreement", "amend", agreement_id, "--no-purpose-scopes", *service, env=env)
    assert r.returncode == 0, r.stderr
    assert "purpose_scopes: tracing=tracing -> -" in r.stderr
    r = caselink("agreement", "show", agreement_id, *service, env=env)
    assert "none needed" in r.stdout
    r = caselink("agreement", "amend", agreement_id, "--purpose-scope", "tracing", *service)
    assert r.returncode != 0 and "PURPOSE=SCOPE" in r.stderr
