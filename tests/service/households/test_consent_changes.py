"""An agency changes the consent of its own records later (``PUT .../records/consent``), on
a real server (SQLite and PostgreSQL): linked records at once (tracing queries and case reads
follow before the answer), pending ones when the run stores them; audited with counts and
scopes, never a ref; refused to everyone but the holding agency's submitter keys.

The ``consent`` agreement of the ``households`` world; ``QX`` (agency-b only), ``SX``
(agency-a and agency-b) and ``QP`` (uploaded here, pending) are this module's.
"""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from linkage._registry import records_table
from service._tables import audit_entries, batch_records
from tests.cli import caselink
from tests.service import loopback
from tests.service.households.conftest import person, ref_of

QX, SX, QP, QY = (ref_of(n, "agency-b") for n in ("QX", "SX", "QP", "QY"))


def _put(households, agency_key: str, refs: list[str], scopes) -> httpx.Response:
    url = f"{households.server.url}/v1/agreements/{households.consent_id}/records/consent"
    body = {"record_refs": refs, "scopes": scopes}
    return loopback.put(
        url, json=body, headers={"Authorization": f"Bearer {agency_key}"}, timeout=60
    )


def _set(households, refs: list[str], scopes, agency: str = "agency-b") -> dict:
    r = _put(households, households.keys[agency], refs, scopes)
    assert r.status_code == 200, r.text
    return r.json()


def _found(households, name: str, purpose: str) -> bool:
    """Whether a tracing query for ``name`` with ``purpose`` returns agency-b's case."""
    df = person(name).assign(record_ref=f"Q-{name}")
    body = households.encode(df, "agency-c", f"change-{name}").read_bytes()
    r = households.query(households.consent_id, body, purpose)
    assert r.status_code == 200, r.text
    case = households.cases.get(ref_of(name, "agency-b"))
    return any(c["case_id"] == case for c in r.json()["results"][0]["candidates"])


def _names_b(households, purpose: str | None) -> bool:
    """Whether agency-a's case read names agency-b for SX."""
    key = households.keys["agency-a"]
    with households.server.client(key, purpose=purpose) as c:
        page = c.cases(households.consent_id, limit=10000)
    (row,) = [x for x in page["items"] if x["record_ref"] == ref_of("SX", "agency-a")]
    return row["other_agencies"] == ["agency-b"]


def _consent_entries(households) -> list[dict]:
    e = audit_entries.c
    q = sa.select(audit_entries).where(
        e.scope == households.consent_id, e.action == "record.consent"
    )
    return households.rows(q.order_by(e.seq))


def test_a_linked_record_changes_consent_and_queries_follow_at_once(households):
    assert _found(households, "QX", "tracing") and not _found(households, "QX", "coordination")
    receipt = _set(households, [QX], ["coordination"])
    assert receipt == {
        "agreement_id": households.consent_id,
        "agency": "agency-b",
        "scopes": ["coordination"],
        "records": 1,
        "pending_changed": 0,
        "linked_changed": 1,
        "unchanged": 0,
        "not_held": 0,
    }
    assert not _found(households, "QX", "tracing") and _found(households, "QX", "coordination")
    _set(households, [QX], [])  # no scope: only purposes that need none
    assert not _found(households, "QX", "tracing") and not _found(households, "QX", "coordination")
    assert _found(households, "QX", "research")
    _set(households, [QX], None)  # nothing said: every purpose
    assert _found(households, "QX", "tracing") and _found(households, "QX", "coordination")
    _set(households, [QX], ["tracing", "coordination"])
    assert _found(households, "QX", "tracing")
    r = records_table.c
    stored = households.rows(
        sa.select(r.consent).where(r.scope == households.consent_id, r.record_ref == QX)
    )
    assert stored == [{"consent": "coordination tracing"}]  # sorted, one space between


def test_a_case_read_follows_a_changed_consent(households):
    assert _names_b(households, "tracing")
    _set(households, [SX], ["coordination"])
    assert not _names_b(households, "tracing")
    assert _names_b(households, "coordination") and _names_b(households, None)
    _set(households, [SX], ["tracing"])
    assert _names_b(households, "tracing")


def test_the_same_consent_again_changes_nothing_and_unknown_refs_are_counted(households):
    receipt = _set(households, [SX, "B-nobody", QX], ["tracing"])
    assert (receipt["records"], receipt["linked_changed"], receipt["unchanged"]) == (3, 1, 1)
    assert receipt["not_held"] == 1


def test_another_agency_cannot_change_a_record_it_does_not_hold(households):
    receipt = _set(households, [QX], [], agency="agency-a")
    assert (receipt["agency"], receipt["not_held"], receipt["linked_changed"]) == (
        "agency-a",
        1,
        0,
    )
    assert _found(households, "QX", "tracing")  # agency-b's consent stands


def test_a_pending_record_takes_its_new_consent_into_the_registry(households):
    df = person("QP").assign(record_ref=QP, consent="tracing")
    households.upload(households.consent_id, df, "agency-b", "pending-qp")
    receipt = _set(households, [QP], [])
    assert (receipt["pending_changed"], receipt["linked_changed"]) == (1, 0)
    br = batch_records.c
    assert households.rows(sa.select(br.consent).where(br.record_ref == QP)) == [{"consent": ""}]
    households.run(households.consent_id)
    with households.client("agency-b") as c:
        households.cases |= {
            r["record_ref"]: r["case_id"] for r in c.iter_cases(households.consent_id)
        }
    r = records_table.c
    stored = households.rows(
        sa.select(r.consent).where(r.scope == households.consent_id, r.record_ref == QP)
    )
    assert stored == [{"consent": ""}]
    assert not _found(households, "QP", "tracing") and _found(households, "QP", "research")


def test_every_change_is_audited_with_counts_and_scopes_never_a_ref(households):
    entries = [e for e in _consent_entries(households) if e["outcome"] == "ok"]
    assert len(entries) >= 8
    first = json.loads(entries[0]["details"])
    assert first == {
        "agency": "agency-b",
        "scopes": ["coordination"],
        "records": 1,
        "pending_changed": 0,
        "linked_changed": 1,
        "unchanged": 0,
        "not_held": 0,
    }
    assert (entries[0]["role"], entries[0]["purpose"]) == ("submitter", "linkage")
    for e in entries:
        assert "B-" not in e["details"] and "A-" not in e["details"]


@pytest.mark.parametrize(
    ("role", "status"), [("tracer", 403), ("steward", 403), ("evaluator", 403)]
)
def test_only_a_submitter_key_changes_consent(households, role, status):
    key = households.admin.create_key("agency-b", role)["api_key"]
    r = _put(households, key, [QX], [])
    assert r.status_code == status, r.text
    assert r.json()["error"] == "forbidden"
    refused = [e for e in _consent_entries(households) if e["outcome"] == "forbidden"]
    assert refused and refused[-1]["role"] == role
    assert _found(households, "QX", "tracing")


@pytest.mark.parametrize(
    "body",
    [
        {"record_refs": ["B-QX", "B-QX"], "scopes": []},
        {"record_refs": ["B-QX"], "scopes": ["Tracing!"]},
        {"record_refs": [], "scopes": []},
        {"record_refs": ["B-QX"]},
        {"record_refs": ["B-QX"], "scopes": "tracing"},
    ],
)
def test_a_malformed_change_is_refused_whole(households, body):
    url = f"{households.server.url}/v1/agreements/{households.consent_id}/records/consent"
    headers = {"Authorization": f"Bearer {households.keys['agency-b']}"}
    r = loopback.put(url, json=body, headers=headers, timeout=60)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"
    assert "B-QX" not in r.text  # the problems name fields, never a value sent


def test_the_command_line_changes_consent_from_a_refs_file(households, tmp_path):
    refs = tmp_path / "refs.txt"
    refs.write_text(f"{QY}\n\nB-nobody\n", encoding="utf-8")
    key = tmp_path / "b.key"
    key.write_text(households.keys["agency-b"], encoding="utf-8")
    common = ["--agreement", households.consent_id, "--refs-file", str(refs)]
    common += ["--url", households.server.url, "--api-key-file", str(key)]
    r = caselink("consent", "set", *common, "--scopes", "coordination", "--json")
    assert r.returncode == 0, r.stderr
    total = json.loads(r.stdout)
    assert (total["scopes"], total["records"], total["linked_changed"]) == (["coordination"], 2, 1)
    assert total["not_held"] == 1
    assert not _found(households, "QY", "tracing")
    r = caselink("consent", "set", *common, "--unsaid", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "nothing said (every purpose)" in r.stdout and "QY" not in r.stdout + r.stderr
    assert _found(households, "QY", "tracing")
    r = caselink("consent", "set", *common)
    assert r.returncode != 0 and "--scopes or --unsaid" in r.stderr
