"""The oversight pages in process (:mod:`tests.service.console.inprocess`): the audit log
filtered, paged, verified and exported as CSV by a steward of a party and by an auditor named
on the agreement; retention timers, withdrawal receipts and linkage quality for the roles the
views admit; the auditor's home holding only the agreements it oversees; and a submitter
refused the audit. Every answer is what the API decides, audited as the API audits it."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.service.console.inprocess import AGENCIES, OUTSIDER, World
from tests.service.console.oversight_world import History


@pytest.fixture(scope="module")
def world(oversight) -> World:
    return oversight[0]


@pytest.fixture(scope="module")
def history(oversight) -> History:
    """An auditor key of the outsider, named on the agreement; a second agreement it is not
    named on; months of past entries planted in the chain."""
    return oversight[1]


def _rows(html: str) -> list[list[str]]:
    """The cells of the audit table's body rows, tags dropped."""
    body = html.split('<table class="audit">', 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    ]


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def _actions(world: World, action: str) -> list[dict]:
    return [e for e in world.audit() if e["action"] == action]


def test_a_steward_filters_and_pages_through_the_audit_log(world, history):
    v = world.visitor("agency-a/steward")
    base = f"/console/oversight/{world.agreement_id}/audit"
    first = v.get(base)
    assert first.status_code == 200, first.text
    rows = _rows(first.text)
    assert len(rows) == 50
    seqs = [int(r[0]) for r in rows]
    assert seqs == sorted(seqs, reverse=True)
    assert _link(first.text, "prev") is None  # the newest page
    older = _link(first.text, "next")
    assert older is not None
    second = v.get(older)
    seqs2 = [int(r[0]) for r in _rows(second.text)]
    assert seqs2 and max(seqs2) < min(seqs)
    back = v.get(_link(second.text, "prev"))
    assert [int(r[0]) for r in _rows(back.text)][-1] == min(seqs)

    uploads = v.get(f"{base}?action=batch.upload")
    assert {r[4] for r in _rows(uploads.text)} == {"batch.upload"}
    assert '<option value="batch.upload" selected>' in uploads.text
    refused = v.get(f"{base}?outcome=refused&agency=agency-a")
    found = _rows(refused.text)
    assert found and all(r[6] != "ok" and r[2] == "agency-a" for r in found)
    # the planted month only: from its first to its last day
    month = v.get(f"{base}?since={history.months[0]}-01&until={history.last_day[0]}")
    found = _rows(month.text)
    assert found and all(r[1] and r[4] in history.planted_actions for r in found)
    assert len(found) == 12 + 3 + 4 + 2 + 1  # every entry planted in that month, no other
    nothing = v.get(f"{base}?action=no.such.action")
    assert "No entry matches this filter." in nothing.text

    bad = v.get(f"{base}?since=yesterday")
    assert bad.status_code == 422 and "since: a date written YYYY-MM-DD" in bad.text
    assert "yesterday" not in bad.text.split("<main", 1)[1]  # the value is never echoed
    reads = [e for e in _actions(world, "audit.read") if e["actor"] == "agency-a"]
    assert {"action": "batch.upload"} in [e["details"].get("filter") for e in reads]


def test_verifying_the_chain_shows_the_result_and_is_recorded(world, history):
    v = world.visitor("agency-a/steward")
    page = f"/console/oversight/{world.agreement_id}/audit"
    path = f"{page}/verify"
    before = len(_actions(world, "audit.verify"))
    refused = v.post(path, {"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert len(_actions(world, "audit.verify")) == before
    done = v.form(path, page)
    assert done.status_code == 200, done.text
    assert 'id="verification-result"' in done.text and "The audit chain is whole" in done.text
    assert "Last verified" in done.text and "the chain was whole" in done.text
    entry = _actions(world, "audit.verify")[-1]
    assert entry["actor"] == "agency-a" and entry["details"]["ok"] is True
    assert "Last verified" in v.get(page).text


def test_the_csv_export_downloads_the_filtered_log_and_is_audited(world, history):
    v = world.visitor("agency-a/steward")
    page = f"/console/oversight/{world.agreement_id}/audit"
    r = v.form(f"{page}/export", page, action="record.withdraw")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f"audit-{world.agreement_id}-" in disposition
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {row["action"] for row in rows} == {"record.withdraw"}
    assert [int(x["seq"]) for x in rows] == sorted(int(x["seq"]) for x in rows)  # oldest first
    export = [e for e in _actions(world, "audit.read") if e["details"].get("format") == "csv"][-1]
    assert export["details"]["entries"] == len(rows)
    assert export["details"]["filter"] == {"action": "record.withdraw"}
    assert v.post(f"{page}/export", {"csrf_token": "x"}).status_code == 403


def test_an_auditor_sees_only_its_agreements_and_no_steward_page(world, history):
    v = world.visitor(history.auditor)
    home = v.get("/console")
    assert home.status_code == 303 and home.headers["location"] == "/console/oversight"
    listing = v.get("/console/oversight")
    assert world.agreement_id in listing.text and history.other_agreement not in listing.text
    overview = v.get(f"/console/oversight/{world.agreement_id}")
    assert overview.status_code == 200 and OUTSIDER in overview.text
    page = f"/console/oversight/{world.agreement_id}/audit"
    assert v.get(page).status_code == 200
    done = v.form(f"{page}/verify", page)
    assert done.status_code == 200 and "The audit chain is whole" in done.text
    assert _actions(world, "audit.verify")[-1]["actor"] == OUTSIDER
    for section in ("retention", "withdrawals", "quality"):
        r = v.get(f"/console/oversight/{world.agreement_id}/{section}")
        assert r.status_code == 403, section
    assert v.get(f"/console/agency/{world.agreement_id}/cases").status_code == 403
    other = history.other_agreement
    assert v.get(f"/console/oversight/{other}").status_code == 404
    assert v.get(f"/console/oversight/{other}/audit").status_code == 404
    links = re.findall(r'href="/console/oversight/[^"]+/([a-z]+)"', overview.text)
    assert links == ["audit"]


def test_a_submitter_reads_no_audit_but_its_own_retention_and_receipts(world, history):
    v = world.visitor("agency-b/submitter")
    page = f"/console/oversight/{world.agreement_id}/audit"
    assert v.get(page).status_code == 403
    token = v.token(v.get(f"/console/oversight/{world.agreement_id}"))
    assert v.post(f"{page}/verify", {"csrf_token": token}).status_code == 403
    assert v.post(f"{page}/export", {"csrf_token": token}).status_code == 403
    retention = v.get(f"/console/oversight/{world.agreement_id}/retention")
    assert retention.status_code == 200
    assert "agency-b" in retention.text and "<td>agency-a</td>" not in retention.text
    receipts = v.get(f"/console/oversight/{world.agreement_id}/withdrawals")
    assert receipts.status_code == 200
    assert "<td>agency-a</td>" not in receipts.text
    assert v.get(f"/console/oversight/{world.agreement_id}/quality").status_code == 403


def test_a_steward_reads_retention_receipts_and_linkage_quality(world, history):
    v = world.visitor("agency-a/steward")
    base = f"/console/oversight/{world.agreement_id}"
    retention = v.get(f"{base}/retention")
    assert retention.status_code == 200
    assert all(f"<td>{a}</td>" in retention.text for a in AGENCIES)
    receipts = v.get(f"{base}/withdrawals")
    assert receipts.status_code == 200 and history.receipt_id in receipts.text
    for record_ref in world.refs["agency-a"] + world.refs["agency-b"]:
        assert record_ref not in receipts.text
    quality = v.get(f"{base}/quality")
    assert quality.status_code == 200
    for chart in ("chart-confidence", "chart-pairs"):
        svg = re.search(rf'<svg [^>]*id="{chart}"[^>]*>', quality.text)
        assert svg and 'role="img"' in svg.group(0)
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in svg.group(0)
    assert "agency-a – agency-b" in quality.text  # the pair, in the chart's table
    assert quality.text.count('<table class="chart-table">') == 2
    arabic = world.visitor("agency-a/evaluator", **{"Accept-Language": "ar"})
    mirrored = arabic.get(f"{base}/quality")
    assert mirrored.status_code == 200 and 'data-direction="rtl"' in mirrored.text
    kinds = [e["action"] for e in world.audit()[-12:]]
    assert "summary.read" in kinds and "retention.read" in kinds and "withdrawal.list" in kinds
