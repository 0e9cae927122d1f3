"""Consent scopes on a real server (SQLite and PostgreSQL): every combination of a record's
consent (nothing said, no scope, covering, not covering), the call (a tracing query, a case
read) and the purpose (mapped to a scope by the agreement, or not).

The ``consent`` agreement of the ``households`` world: ``tracing`` and ``coordination`` need
the scope of their name, ``research`` and ``linkage`` (a case read's default) none. A
``Q*`` person is held by agency-b alone, with the consent its name says; an ``S*`` person by
agency-a too, whose batch says nothing of consent.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.cli import caselink
from tests.service import loopback
from tests.service.households.conftest import CONSENT_PEOPLE, SCOPES, person, ref_of

ONLY_B = ["QN", "QE", "QT", "QC", "QB"]
SHARED = ["SN", "SE", "ST", "SC"]
QUERY_PURPOSES = ["tracing", "coordination", "research"]
READ_PURPOSES = ["tracing", "coordination", "research", None]  # None: the default, linkage


def covers(consent: str | None, purpose: str | None) -> bool:
    """What the agreement promises: a record serves the purpose when the purpose needs no
    scope, the record's batch said nothing of consent, or its consent holds the scope."""
    scope = SCOPES.get(purpose or "linkage")
    return scope is None or consent is None or scope in consent.split()


def _query(households, name: str, purpose: str) -> dict:
    df = person(name).assign(record_ref=f"Q-{name}")
    body = households.encode(df, "agency-c", f"q-{name}").read_bytes()
    r = households.query(households.consent_id, body, purpose)
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    return result


def _cases(households, agency: str, purpose: str | None, fmt: str = "json") -> dict[str, list]:
    """agency's record ref -> the other agencies its case read names."""
    headers = {"Authorization": f"Bearer {households.keys[agency]}"}
    if purpose is not None:
        headers["X-Caselink-Purpose"] = purpose
    url = f"{households.server.url}/v1/agreements/{households.consent_id}/cases"
    r = loopback.get(url, headers=headers, params={"format": fmt, "limit": 10000}, timeout=60)
    assert r.status_code == 200, r.text
    if fmt == "csv":
        rows = csv.DictReader(io.StringIO(r.text))
        return {x["record_ref"]: [a for a in x["other_agencies"].split(";") if a] for x in rows}
    return {x["record_ref"]: x["other_agencies"] for x in r.json()["items"]}


def test_the_agreement_says_which_scope_each_purpose_needs(households):
    with households.client("agency-a") as c:
        shown = c.agreement(households.consent_id)
        listed = {a["agreement_id"]: a for a in c.list_agreements()}
    assert shown["purpose_scopes"] == SCOPES
    assert listed[households.consent_id]["purpose_scopes"] == SCOPES
    assert listed[households.families_id]["purpose_scopes"] == {}


def test_the_planted_people_are_linked_across_agencies(households):
    with households.client("agency-a") as c:
        cases_a = {r["record_ref"]: r["case_id"] for r in c.iter_cases(households.consent_id)}
    for name in SHARED:
        assert cases_a[ref_of(name, "agency-a")] == households.cases[ref_of(name, "agency-b")]


@pytest.mark.parametrize("purpose", QUERY_PURPOSES)
@pytest.mark.parametrize("name", ONLY_B)
def test_a_query_finds_a_person_only_through_records_whose_consent_covers_its_purpose(
    households, name, purpose
):
    case = households.cases[ref_of(name, "agency-b")]
    result = _query(households, name, purpose)
    found = [c["case_id"] for c in result["candidates"]]
    if covers(CONSENT_PEOPLE[name], purpose):
        best = result["candidates"][0]
        assert best["case_id"] == case and best["confidence"] >= 0.9
        assert best["agencies"] == ["agency-b"]
    else:
        assert case not in found


@pytest.mark.parametrize("purpose", QUERY_PURPOSES)
@pytest.mark.parametrize("name", SHARED)
def test_a_query_names_only_the_agencies_whose_record_consent_covers_its_purpose(
    households, name, purpose
):
    best = _query(households, name, purpose)["candidates"][0]
    assert best["case_id"] == households.cases[ref_of(name, "agency-b")]
    expected = ["agency-a", "agency-b"] if covers(CONSENT_PEOPLE[name], purpose) else ["agency-a"]
    assert best["agencies"] == expected


@pytest.mark.parametrize("purpose", READ_PURPOSES)
def test_a_case_read_names_another_agency_only_where_its_record_consent_covers_the_purpose(
    households, purpose
):
    json_read = _cases(households, "agency-a", purpose)
    csv_read = _cases(households, "agency-a", purpose, "csv")
    for name in SHARED:
        ref = ref_of(name, "agency-a")
        expected = ["agency-b"] if covers(CONSENT_PEOPLE[name], purpose) else []
        assert json_read[ref] == expected, (name, purpose)
        assert csv_read[ref] == expected, (name, purpose)


@pytest.mark.parametrize("purpose", READ_PURPOSES)
def test_a_case_read_of_the_agency_whose_consent_it_is_shows_its_own_records(households, purpose):
    """Consent bounds what others learn of a record; its own agency reads it whatever it says;
    agency-a's records say nothing of consent, so agency-b always sees them named."""
    read = _cases(households, "agency-b", purpose)
    for name in SHARED:
        assert read[ref_of(name, "agency-b")] == ["agency-a"]
    for name in ONLY_B:
        assert read[ref_of(name, "agency-b")] == []


@pytest.mark.parametrize("purpose", ["tracing", "research"])
def test_the_command_line_reads_cases_for_a_purpose(households, purpose, tmp_path):
    key = tmp_path / "a.key"
    key.write_text(households.keys["agency-a"], encoding="utf-8")
    r = caselink(
        "cases",
        "--agreement",
        households.consent_id,
        "--purpose",
        purpose,
        "--limit",
        "10000",
        "--json",
        "--url",
        households.server.url,
        "--api-key-file",
        str(key),
    )
    assert r.returncode == 0, r.stderr
    read = {x["record_ref"]: x["other_agencies"] for x in json.loads(r.stdout)["items"]}
    for name in SHARED:
        expected = ["agency-b"] if covers(CONSENT_PEOPLE[name], purpose) else []
        assert read[ref_of(name, "agency-a")] == expected
