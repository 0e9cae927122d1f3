"""The console's data for stewards and agencies, in process on a real service: the audit log
filtered, paged and exported as CSV, each reading gated and audited as the API's; the chain
verified from the console; retention timers; withdrawal receipts; linkage quality — against
the audit chain, the batches and the registry as the API and the database hold them."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from linkage import Registry
from service._tables import audit_entries
from service.api.deps import principal_of
from service.api.errors import ServiceError
from service.console.views import (
    REFUSED,
    AuditFilter,
    audit_csv,
    audit_log,
    linkage_quality,
    retention_timers,
    transparency_preview,
    verify_audit,
    withdrawal_receipts,
)
from service.repositories.audit import entries_after
from tests.service.console_data.conftest import new_agreement, upload


def who(service, key: str):
    return principal_of(service.state.engine, service.keys[key])


def chain(service, agreement: str) -> list[dict]:
    with service.state.engine.connect() as conn:
        return entries_after(conn, agreement, 0, 100_000)


def last_entry(service, agreement: str) -> dict:
    return chain(service, agreement)[-1]


# -- the audit log ------------------------------------------------------------------------
def test_pages_walk_the_whole_log_newest_first_and_each_view_is_audited(service, linked):
    steward = who(service, "south-steward")
    held = [e["seq"] for e in chain(service, linked.agreement)]
    seen, before, pages = [], None, 0
    while True:
        page = audit_log(service.state.engine, steward, linked.agreement, before=before, limit=4)
        pages += 1
        viewed = last_entry(service, linked.agreement)
        assert (viewed["action"], viewed["actor"], viewed["purpose"]) == (
            "audit.read",
            "south",
            "oversight",
        )
        assert viewed["details"]["entries"] == len(page.items)
        seen += [r.seq for r in page.items]
        assert [r.seq for r in page.items] == sorted((r.seq for r in page.items), reverse=True)
        if page.older is None:
            break
        assert page.older == page.items[-1].seq
        before = page.older
    assert seen == sorted(held, reverse=True)[: len(seen)] and sorted(seen) == held
    assert pages == -(-len(held) // 4)
    # and forward again from the oldest page
    newer = audit_log(service.state.engine, steward, linked.agreement, after=0, limit=4)
    assert [r.seq for r in newer.items] == [4, 3, 2, 1] and newer.older is None
    assert newer.newer == 4
    again = audit_log(service.state.engine, steward, linked.agreement, after=newer.newer, limit=4)
    assert [r.seq for r in again.items] == [8, 7, 6, 5] and again.older == 5


def test_filters_show_only_matching_entries_with_the_apis_fields(service, linked):
    engine, steward = service.state.engine, who(service, "north-steward")
    uploads = audit_log(
        engine, steward, linked.agreement, AuditFilter(agency="south", action="batch.upload")
    )
    (row,) = uploads.items
    assert (row.actor, row.role, row.purpose, row.outcome) == (
        "south",
        "submitter",
        "linkage",
        "ok",
    )
    assert row.details == {"batch": linked.batches["south"]["batch_id"], "records": 4}
    api = service.client.call(
        service.keys["north-steward"], "GET", f"/v1/agreements/{linked.agreement}/audit"
    ).json()["items"]
    (same,) = [e for e in api if e["seq"] == row.seq]
    assert same == {k: getattr(row, k) for k in same}  # exactly the API's fields and values
    assert audit_log(engine, steward, linked.agreement, uploads.where).older is None
    viewed = last_entry(service, linked.agreement)["details"]
    assert viewed["filter"] == {"agency": "south", "action": "batch.upload"}

    # refused calls only, by outcome; a submitter is refused the audit (and that is audited)
    with pytest.raises(ServiceError) as refused:
        audit_log(engine, who(service, "south-submitter"), linked.agreement)
    assert refused.value.status == 403
    refusals = audit_log(engine, steward, linked.agreement, AuditFilter(outcome=REFUSED)).items
    assert [(r.action, r.actor, r.outcome) for r in refusals][:1] == [
        ("audit.read", "south", "forbidden")
    ]
    assert all(r.outcome != "ok" for r in refusals)
    purpose = audit_log(engine, steward, linked.agreement, AuditFilter(purpose="oversight"))
    assert purpose.items and {r.purpose for r in purpose.items} == {"oversight"}

    # a time range: everything before the run started, and nothing from after now
    run_at = datetime.fromisoformat(linked.run["created_at"])
    early = audit_log(engine, steward, linked.agreement, AuditFilter(until=run_at), limit=500)
    assert "run.start" not in {r.action for r in early.items} and early.items
    later = AuditFilter(since=datetime.now(UTC) + timedelta(seconds=5))
    assert audit_log(engine, steward, linked.agreement, later).items == ()
    choices = audit_log(engine, steward, linked.agreement, limit=1).choices
    assert {"north", "south", "east"} <= set(choices["agency"])
    assert {"batch.upload", "run.start", "run.finish"} <= set(choices["action"])
    assert "forbidden" in choices["outcome"] and "oversight" in choices["purpose"]


def test_a_non_party_gets_404_and_a_bad_filter_422_naming_the_field(service, linked):
    engine = service.state.engine
    with pytest.raises(ServiceError) as outsider:
        audit_log(engine, who(service, "admin"), linked.agreement)
    assert outsider.value.status == 404
    before = len(chain(service, linked.agreement))
    for where, kw, field in (
        (AuditFilter(agency="north\x00"), {}, "agency"),
        (AuditFilter(action="x" * 65), {}, "action"),
        (AuditFilter(since=datetime(2026, 1, 2)), {}, "since"),
        (
            AuditFilter(
                since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC)
            ),
            {},
            "until",
        ),
        (AuditFilter(), {"limit": 0}, "limit"),
        (AuditFilter(), {"before": 3, "after": 1}, "after"),
    ):
        with pytest.raises(ServiceError) as bad:
            audit_log(engine, who(service, "north-steward"), linked.agreement, where, **kw)
        assert bad.value.status == 422
        assert [p.split(":")[0] for p in bad.value.problems] == [field], bad.value.problems
        assert "\x00" not in str(bad.value.problems)
    assert len(chain(service, linked.agreement)) == before  # nothing read, nothing audited


def test_the_csv_export_is_audited_first_and_holds_the_matching_entries(service, linked):
    engine, steward = service.state.engine, who(service, "east-steward")
    where = AuditFilter(outcome="ok", action="batch.upload")
    export = audit_csv(engine, steward, linked.agreement, where)
    recorded = last_entry(service, linked.agreement)  # before a single row is read
    assert recorded["action"] == "audit.read" and recorded["actor"] == "east"
    assert recorded["details"] == {
        "format": "csv",
        "entries": 3,
        "filter": {"action": "batch.upload", "outcome": "ok"},
    }
    assert export.entries == 3 and export.filename.startswith(f"audit-{linked.agreement}-")
    rows = list(csv.DictReader(io.StringIO("".join(export.chunks))))
    assert [r["actor"] for r in rows] == ["north", "south", "east"]  # oldest first
    assert list(rows[0]) == [
        "seq",
        "at",
        "actor",
        "key_id",
        "role",
        "action",
        "purpose",
        "outcome",
        "details",
        "prev_hash",
        "hash",
    ]
    batches = {a: b["batch_id"] for a, b in linked.batches.items()}
    assert [json.loads(r["details"])["batch"] for r in rows] == [
        batches["north"],
        batches["south"],
        batches["east"],
    ]
    everything = audit_csv(engine, steward, linked.agreement)
    all_rows = list(csv.DictReader(io.StringIO("".join(everything.chunks))))
    own = last_entry(service, linked.agreement)["seq"]
    assert [int(r["seq"]) for r in all_rows] == list(range(1, own))  # up to its own entry
    assert everything.entries == len(all_rows)


def test_verifying_from_the_console_is_the_apis_verification_recorded(service, linked):
    steward = who(service, "north-steward")
    check = verify_audit(service.state.engine, steward, linked.agreement)
    assert check.ok and check.entries >= 5
    entry = last_entry(service, linked.agreement)
    assert (entry["action"], entry["details"]["ok"]) == ("audit.verify", True)
    page = audit_log(service.state.engine, steward, linked.agreement, limit=1)
    assert page.last_verification is not None
    assert (page.last_verification.via, page.last_verification.ok) == ("console", True)
    with pytest.raises(ServiceError) as refused:
        verify_audit(service.state.engine, who(service, "north-tracer"), linked.agreement)
    assert refused.value.status == 403


# -- retention ----------------------------------------------------------------------------
def test_retention_timers_count_down_from_each_batchs_arrival(service, linked):
    engine = service.state.engine
    received = {a: datetime.fromisoformat(b["received_at"]) for a, b in linked.batches.items()}
    now = received["north"] + timedelta(hours=1)
    view = retention_timers(engine, who(service, "south-steward"), linked.agreement, now)
    assert view.retention_days == 30
    assert [t.agency for t in view.batches] == ["north", "south", "east"]  # soonest first
    for t in view.batches:
        assert t.expires_at == received[t.agency] + timedelta(days=30)
        assert t.days_left == 30 and not t.overdue and t.status == "linked"
        assert t.batch_id == linked.batches[t.agency]["batch_id"]
    assert [t.records for t in view.batches] == [4, 4, 2]
    entry = last_entry(service, linked.agreement)
    assert (entry["action"], entry["details"]) == ("retention.read", {"batches": 3})

    late = retention_timers(
        engine, who(service, "south-submitter"), linked.agreement, now + timedelta(days=30)
    )
    (mine,) = late.batches  # a submitter: its own agency's only
    assert (mine.agency, mine.days_left, mine.overdue) == ("south", 0, True)
    with pytest.raises(ServiceError) as refused:
        retention_timers(engine, who(service, "north-tracer"), linked.agreement, now)
    assert refused.value.status == 403


# -- withdrawals --------------------------------------------------------------------------
def test_withdrawal_receipts_as_the_api_returned_them(
    service, person_schema, secret, people, tmp_path
):
    agreement = new_agreement(service, person_schema, ["south", "east"])
    upload(service, agreement, "south", people, person_schema, secret, tmp_path)
    upload(service, agreement, "east", people.iloc[:2], person_schema, secret, tmp_path)
    path = f"/v1/agreements/{agreement}/withdrawals"
    receipts = [
        service.client.call(
            service.keys["south-submitter"],
            "POST",
            path,
            json={"record_ref": "p1", "reason": "consent"},
        ).json(),
        service.client.call(
            service.keys["north-steward"],
            "POST",
            path,
            json={"record_ref": "p2", "reason": "erasure", "agency": "east"},
        ).json(),
        service.client.call(
            service.keys["south-submitter"],
            "POST",
            path,
            json={"record_ref": "p3", "reason": "correction"},
        ).json(),
    ]
    engine = service.state.engine
    page = withdrawal_receipts(engine, who(service, "east-steward"), agreement)
    assert [r.receipt_id for r in page.items] == [x["receipt_id"] for x in reversed(receipts)]
    for row, api in zip(page.items, reversed(receipts), strict=True):
        shown = {k: v for k, v in api.items() if k not in ("record_ref", "withdrawn_at")}
        assert {k: getattr(row, k) for k in shown} == shown
        when = datetime.fromisoformat(api["withdrawn_at"])
        assert abs(row.withdrawn_at - when) < timedelta(seconds=2)
        assert not hasattr(row, "record_ref")
    assert page.items[1].withdrawn_by == "north" and page.items[1].agency == "east"
    assert last_entry(service, agreement)["details"] == {"receipts": 3}

    first = withdrawal_receipts(engine, who(service, "north-steward"), agreement, limit=2)
    assert len(first.items) == 2 and first.older == first.items[-1].seq
    rest = withdrawal_receipts(
        engine, who(service, "north-steward"), agreement, before=first.older, limit=2
    )
    assert [r.receipt_id for r in rest.items] == [receipts[0]["receipt_id"]] and rest.older is None

    own = withdrawal_receipts(engine, who(service, "south-submitter"), agreement)
    assert [r.agency for r in own.items] == ["south", "south"] and own.agency == "south"
    east = withdrawal_receipts(engine, who(service, "north-steward"), agreement, agency="east")
    assert [r.receipt_id for r in east.items] == [receipts[1]["receipt_id"]]
    with pytest.raises(ServiceError) as refused:
        withdrawal_receipts(engine, who(service, "south-submitter"), agreement, agency="east")
    assert refused.value.status == 403
    entry = last_entry(service, agreement)
    assert (entry["action"], entry["outcome"]) == ("withdrawal.list", "forbidden")
    with pytest.raises(ServiceError) as bad:
        withdrawal_receipts(engine, who(service, "north-steward"), agreement, limit=501)
    assert bad.value.status == 422 and list(bad.value.problems) == ["limit: from 1 to 500"]


# -- linkage quality ----------------------------------------------------------------------
def test_linkage_quality_counts_what_the_registry_holds(service, linked):
    engine = service.state.engine
    quality = linkage_quality(engine, who(service, "north-evaluator"), linked.agreement)
    _, agencies, cases = Registry(
        engine, scope=linked.agreement, create_tables=False
    ).record_cases()
    held: dict[str, set[str]] = {}
    for agency, case in zip(agencies, cases, strict=True):
        held.setdefault(case, set()).add(agency)
    assert dict(quality.records_by_agency) == {"east": 2, "north": 4, "south": 4}
    assert quality.cases == len(held)
    assert [(p.a, p.b) for p in quality.pairs] == [
        ("east", "north"),
        ("east", "south"),
        ("north", "south"),
    ]
    for p in quality.pairs:
        assert p.shared_cases == sum(p.a in s and p.b in s for s in held.values())
    assert dict(((p.a, p.b), p.shared_cases) for p in quality.pairs)[("north", "south")] >= 3
    assert sum(b.records for b in quality.histogram) == 10
    assert [(b.low, b.high) for b in quality.histogram][:2] == [(0.0, 0.1), (0.1, 0.2)]
    summary = service.client.call(
        service.keys["north-steward"], "GET", f"/v1/agreements/{linked.agreement}/summary"
    ).json()
    assert [b.records for b in quality.histogram] == [
        b["records"] for b in summary["confidence_histogram"]
    ]
    assert summary["cases_across_agencies"] == quality.cases_across_agencies
    entry = last_entry(service, linked.agreement)
    assert (entry["action"], entry["purpose"]) == ("summary.read", "evaluation")
    with pytest.raises(ServiceError) as refused:
        linkage_quality(engine, who(service, "south-submitter"), linked.agreement)
    assert refused.value.status == 403


def test_linkage_quality_needs_the_evaluation_purpose_listed(service, person_schema):
    agreement = new_agreement(service, person_schema, ["south"], purposes=("linkage",))
    with pytest.raises(ServiceError) as refused:
        linkage_quality(service.state.engine, who(service, "north-steward"), agreement)
    assert refused.value.status == 403 and "evaluation" in refused.value.detail
    e = audit_entries.c
    with service.state.engine.connect() as conn:
        outcome = conn.execute(
            sa.select(e.outcome).where(e.scope == agreement).order_by(e.seq.desc()).limit(1)
        ).scalar()
    assert outcome == "forbidden"


# -- the public page, previewed -----------------------------------------------------------
def test_a_steward_previews_the_public_page_before_publishing_it(service, linked):
    engine, now = service.state.engine, datetime.now(UTC)
    preview = transparency_preview(engine, who(service, "east-steward"), linked.agreement, now)
    assert preview.published is False and preview.parties == ("east", "north", "south")
    entry = last_entry(service, linked.agreement)
    assert (entry["action"], entry["actor"], entry["purpose"]) == (
        "transparency.preview",
        "east",
        "oversight",
    )
    for key, status in (("south-submitter", 403), ("admin", 404)):
        with pytest.raises(ServiceError) as refused:
            transparency_preview(engine, who(service, key), linked.agreement, now)
        assert refused.value.status == status
