"""The ``auditor`` role in process: a steward of a party names agencies as an agreement's
auditors, at creation or by ``PATCH`` (audited before and after); their ``auditor`` keys read
the agreement and its audit, verify and checkpoint it, and are refused everything else (403,
audited in the agreement's chain); an auditor key of an agency not named, and every other key
of a named agency, get the 404 of an outsider.

The full route-by-role matrix against a real server is tests/service/e2e/test_access.py.
"""

from __future__ import annotations

import pytest

from tests.service.api.test_routes_in_process import (
    SEGMENTS,
    app,  # noqa: F401  (the module's app)
)

WATCHDOG = "watchdog"  # an oversight body: no party to anything


@pytest.fixture(scope="module")
def world(app):  # noqa: F811
    """The app and its keys, plus: the watchdog agency with an auditor and a steward key (the
    admin's), an auditor key of north issued by north's steward, a submitter key of south."""
    client, state, keys = app
    admin = keys["admin"]
    assert client.call(admin, "POST", "/v1/agencies", json={"name": WATCHDOG}).status_code == 201
    for role in ("auditor", "steward"):
        r = client.call(admin, "POST", f"/v1/agencies/{WATCHDOG}/keys", json={"role": role})
        assert r.status_code == 201, r.text
        keys[f"{WATCHDOG}-{role}"] = r.json()["api_key"]
    r = client.call(
        keys["north-steward"], "POST", "/v1/agencies/north/keys", json={"role": "auditor"}
    )
    assert r.status_code == 201 and r.json()["role"] == "auditor", r.text
    keys["north-auditor"] = r.json()["api_key"]
    r = client.call(
        keys["south-steward"], "POST", "/v1/agencies/south/keys", json={"role": "submitter"}
    )
    keys["south-submitter"] = r.json()["api_key"]
    return client, state, keys


def _create(world, parties: list[str], auditors: list[str] | None = None):
    client, _, keys = world
    body = {
        "name": "overseen",
        "parties": parties,
        "purposes": ["linkage", "tracing", "evaluation"],
        "schema_fingerprint": "blake3:" + "b" * 64,
        "filter_bits": 1024,
        "segments": SEGMENTS,
        "retention_days": 30,
    }
    if auditors is not None:
        body["auditors"] = auditors
    return client.call(keys["north-steward"], "POST", "/v1/agreements", json=body)


def _call(world, key: str, method: str, path: str, **kwargs):
    client, _, keys = world
    return client.call(keys[key], method, path, **kwargs)


def _chain(world, agreement: str) -> list[dict]:
    page = _call(world, "north-steward", "GET", f"/v1/agreements/{agreement}/audit").json()
    return page["items"]


# Every agreement call an auditor is refused, with a body that is valid where one is needed.
REFUSED = [
    ("GET", "/cases", {}),
    ("GET", "/summary", {}),
    ("GET", "/batches", {}),
    ("GET", "/runs", {}),
    ("POST", "/runs", {}),
    ("GET", "/runs/run_0123456789abcdef", {}),
    ("POST", "/withdrawals", {"json": {"record_ref": "r-1", "reason": "erasure"}}),
    ("POST", "/queries", {"content": b"PAR1", "headers": {"X-Caselink-Purpose": "tracing"}}),
    ("POST", "/batches", {"content": b"PAR1"}),
    ("PATCH", "", {"json": {"retention_days": 9}}),
]


def test_a_steward_issues_auditor_keys_to_its_own_agency_only(world):
    issued = _call(
        world, "north-steward", "POST", "/v1/agencies/east/keys", json={"role": "auditor"}
    )
    assert issued.status_code == 403 and "own agency" in issued.json()["detail"]
    me = _call(world, "north-auditor", "GET", "/v1/me").json()
    assert (me["agency"], me["role"]) == ("north", "auditor")
    listed = _call(world, "north-steward", "GET", "/v1/keys").json()
    assert "auditor" in {k["role"] for k in listed}
    # an auditor key manages no key, and reads neither agencies nor the service's audit
    for method, path in (("GET", "/v1/keys"), ("GET", "/v1/agencies"), ("GET", "/v1/audit")):
        assert _call(world, f"{WATCHDOG}-auditor", method, path).status_code == 403, path


def test_named_at_creation_an_auditor_reads_the_agreement_and_its_audit_only(world):
    made = _create(world, ["south"], auditors=[WATCHDOG])
    assert made.status_code == 201, made.text
    assert (made.json()["auditors"], made.json()["access"]) == ([WATCHDOG], "party")
    agreement = made.json()["agreement_id"]
    path = f"/v1/agreements/{agreement}"

    shown = _call(world, f"{WATCHDOG}-auditor", "GET", path)
    assert shown.status_code == 200, shown.text
    assert shown.json()["access"] == "auditor"
    assert {k: v for k, v in shown.json().items() if k != "access"} == {
        k: v for k, v in made.json().items() if k != "access"
    }
    page = _call(world, f"{WATCHDOG}-auditor", "GET", f"{path}/audit")
    assert page.status_code == 200
    assert page.json()["items"][0]["action"] == "agreement.create"
    assert page.json()["items"][0]["details"]["auditors"] == [WATCHDOG]
    check = _call(world, f"{WATCHDOG}-auditor", "GET", f"{path}/audit/verify")
    assert check.status_code == 200 and check.json()["ok"] is True
    signed = _call(world, f"{WATCHDOG}-auditor", "GET", f"{path}/audit/checkpoint")
    assert signed.status_code == 200 and signed.json()["scope"] == agreement

    for method, suffix, kwargs in REFUSED:  # in the agreement: 403, never its data
        r = _call(world, f"{WATCHDOG}-auditor", method, f"{path}{suffix}", **kwargs)
        assert r.status_code == 403, (method, suffix, r.text)
        assert "yours has role auditor" in r.json()["detail"]

    entries = [e for e in _chain(world, agreement) if e["actor"] == WATCHDOG]
    assert {e["role"] for e in entries} == {"auditor"}
    assert [(e["action"], e["purpose"], e["outcome"]) for e in entries[:4]] == [
        ("agreement.read", "oversight", "ok"),
        ("audit.read", "oversight", "ok"),
        ("audit.verify", "oversight", "ok"),
        ("audit.checkpoint", "oversight", "ok"),
    ]
    assert [e["outcome"] for e in entries[4:]] == ["forbidden"] * len(REFUSED)


def test_only_a_named_agencys_auditor_keys_see_it(world):
    agreement = _create(world, ["south"], auditors=[WATCHDOG]).json()["agreement_id"]
    missing = "agr_0123456789abcdef"
    for key in ("watchdog-steward", "north-auditor", "east-steward"):
        # the named agency's steward; a party's auditor key, its agency not named; an outsider
        for suffix in ("", "/audit", "/audit/verify"):
            real = _call(world, key, "GET", f"/v1/agreements/{agreement}{suffix}")
            fake = _call(world, key, "GET", f"/v1/agreements/{missing}{suffix}")
            assert real.status_code == fake.status_code == 404, (key, suffix, real.text)
            assert real.text.replace(agreement, "ID") == fake.text.replace(missing, "ID")
    assert agreement not in _listed(world, "watchdog-steward")
    assert agreement not in _listed(world, "north-auditor")
    assert agreement in _listed(world, "north-steward")


def _listed(world, key: str) -> dict[str, str]:
    r = _call(world, key, "GET", "/v1/agreements")
    assert r.status_code == 200, r.text
    return {a["agreement_id"]: a["access"] for a in r.json()}


def test_an_auditor_lists_the_agreements_it_is_named_on_marked_as_such(world):
    named = _create(world, ["south"], auditors=[WATCHDOG]).json()["agreement_id"]
    not_named = _create(world, ["south"]).json()["agreement_id"]
    listed = _listed(world, f"{WATCHDOG}-auditor")
    assert listed[named] == "auditor" and not_named not in listed
    assert set(listed.values()) == {"auditor"}
    assert _listed(world, "south-steward")[named] == "party"
    (entry,) = [
        e
        for e in _chain(world, named)
        if e["action"] == "agreement.list" and e["actor"] == WATCHDOG
    ]
    assert (entry["role"], entry["purpose"]) == ("auditor", "oversight")


def test_naming_auditors_at_creation_needs_agencies_here_each_once(world):
    bad = _create(world, ["south", "nowhere"], auditors=["elsewhere", WATCHDOG])
    assert bad.status_code == 422
    assert bad.json()["problems"] == [
        "parties: no agency nowhere; create it first",
        "auditors: no agency elsewhere; create it first",
    ]
    twice = _create(world, ["south"], auditors=[WATCHDOG, WATCHDOG])
    assert twice.status_code == 422 and twice.json()["problems"][0].startswith("auditors: ")


def test_a_steward_of_a_party_names_and_unnames_auditors_audited(world):
    agreement = _create(world, ["south"]).json()["agreement_id"]
    path = f"/v1/agreements/{agreement}"
    assert _call(world, f"{WATCHDOG}-auditor", "GET", path).status_code == 404

    named = _call(world, "south-steward", "PATCH", path, json={"add_auditors": [WATCHDOG]})
    assert named.status_code == 200, named.text
    assert named.json()["auditors"] == [WATCHDOG]
    page = _call(world, f"{WATCHDOG}-auditor", "GET", f"{path}/audit")
    assert page.status_code == 200  # the whole chain, from before it was named too
    assert [e["action"] for e in page.json()["items"]][:2] == [
        "agreement.create",
        "agreement.amend",
    ]

    unnamed = _call(world, "north-steward", "PATCH", path, json={"remove_auditors": [WATCHDOG]})
    assert unnamed.status_code == 200 and unnamed.json()["auditors"] == []
    assert _call(world, f"{WATCHDOG}-auditor", "GET", f"{path}/audit").status_code == 404

    amendments = [e for e in _chain(world, agreement) if e["action"] == "agreement.amend"]
    assert [(e["actor"], e["role"], e["outcome"]) for e in amendments] == [
        ("south", "steward", "ok"),
        ("north", "steward", "ok"),
    ]
    assert [e["details"] for e in amendments] == [
        {"before": {"auditors": []}, "after": {"auditors": [WATCHDOG]}},
        {"before": {"auditors": [WATCHDOG]}, "after": {"auditors": []}},
    ]


def test_every_problem_with_auditors_is_named_and_the_refusal_audited(world):
    agreement = _create(world, ["south"], auditors=[WATCHDOG]).json()["agreement_id"]
    path = f"/v1/agreements/{agreement}"
    body = {"add_auditors": ["nowhere", WATCHDOG], "remove_auditors": ["east"]}
    r = _call(world, "north-steward", "PATCH", path, json=body)
    assert r.status_code == 422
    assert r.json()["problems"] == [
        "add_auditors: no agency nowhere; create it first",
        f"add_auditors: {WATCHDOG} is an auditor already",
        "remove_auditors: east is not an auditor",
    ]
    both = _call(
        world,
        "north-steward",
        "PATCH",
        path,
        json={"add_auditors": ["east"], "remove_auditors": ["east"]},
    )
    assert both.status_code == 422 and "auditors added and removed at once: east" in both.text
    for key in ("south-submitter", f"{WATCHDOG}-auditor"):  # a steward's only: 403
        refused = _call(world, key, "PATCH", path, json={"remove_auditors": [WATCHDOG]})
        assert refused.status_code == 403, key
    assert _call(world, "north-steward", "GET", path).json()["auditors"] == [WATCHDOG]
    (entry,) = [
        e
        for e in _chain(world, agreement)
        if e["action"] == "agreement.amend" and e["outcome"] == "invalid_request"
    ]
    assert entry["details"] == {"asked": body, "status": 422}
