"""Every endpoint refuses a missing, wrong or revoked key (401) and a key with the wrong role
(403); every agreement endpoint answers an agency outside the agreement 404, exactly as it
answers for an agreement that does not exist, so that outsiders cannot learn it exists. An
admin key is in no agreement endpoint's roles: it reads no agreement data.

An ``auditor`` key is in the agreements its agency is named on as auditor (the world's names
agency ``oversight``), and in no other: there it reads the agreement and its audit, verifies
and checkpoints it, and is refused the rest with 403 like any party key of a wrong role;
everywhere else — an agreement it is not named on, even one its agency is a party to — it is
an outsider (404). Being named gives the agency's other keys nothing (404).

The endpoint list comes from the app's OpenAPI document; a new endpoint without a line in
``ROLES`` fails :func:`test_every_endpoint_is_listed_here`. Keys and agencies, role by role and
target by target, are in test_key_access.
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from service._settings import Settings
from service._tables import audit_entries
from service.api import create_app
from tests.service import loopback
from tests.service.servers import AGENCIES, OVERSIGHT, agreement_body, encode_file

ANY = ("steward", "submitter", "tracer", "evaluator", "auditor")  # every agency role
ALL = ("admin", *ANY)
RUNNERS = ("submitter", "steward")
OVERSEERS = ("steward", "auditor")  # an agreement's audit: a party's steward, its auditors
MANAGERS = ("admin", "steward")  # a steward: its own agency's keys only (test_key_access)
AGR = "/v1/agreements/{agreement_id}"
ROLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/v1/me"): ALL,
    ("POST", "/v1/agencies"): ("admin",),
    ("GET", "/v1/agencies"): MANAGERS,
    ("POST", "/v1/agencies/{name}/keys"): MANAGERS,
    ("GET", "/v1/keys"): MANAGERS,
    ("POST", "/v1/keys/{key_id}/rotate"): MANAGERS,  # any other key: itself only
    ("DELETE", "/v1/keys/{key_id}"): MANAGERS,
    ("POST", "/v1/agreements"): ("steward",),
    ("GET", "/v1/agreements"): ANY,
    ("GET", AGR): ANY,
    ("PATCH", AGR): ("steward",),
    ("POST", f"{AGR}/publication"): ("steward",),
    ("DELETE", f"{AGR}/publication"): ("steward",),
    ("POST", f"{AGR}/batches"): ("submitter",),
    ("GET", f"{AGR}/batches"): ("submitter",),
    ("POST", f"{AGR}/runs"): RUNNERS,
    ("GET", f"{AGR}/runs"): RUNNERS,
    ("GET", f"{AGR}/runs/{{run_id}}"): RUNNERS,
    ("GET", f"{AGR}/cases"): ("submitter",),
    ("GET", f"{AGR}/summary"): ("evaluator", "steward"),
    ("POST", f"{AGR}/withdrawals"): RUNNERS,
    ("PUT", f"{AGR}/records/consent"): ("submitter",),
    ("POST", f"{AGR}/queries"): ("tracer",),
    ("GET", f"{AGR}/reviews"): ("submitter",),
    ("POST", f"{AGR}/reviews/{{review_id}}/decision"): ("submitter",),
    ("GET", f"{AGR}/reviews/labels"): ("evaluator", "steward"),
    ("GET", f"{AGR}/audit"): OVERSEERS,
    ("GET", f"{AGR}/audit/verify"): OVERSEERS,
    ("GET", f"{AGR}/audit/checkpoint"): OVERSEERS,
    ("GET", "/v1/audit"): ("admin",),
    ("GET", "/v1/audit/verify"): ("admin",),
    ("GET", "/v1/audit/checkpoint"): ("admin",),
}
# no key: the health check, and an agreement's transparency page (404 unless published)
PUBLIC = {("GET", "/healthz"), ("GET", "/v1/public/agreements/{agreement_id}/transparency")}


def _openapi_endpoints(doc: dict) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}


ENDPOINTS = sorted(
    _openapi_endpoints(create_app(Settings(database_url="sqlite://")).openapi()) - PUBLIC
)
IDS = [f"{m} {p}" for m, p in ENDPOINTS]
RESTRICTED = [e for e in ENDPOINTS if set(ROLES.get(e, ALL)) != set(ALL)]
IN_AGREEMENT = [e for e in ENDPOINTS if e[1].startswith(AGR)]


def _call(
    world, endpoint, headers, agreement_id=None, run_id=None, timeout: float = 30
) -> httpx.Response:
    """One request to ``endpoint`` with a valid body, so that only the key decides."""
    method, path = endpoint
    url = path.format(
        agreement_id=agreement_id or world.agreement_id,
        run_id=run_id or world.first_run["run_id"],
        name="agency-c",
        key_id="key_0123456789abcdef",
        review_id="rev_0123456789abcdef",
    )
    kwargs: dict = {}
    if (method, path) == ("POST", "/v1/agencies"):
        kwargs["json"] = {"name": "probe-" + secrets.token_hex(4)}
    elif path.endswith("/keys") and method == "POST":
        kwargs["json"] = {"role": "submitter"}
    elif (method, path) == ("POST", "/v1/agreements"):
        kwargs["json"] = agreement_body(world.schema, ["agency-a"], name="probe")
    elif path.endswith(("/batches", "/queries")) and method == "POST":
        kwargs["content"] = world.probe_batch.read_bytes()
    elif path.endswith("/withdrawals"):
        kwargs["json"] = {"record_ref": "probe-none", "reason": "correction"}
    elif path.endswith("/records/consent"):  # a ref no one holds: nothing changes
        kwargs["json"] = {"record_refs": ["probe-none"], "scopes": ["tracing"]}
    elif path.endswith("/decision"):
        kwargs["json"] = {"decision": "unsure"}
    elif method == "PATCH":  # the world's own retention period: nothing changes
        kwargs["json"] = {"retention_days": 365}
    with loopback.client(base_url=world.service.url, timeout=timeout) as http:
        return http.request(method, url, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def probe(world, person_schema, secret):
    """The world, plus a small valid batch of agency-a to send where a body is needed; the
    key of every role in the agreement (``party_keys``: an admin key of the steward's agency
    too, and the auditor key of the agency named as auditor); keys that are not in it though
    near it (``unnamed_keys``); and a second agreement, ``other_id``, of agency-b, that names
    the outsider agency as its auditor."""
    df = world.held_back["agency-a"].head(2).assign(record_ref=["probe-1", "probe-2"])
    world.probe_batch = encode_file(
        df, person_schema, secret, "agency-a", world.workdir / "probe.parquet"
    )
    world.schema = person_schema
    with world.service.admin() as admin:
        party_admin = admin.create_key(world.service.steward_agency, "admin")["api_key"]
        world.unnamed_keys = {
            "the named agency's steward": admin.create_key(OVERSIGHT, "steward")["api_key"],
            "the named agency's submitter": admin.create_key(OVERSIGHT, "submitter")["api_key"],
            "a party's auditor, not named": admin.create_key("agency-a", "auditor")["api_key"],
            "an auditor named on another": world.outsider_keys["auditor"],
        }
    world.party_keys = {**world.role_keys, "admin": party_admin}
    with world.service.client() as steward:
        other = steward.create_agreement(
            **agreement_body(person_schema, ["agency-b"], name="other", auditors=["outsider"])
        )
    world.other_id = other["agreement_id"]
    return world


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_every_endpoint_is_listed_here(service):
    live = _openapi_endpoints(loopback.get(f"{service.url}/openapi.json").json())
    assert live == set(ROLES) | PUBLIC
    assert set(ENDPOINTS) == set(ROLES)


def test_no_agreement_endpoint_admits_an_admin():
    on_agreements = [e for e in ROLES if e[1].startswith("/v1/agreements")]
    assert len(on_agreements) == len(IN_AGREEMENT) + 2
    assert not [e for e in on_agreements if "admin" in ROLES[e]]


def test_healthz_needs_no_key(service):
    assert loopback.get(f"{service.url}/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("kind", ["missing", "not bearer", "wrong", "revoked"])
def test_refuses_without_a_valid_key(probe, endpoint, kind):
    headers = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {probe.keys['agency-a']}"},
        "wrong": _bearer("clk_0123456789abcdef_" + secrets.token_urlsafe(32)),
        "revoked": _bearer(probe.revoked_key),
    }[kind]
    r = _call(probe, endpoint, headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("endpoint", RESTRICTED, ids=[f"{m} {p}" for m, p in RESTRICTED])
def test_refuses_a_party_key_with_the_wrong_role(probe, endpoint):
    wrong = [r for r in ALL if r not in ROLES[endpoint]]
    for role in wrong:
        r = _call(probe, endpoint, _bearer(probe.party_keys[role]))
        assert r.status_code == 403, (role, r.text)
        body = r.json()
        assert body["error"] == "forbidden"
        assert role in body["detail"] and ROLES[endpoint][0] in body["detail"]


HUNG: dict[str, str] = {}  # backend -> the call the server did not answer


def _outsider_call(world, endpoint, key, **kwargs) -> httpx.Response:
    kind = world.service.db.kind
    if kind in HUNG:
        pytest.fail(f"not tried: the server did not answer an outsider's {HUNG[kind]}")
    try:
        return _call(world, endpoint, _bearer(key), timeout=15, **kwargs)
    except httpx.ReadTimeout:
        HUNG[kind] = " ".join(endpoint)
        pytest.fail(f"the server did not answer an outsider's {HUNG[kind]} within 15 s")


@pytest.mark.parametrize("endpoint", IN_AGREEMENT, ids=[f"{m} {p}" for m, p in IN_AGREEMENT])
def test_outsiders_get_404_as_for_an_agreement_that_does_not_exist(probe, endpoint):
    db = probe.service.db
    scope = audit_entries.c.scope == probe.agreement_id
    before = db.count(audit_entries, scope)
    missing = "agr_" + secrets.token_hex(8)
    outsiders = {**probe.outsider_keys, **probe.unnamed_keys, "admin": probe.service.admin_key}
    for role, key in outsiders.items():  # the right role or not: always 404
        real = _outsider_call(probe, endpoint, key)
        assert real.status_code == 404, (role, real.text)
        fake = _outsider_call(probe, endpoint, key, agreement_id=missing)
        assert fake.status_code == 404, (role, fake.text)
        assert real.json()["error"] == "not_found"
        assert real.text.replace(probe.agreement_id, "ID") == fake.text.replace(missing, "ID")
        assert dict(real.headers).keys() == dict(fake.headers).keys()
    assert db.count(audit_entries, scope) == before  # the agreement's chain shows no probing


def _listed(world, key: str) -> dict[str, str]:
    """The agreements ``key`` lists, and how it reaches each (``access``)."""
    with world.service.client(key) as c:
        return {a["agreement_id"]: a["access"] for a in c.list_agreements()}


def test_outsiders_do_not_see_the_agreement_listed(probe):
    for role, key in probe.outsider_keys.items():
        expected = {probe.other_id: "auditor"} if role == "auditor" else {}
        assert _listed(probe, key) == expected, role
    for who, key in probe.unnamed_keys.items():
        assert probe.agreement_id not in _listed(probe, key), who
    for agency in AGENCIES:
        assert _listed(probe, probe.keys[agency])[probe.agreement_id] == "party"
    assert _listed(probe, probe.party_keys["auditor"]) == {probe.agreement_id: "auditor"}


AUDITED = [e for e in ENDPOINTS if "auditor" in ROLES[e] and e[1].startswith(AGR)]


@pytest.mark.parametrize("endpoint", AUDITED, ids=[f"{m} {p}" for m, p in AUDITED])
def test_an_auditor_reads_what_it_is_named_on_audited_as_an_auditor(probe, endpoint):
    """The named auditor's reads answer, each in the agreement's chain under role auditor
    and purpose oversight; the same key on another agreement is an outsider (404)."""
    db = probe.service.db
    key = _bearer(probe.party_keys["auditor"])
    r = _call(probe, endpoint, key)
    assert r.status_code == 200, r.text
    with db.engine.connect() as conn:
        last = conn.execute(
            audit_entries.select()
            .where(audit_entries.c.scope == probe.agreement_id)
            .order_by(audit_entries.c.seq.desc())
            .limit(1)
        ).one()
    assert (last.actor, last.role, last.purpose, last.outcome) == (
        OVERSIGHT,
        "auditor",
        "oversight",
        "ok",
    )
    assert _call(probe, endpoint, key, agreement_id=probe.other_id).status_code == 404
    named_there = _bearer(probe.outsider_keys["auditor"])  # the other agreement's auditor
    assert _call(probe, endpoint, named_there, agreement_id=probe.other_id).status_code == 200
