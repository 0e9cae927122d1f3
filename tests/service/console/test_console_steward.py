"""The steward's pages in process (:mod:`service.console.pages_steward`): agreements created,
amended and published from forms, keys issued, rotated and revoked — each through the API's
own route functions, audited as the API call is, refused as the API refuses.

The world here is small and has no linkage run: agencies ``agency-a`` and ``agency-b`` share
one agreement (``agency-b`` holds a batch in it), ``agency-c`` has an agreement of its own,
and ``watchdog`` is an agency that oversees.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import bloom
from service._admin import bootstrap_agency
from service._settings import Settings
from service.api.app import create_app
from service.api.state import ServiceState, start_services
from tests.service.console.inprocess import Visitor, call
from tests.service.servers import PLANTED, agreement_body

AGENCIES = ("agency-a", "agency-b", "agency-c", "watchdog")
_KEY = re.compile(r"clk_[A-Za-z0-9_\-]+")


@dataclass
class StewardWorld:
    app: Any
    state: ServiceState
    agreement_id: str  # agency-a and agency-b's
    other_id: str  # agency-c's own
    keys: dict[str, str]  # "<agency>/<role>" -> key; "admin"
    work: Path

    def visitor(self, key: str | None = None, **headers: str) -> Visitor:
        v = Visitor(self.app, headers=headers)
        if key is not None:
            assert v.sign_in(self.keys[key]).status_code == 303
        return v

    def call(self, key: str, method: str, path: str, **kwargs: Any):
        return call(self.app, method, path, self.keys[key], **kwargs)

    def audit(self, agreement_id: str | None = None) -> list[dict]:
        """The agreement's chain as its steward reads it through the API."""
        scope = agreement_id or self.agreement_id
        r = self.call("agency-a/steward", "GET", f"/v1/agreements/{scope}/audit?limit=1000")
        assert r.status_code == 200, r.text
        return r.json()["items"]

    def agreement(self, agreement_id: str | None = None) -> dict:
        r = self.call(
            "agency-a/steward", "GET", f"/v1/agreements/{agreement_id or self.agreement_id}"
        )
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def world(ray_session, tmp_path_factory, person_schema, secret) -> Iterator[StewardWorld]:
    work = tmp_path_factory.mktemp("steward")
    (work / "keys").mkdir()
    settings = Settings(
        database_url=f"sqlite:///{work / 'caselink.db'}",
        state_dir=work / "state",
        data_key_file=work / "keys" / "data-keys",
        ray_num_cpus=1,
        retention_sweep_seconds=3600,
        console_sign_ins_per_minute=10_000,
    )
    state = start_services(settings)
    try:
        app = create_app(settings, cipher=state.cipher)
        app.state.service = state
        keys = {"admin": bootstrap_agency(state.engine, "operators", "admin").api_key}
        for agency in AGENCIES:
            r = call(app, "POST", "/v1/agencies", keys["admin"], json={"name": agency})
            assert r.status_code == 201, r.text
            for role in ("steward", "submitter", "auditor"):
                r = call(
                    app, "POST", f"/v1/agencies/{agency}/keys", keys["admin"], json={"role": role}
                )
                assert r.status_code == 201, r.text
                keys[f"{agency}/{role}"] = r.json()["api_key"]
        body = agreement_body(person_schema, ["agency-a", "agency-b"], name="families")
        r = call(app, "POST", "/v1/agreements", keys["agency-a/steward"], json=body)
        assert r.status_code == 201, r.text
        agreement_id = r.json()["agreement_id"]
        body = agreement_body(person_schema, ["agency-c"], name="c-only-register")
        r = call(app, "POST", "/v1/agreements", keys["agency-c/steward"], json=body)
        assert r.status_code == 201, r.text
        other_id = r.json()["agreement_id"]
        # agency-b holds records in the shared agreement: it cannot leave it (409)
        path = work / "b.parquet"
        df = PLANTED.assign(record_ref=[f"B-{j}" for j in range(len(PLANTED))])
        bloom.encode(df, person_schema, secret, agency="agency-b", id_column="record_ref").write(
            path
        )
        r = call(
            app,
            "POST",
            f"/v1/agreements/{agreement_id}/batches",
            keys["agency-b/submitter"],
            content=path.read_bytes(),
            headers={"Content-Type": "application/vnd.apache.parquet"},
        )
        assert r.status_code == 201, r.text
        yield StewardWorld(app, state, agreement_id, other_id, keys, work)
    finally:
        state.stop()


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _page(world: StewardWorld) -> str:
    return f"/console/steward/agreements/{world.agreement_id}"


def _amend(v: Visitor, world: StewardWorld, **fields: str):
    return v.form(f"{_page(world)}/amend", _page(world), **fields)


# -- who may ----------------------------------------------------------------------------------
def test_a_steward_lands_on_its_agreements_and_sees_only_its_agencys(world):
    v = world.visitor()
    signed = v.sign_in(world.keys["agency-a/steward"])
    assert signed.headers["location"] == "/console/steward/agreements"
    page = v.get("/console/steward/agreements")
    assert page.status_code == 200
    assert "families" in page.text and "c-only-register" not in page.text
    assert 'href="/console/steward/keys"' in page.text
    # another agency's agreement: the API's 404, as if it did not exist
    other = v.get(f"/console/steward/agreements/{world.other_id}")
    assert other.status_code == 404 and "c-only-register" not in other.text
    keys = v.get("/console/steward/keys")
    assert keys.status_code == 200
    mine = world.call("agency-a/steward", "GET", "/v1/keys").json()
    theirs = world.call("agency-c/steward", "GET", "/v1/keys").json()
    assert all(k["key_id"] in keys.text for k in mine)
    assert not any(k["key_id"] in keys.text for k in theirs)
    assert "agency-c" not in _text(keys.text)


@pytest.mark.parametrize("role", ["submitter", "auditor"])
def test_a_key_of_another_role_is_refused_every_steward_page(world, role):
    v = world.visitor(f"agency-a/{role}")
    home = v.get("/console/agency" if role == "submitter" else "/console/me")
    assert "/console/steward/" not in home.text  # no link to what it may not open
    for path in ("/console/steward/agreements", "/console/steward/agreements/new", _page(world)):
        assert v.get(path).status_code == 403, path
    assert v.get("/console/steward/keys").status_code == 403
    before = world.agreement()
    # a form sent anyway (with the session's own token) is refused by the API itself
    token = v.token(v.get("/console/me"))
    sent = v.post(
        f"{_page(world)}/amend", {"csrf_token": token, "change": "retention", "retention_days": "7"}
    )
    assert sent.status_code in (403, 404)
    assert world.agreement()["retention_days"] == before["retention_days"]
    issued = v.post(
        "/console/steward/keys", {"csrf_token": token, "agency": "agency-a", "role": "steward"}
    )
    assert issued.status_code == 403 and not _KEY.search(issued.text)


def test_a_form_without_the_sessions_token_changes_nothing(world):
    v = world.visitor("agency-a/steward")
    changing = ("agreement.amend", "agreement.publish", "agreement.unpublish")

    def changes() -> int:
        return len([e for e in world.audit() if e["action"] in changing])

    before, entries = world.agreement(), changes()
    for token in ("", "not-the-token"):
        sent = v.post(
            f"{_page(world)}/amend",
            {"csrf_token": token, "change": "retention", "retention_days": "3"},
        )
        assert sent.status_code == 403
        sent = v.post(f"{_page(world)}/publication", {"csrf_token": token, "published": "yes"})
        assert sent.status_code == 403
        sent = v.post(
            "/console/steward/keys",
            {"csrf_token": token, "agency": "agency-a", "role": "submitter"},
        )
        assert sent.status_code == 403 and not _KEY.search(sent.text)
    assert world.agreement() == before
    assert changes() == entries


# -- agreements -------------------------------------------------------------------------------
def test_a_steward_creates_an_agreement_from_the_form(world, person_schema):
    v = world.visitor("agency-a/steward")
    form = v.get("/console/steward/agreements/new")
    assert form.status_code == 200
    # the parties offered are the agencies the API lists; the steward's own is a party anyway
    for agency in ("agency-b", "agency-c", "watchdog"):
        assert f'name="parties" value="{agency}"' in form.text
    assert 'name="parties" value="agency-a"' not in form.text
    sent = v.post(
        "/console/steward/agreements/new",
        {
            "csrf_token": v.token(form),
            "name": "school records",
            "parties": "agency-b",
            "auditors": "watchdog",
            "purposes": "tracing, evaluation",
            "schema_name": "person",
            "retention_days": "90",
            "key_check": "",
        },
    )
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert location.startswith("/console/steward/agreements/agr_") and location.endswith(
        "?done=created"
    )
    agreement_id = location.split("/")[-1].split("?")[0]
    page = v.get(location)
    assert page.status_code == 200
    assert "The agreement is created." in page.text
    made = world.agreement(agreement_id)
    assert made["parties"] == ["agency-a", "agency-b"] and made["auditors"] == ["watchdog"]
    assert made["purposes"] == ["tracing", "evaluation"] and made["retention_days"] == 90
    assert made["schema_fingerprint"] == person_schema.fingerprint
    assert made["segments"] == [{"name": n, "bits": b} for n, b in person_schema.layout]
    created = [e for e in world.audit(agreement_id) if e["action"] == "agreement.create"]
    assert len(created) == 1 and created[0]["details"]["auditors"] == ["watchdog"]


def test_a_refused_agreement_form_comes_back_translated_with_its_problems(world):
    v = world.visitor("agency-a/steward", **{"Accept-Language": "fr"})
    count = len(world.call("agency-a/steward", "GET", "/v1/agreements").json())
    form = v.get("/console/steward/agreements/new")
    fields = {
        "csrf_token": v.token(form),
        "name": "bad",
        "purposes": "tracing",
        "schema_name": "person",
        "retention_days": "0",
    }
    sent = v.post("/console/steward/agreements/new", fields)
    assert sent.status_code == 422
    assert "Non valide" in sent.text
    assert "retention_days" in sent.text
    assert 'value="bad"' in sent.text  # the form as typed
    sent = v.post("/console/steward/agreements/new", {**fields, "schema_name": "nonsense"})
    assert sent.status_code == 422 and "schema_name" in sent.text
    # an agency the API does not know: its own 422 and problems
    fields |= {"retention_days": "30", "auditors": "nobody-here"}
    sent = v.post("/console/steward/agreements/new", fields)
    assert sent.status_code == 422
    assert "auditors: no agency nobody-here" in sent.text
    assert len(world.call("agency-a/steward", "GET", "/v1/agreements").json()) == count


def test_each_amendment_form_changes_the_agreement_and_is_audited(world):
    v = world.visitor("agency-a/steward")
    page = v.get(_page(world))
    assert page.status_code == 200
    for change in ("add_party", "remove_party", "add_auditor", "purposes", "retention"):
        assert f'name="change" value="{change}"' in page.text
    steps = [
        ({"change": "add_party", "agency": "agency-c"}, "parties"),
        ({"change": "add_auditor", "agency": "watchdog"}, "auditors"),
        (
            {"change": "purposes", "purposes": "linkage tracing evaluation oversight-review"},
            "purposes",
        ),
        ({"change": "retention", "retention_days": "120"}, "retention_days"),
        ({"change": "remove_party", "agency": "agency-c"}, "parties"),
        ({"change": "remove_auditor", "agency": "watchdog"}, "auditors"),
    ]
    for fields, changed in steps:
        sent = _amend(v, world, **fields)
        assert sent.status_code == 303, (fields, sent.text)
        assert sent.headers["location"] == f"{_page(world)}?done=amended"
        entry = [e for e in world.audit() if e["action"] == "agreement.amend"][-1]
        assert entry["outcome"] == "ok" and entry["role"] == "steward"
        assert set(entry["details"]["after"]) == {changed}, entry
    made = world.agreement()
    assert made["parties"] == ["agency-a", "agency-b"] and made["auditors"] == []
    assert made["purposes"] == ["linkage", "tracing", "evaluation", "oversight-review"]
    assert made["retention_days"] == 120
    shown = v.get(f"{_page(world)}?done=amended")
    assert "oversight-review" in shown.text and "120" in _text(shown.text)


def test_an_amendment_the_api_refuses_is_shown_on_the_page_and_audited(world):
    v = world.visitor("agency-a/steward", **{"Accept-Language": "ar"})
    before = world.agreement()
    own = _amend(v, world, change="remove_party", agency="agency-a")
    assert own.status_code == 422
    assert 'dir="rtl"' in own.text and "غير صالح" in own.text
    assert "remove_parties: agency-a is your own agency" in own.text
    holding = _amend(v, world, change="remove_party", agency="agency-b")
    assert holding.status_code == 409
    assert "remove_parties: agency-b holds 3 stored record(s)" in holding.text
    empty = _amend(v, world, change="purposes", purposes=" , ")
    assert empty.status_code == 422 and "purposes" in empty.text
    assert world.agreement() == before
    refused = [
        e for e in world.audit() if e["action"] == "agreement.amend" and e["outcome"] != "ok"
    ]
    assert [e["outcome"] for e in refused[-2:]] == ["invalid_request", "conflict"]


def test_the_steward_publishes_and_unpublishes_the_transparency_page(world):
    v = world.visitor("agency-a/steward")
    public = f"/v1/public/agreements/{world.agreement_id}/transparency"
    assert call(world.app, "GET", public).status_code == 404
    assert "not published" in _text(v.get(_page(world)).text)
    sent = v.form(f"{_page(world)}/publication", _page(world), published="yes")
    assert sent.status_code == 303 and sent.headers["location"].endswith("?done=published")
    page = v.get(sent.headers["location"])
    assert public in page.text and "Unpublish the transparency page" in page.text
    console_page = f'href="/console/public/agreements/{world.agreement_id}"'
    assert console_page in page.text  # the page people read, beside the JSON's address
    assert call(world.app, "GET", public).status_code == 200
    sent = v.form(f"{_page(world)}/publication", _page(world), published="no")
    assert sent.status_code == 303
    assert call(world.app, "GET", public).status_code == 404
    actions = [e["action"] for e in world.audit()]
    assert "agreement.publish" in actions and "agreement.unpublish" in actions
    # another party's steward may; another agency's steward gets the API's 404
    c = world.visitor("agency-c/steward")
    refused = c.form(f"{_page(world)}/publication", "/console/steward/agreements", published="yes")
    assert refused.status_code == 404
    assert call(world.app, "GET", public).status_code == 404


# -- keys -------------------------------------------------------------------------------------
def _database_text(world: StewardWorld) -> str:
    with world.state.engine.connect() as conn:
        raw = conn.connection.driver_connection
        return "\n".join(raw.iterdump())


def test_a_new_key_is_shown_once_and_never_again(world, caplog):
    v = world.visitor("agency-a/steward")
    page = v.get("/console/steward/keys")
    assert page.status_code == 200
    # a steward is offered its own agency and the roles the API lets it issue
    assert re.findall(
        r'<option value="([^"]*)"', page.text.split('id="issue-role"')[1].split("</select>")[0]
    ) == [
        "",
        "steward",
        "submitter",
        "tracer",
        "evaluator",
        "auditor",
    ]
    assert 'value="agency-b"' not in page.text
    sent = v.post(
        "/console/steward/keys",
        {"csrf_token": v.token(page), "agency": "agency-a", "role": "auditor"},
    )
    assert sent.status_code == 201
    assert sent.headers["cache-control"] == "no-store"
    (key,) = set(_KEY.findall(sent.text))
    assert "Copy this key now." in sent.text
    me = call(world.app, "GET", "/v1/me", key).json()
    assert me["agency"] == "agency-a" and me["role"] == "auditor"
    # never again: not on a later page, not in the database, not in a log
    for later in ("/console/steward/keys", "/console/me", "/console/steward/agreements"):
        assert key not in v.get(later).text
    assert key not in _database_text(world)
    assert key not in caplog.text
    # rotated: the new key shown once, the old one stops at once
    page = v.get("/console/steward/keys")
    rotated = v.post(f"/console/steward/keys/{me['key_id']}/rotate", {"csrf_token": v.token(page)})
    assert rotated.status_code == 201 and rotated.headers["cache-control"] == "no-store"
    (new,) = set(_KEY.findall(rotated.text))
    assert new != key and me["key_id"] in rotated.text
    assert call(world.app, "GET", "/v1/me", key).status_code == 401
    new_id = call(world.app, "GET", "/v1/me", new).json()["key_id"]
    assert new not in v.get("/console/steward/keys").text
    # revoked
    revoked = v.form(f"/console/steward/keys/{new_id}/revoke", "/console/steward/keys")
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("?done=revoked")
    assert call(world.app, "GET", "/v1/me", new).status_code == 401
    listed = v.get(revoked.headers["location"])
    assert "The key is revoked" in listed.text and new_id in listed.text
    # twice: the API's 409, on the page
    again = v.form(f"/console/steward/keys/{new_id}/revoke", "/console/steward/keys")
    assert again.status_code == 409 and "revoked already" in again.text
    actions = [
        e["action"] for e in world.call("admin", "GET", "/v1/audit?limit=1000").json()["items"]
    ]
    assert {"key.create", "key.rotate", "key.revoke"} <= set(actions)


def test_a_steward_cannot_reach_another_agencys_keys(world):
    v = world.visitor("agency-a/steward")
    page = v.get("/console/steward/keys")
    token = v.token(page)
    # issuing to another agency, or an admin key: the API's own refusal
    other = v.post(
        "/console/steward/keys", {"csrf_token": token, "agency": "agency-c", "role": "submitter"}
    )
    assert other.status_code == 403 and not _KEY.search(other.text)
    admin = v.post(
        "/console/steward/keys", {"csrf_token": token, "agency": "agency-a", "role": "admin"}
    )
    assert admin.status_code == 403 and not _KEY.search(admin.text)
    theirs = world.call("agency-c/steward", "GET", "/v1/keys").json()[0]["key_id"]
    rotate = v.post(f"/console/steward/keys/{theirs}/rotate", {"csrf_token": token})
    assert rotate.status_code == 404 and not _KEY.search(rotate.text)
    revoke = v.post(f"/console/steward/keys/{theirs}/revoke", {"csrf_token": token})
    assert revoke.status_code == 404
    assert call(world.app, "GET", "/v1/me", world.keys["agency-c/steward"]).status_code == 200


def test_an_admin_is_offered_every_agency_and_role(world):
    v = world.visitor("admin")
    page = v.get("/console/steward/keys")
    assert page.status_code == 200
    for agency in (*AGENCIES, "operators"):
        assert f'<option value="{agency}"' in page.text
    assert '<option value="admin">' in page.text
    sent = v.post(
        "/console/steward/keys",
        {"csrf_token": v.token(page), "agency": "watchdog", "role": "tracer"},
    )
    assert sent.status_code == 201
    (key,) = set(_KEY.findall(sent.text))
    assert call(world.app, "GET", "/v1/me", key).json()["agency"] == "watchdog"
    # an admin reads no agreement: the agreements pages are not its
    assert v.get("/console/steward/agreements").status_code == 403
