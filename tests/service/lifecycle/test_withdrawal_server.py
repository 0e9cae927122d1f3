"""Withdrawal over a real server (SQLite and PostgreSQL): receipts, re-formed cases, refusals.

The ``life`` fixture (conftest) linked three agencies' registers, each holding the same three
planted people (refs ``P1-…`` at agency-a, ``P2-…`` at agency-b, ``P3-…`` at agency-c).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from service._tables import audit_entries, batch_records, batches, runs
from service.client import ClientError
from tests.service.lifecycle.conftest import PLANTED, encode_file, in_process
from tests.service.lifecycle.servers import caselink


def _withdraw(client, agreement: str, **body) -> dict:
    return client.withdraw(agreement, body.pop("record_ref"), body.pop("reason"), **body)


def _audit(life, agreement: str, action: str) -> list[dict]:
    e = audit_entries.c
    with life.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_entries).where(e.scope == agreement, e.action == action)
        ).mappings()
        return [dict(r) | {"details": json.loads(r["details"])} for r in rows]


def _traced(life) -> dict[str, list[str]]:
    """agency-b's tracer asks for planted person 0: case id -> agencies holding a record."""
    return life.trace(life.long, PLANTED.iloc[:1])


def _refused(fn, status: int, error: str) -> ClientError:
    with pytest.raises(ClientError) as e:
        fn()
    assert (e.value.status, e.value.error) == (status, error), e.value
    return e.value


def test_withdrawal_reforms_a_three_agency_case_and_the_ref_can_come_back(life):
    before = {a: life.cases(a) for a in ("agency-a", "agency-b", "agency-c")}
    case = before["agency-a"]["P1-000"]["case_id"]
    assert {
        before[a][r]["case_id"] for a, r in (("agency-b", "P2-000"), ("agency-c", "P3-000"))
    } == {case}
    assert before["agency-b"]["P2-000"]["other_agencies"] == ["agency-a", "agency-c"]
    assert _traced(life).get(case) == ["agency-a", "agency-b", "agency-c"]
    with life.client("agency-a") as c:
        receipt = _withdraw(c, life.long, record_ref="P1-000", reason="consent")
    assert receipt["receipt_id"].startswith("wdr_")
    assert {
        k: receipt[k]
        for k in (
            "agreement_id",
            "agency",
            "record_ref",
            "reason",
            "status",
            "former_case_id",
            "remaining_records",
            "remaining_agencies",
            "split_off_cases",
        )
    } == {
        "agreement_id": life.long,
        "agency": "agency-a",
        "record_ref": "P1-000",
        "reason": "consent",
        "status": "linked",
        "former_case_id": case,
        "remaining_records": 2,
        "remaining_agencies": 2,
        "split_off_cases": 0,
    }
    after = {a: life.cases(a) for a in ("agency-a", "agency-b", "agency-c")}
    assert "P1-000" not in after["agency-a"]
    assert len(after["agency-a"]) == len(before["agency-a"]) - 1
    assert after["agency-b"]["P2-000"]["case_id"] == after["agency-c"]["P3-000"]["case_id"] == case
    assert after["agency-b"]["P2-000"]["other_agencies"] == ["agency-c"]
    assert after["agency-c"]["P3-000"]["other_agencies"] == ["agency-b"]
    assert life.db.count(batch_records, batch_records.c.record_ref == "P1-000") == 0
    (entry,) = [x for x in _audit(life, life.long, "record.withdraw") if x["outcome"] == "ok"]
    assert entry["details"]["receipt_id"] == receipt["receipt_id"]
    assert entry["actor"] == "agency-a" and entry["role"] == "submitter"
    assert "P1-000" not in json.dumps(entry, default=str)  # the audit holds no record_ref
    assert _traced(life).get(case) == ["agency-b", "agency-c"]  # at once: after the receipt

    batch = life.upload_and_run(
        "agency-a", life.long, PLANTED.iloc[:1].assign(record_ref="P1-000"), "again.parquet"
    )
    assert batch["duplicate"] is False and batch["record_count"] == 1
    back = {a: life.cases(a) for a in ("agency-a", "agency-b")}
    assert back["agency-a"]["P1-000"]["case_id"] == case  # linked back into its case
    assert back["agency-b"]["P2-000"]["other_agencies"] == ["agency-a", "agency-c"]
    # a run reads succeeded once the index holds it: at once too
    assert _traced(life).get(case) == ["agency-a", "agency-b", "agency-c"]


def test_withdrawal_is_refused_to_other_agencies_outsiders_and_other_roles(life):
    ref = "P1-001"
    with life.client("agency-b") as c:
        e = _refused(
            lambda: _withdraw(c, life.long, agency="agency-a", record_ref=ref, reason="erasure"),
            403,
            "forbidden",
        )
        assert "agency" in e.detail and ref not in e.detail
    with life.client(key=life.outsider) as c:
        _refused(
            lambda: _withdraw(c, life.long, record_ref=ref, reason="consent"), 404, "not_found"
        )
    with life.client(key=life.tracer) as c:
        _refused(
            lambda: _withdraw(c, life.long, record_ref="P2-001", reason="consent"), 403, "forbidden"
        )
    with life.client("agency-a") as c:
        e = _refused(
            lambda: _withdraw(c, life.long, record_ref="no-such-ref", reason="consent"),
            404,
            "not_found",
        )
        assert "record_ref" in e.detail and "no-such-ref" not in e.detail  # never echoed
        e = _refused(
            lambda: _withdraw(c, life.long, record_ref=ref, reason="whim"), 422, "invalid_request"
        )
        assert any(p.startswith("reason") for p in e.problems)
    with life.db.engine.begin() as conn:  # a run of the agreement in progress
        conn.execute(
            runs.insert().values(
                id="run_lifecycle",
                agreement_id=life.long,
                started_by=1,
                status="running",
                stage="linking",
                progress=0.5,
                created_at=datetime.now(UTC),
            )
        )
    try:
        with life.client("agency-a") as c:
            e = _refused(
                lambda: _withdraw(c, life.long, record_ref=ref, reason="consent"), 409, "conflict"
            )
            assert "run_lifecycle" in e.detail
    finally:
        with life.db.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == "run_lifecycle")
                .values(status="failed", error="planted by a test")
            )
    assert ref in life.cases("agency-a")  # nothing was withdrawn
    outcomes = {x["outcome"] for x in _audit(life, life.long, "record.withdraw")}
    assert {"forbidden", "not_found"} <= outcomes


def test_a_steward_withdraws_pending_records_and_an_emptied_batch_goes(life):
    extra = life.uploaded["agency-c"].iloc[:2].assign(record_ref=["NEW-1", "NEW-2"])
    path = life.workdir / "pending.parquet"
    encode_file(extra, life.schema, life.secret, "agency-c", path)
    with life.client("agency-c") as c:
        batch = c.upload(life.long, path)
        assert c.cases(life.long, limit=1)["pending_records"] == 2
    with life.client() as steward:
        first = _withdraw(
            steward, life.long, agency="agency-c", record_ref="NEW-1", reason="correction"
        )
        assert (first["status"], first["former_case_id"], first["remaining_records"]) == (
            "pending",
            None,
            0,
        )
        with life.client("agency-c") as c:
            assert c.cases(life.long, limit=1)["pending_records"] == 1
        _withdraw(steward, life.long, agency="agency-c", record_ref="NEW-2", reason="erasure")
    assert life.db.count(batches, batches.c.id == batch["batch_id"]) == 0
    with life.client("agency-c") as c:
        assert batch["batch_id"] not in {b["batch_id"] for b in c.batches(life.long)}
        assert c.upload(life.long, path)["duplicate"] is False  # the same file is new again
    with life.client() as steward:
        for ref in ("NEW-1", "NEW-2"):
            _withdraw(steward, life.long, agency="agency-c", record_ref=ref, reason="erasure")
    actors = {x["actor"] for x in _audit(life, life.long, "record.withdraw")}
    assert "steward" in actors


def test_caselink_withdraw_prints_the_receipt(life):
    key_file = life.workdir / "agency-b.apikey"
    key_file.write_text(life.keys["agency-b"])
    done = in_process(
        "withdraw",
        "--agreement",
        life.long,
        "--record-ref",
        "P2-002",
        "--reason",
        "consent",
        "--url",
        life.server.url,
        "--api-key-file",
        str(key_file),
    )
    assert done.exit_code == 0, done.output
    assert "wdr_" in done.stdout and "P2-002" in done.stdout
    assert "P2-002" not in life.cases("agency-b")
    with life.client("agency-b") as c:  # once only
        _refused(
            lambda: _withdraw(c, life.long, record_ref="P2-002", reason="consent"), 404, "not_found"
        )


def test_audit_chains_verify_after_the_withdrawals(life):
    done = caselink(life.db.url, "admin", "verify-audit")
    assert done.returncode == 0, done.stdout + done.stderr
    with life.client() as c:
        assert c.verify_audit(life.long)["ok"] is True
