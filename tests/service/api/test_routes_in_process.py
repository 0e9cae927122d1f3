"""The routes in process: the real app and its real parts (SQLite, the data keys, the audit
chain, the index store, the run executor on the session's Ray), answered over httpx's ASGI
transport instead of a server on a port.

This is the fast tier of the service's tests: the roles, the 404s an outsider gets, the
conflicts, the audit entries and the repositories behind each route (tests/service and the
other ``service_*`` folders keep real ``caselink serve`` processes for whole flows). The
app's parts come from :func:`service.api.state.start_services`, as its lifespan makes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service._admin import bootstrap_agency
from service._settings import Settings
from service._tables import api_keys
from service.api.app import create_app
from service.api.state import start_services

SEGMENTS = [{"name": "name", "bits": 512}, {"name": "birth", "bits": 512}]


class InProcess:
    """The app answered in this process; ``call(key, method, path, ...)`` -> response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def call(self, key: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
                return await c.request(method, path, headers=headers, **kwargs)

        return asyncio.run(go())


@pytest.fixture(scope="module")
def app(ray_session, tmp_path_factory) -> Iterator[tuple[InProcess, Any, dict[str, str]]]:
    """The app on a fresh SQLite database, an admin key and, issued by it over the routes,
    a steward of agency ``north``; the service's parts stopped afterwards."""
    work: Path = tmp_path_factory.mktemp("routes")
    settings = Settings(
        database_url=f"sqlite:///{work / 'caselink.db'}",
        state_dir=work / "state",
        data_key_file=work / "keys" / "data-keys",
        ray_num_cpus=1,
        retention_sweep_seconds=3600,
    )
    (work / "keys").mkdir()
    state = start_services(settings)
    application = create_app(settings, cipher=state.cipher)
    application.state.service = state
    client = InProcess(application)
    keys = {"admin": bootstrap_agency(state.engine, "operators", "admin").api_key}
    try:
        for agency in ("north", "south", "east"):
            assert client.call(keys["admin"], "POST", "/v1/agencies", json={"name": agency})
            r = client.call(
                keys["admin"], "POST", f"/v1/agencies/{agency}/keys", json={"role": "steward"}
            )
            assert r.status_code == 201, r.text
            keys[f"{agency}-steward"] = r.json()["api_key"]
        yield client, state, keys
    finally:
        state.stop()


def _agreement(client: InProcess, key: str, parties: list[str], **extra: Any) -> httpx.Response:
    body = {
        "name": "tracing families",
        "parties": parties,
        "purposes": ["linkage", "tracing", "evaluation"],
        "schema_fingerprint": "blake3:" + "a" * 64,
        "filter_bits": 1024,
        "segments": SEGMENTS,
        "retention_days": 30,
        **extra,
    }
    return client.call(key, "POST", "/v1/agreements", json=body)


def test_me_and_health(app):
    client, _, keys = app
    assert client.call(None, "GET", "/healthz").json() == {"status": "ok"}
    me = client.call(keys["north-steward"], "GET", "/v1/me").json()
    assert (me["agency"], me["role"]) == ("north", "steward")
    assert client.call("clk_not-a-key", "GET", "/v1/me").status_code == 401
    assert client.call(keys["admin"], "GET", "/metrics").status_code == 200
    assert client.call(keys["north-steward"], "GET", "/metrics").status_code == 403


def test_agencies_need_an_admin_and_a_name_once(app):
    client, _, keys = app
    again = client.call(keys["admin"], "POST", "/v1/agencies", json={"name": "north"})
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    names = [a["name"] for a in client.call(keys["north-steward"], "GET", "/v1/agencies").json()]
    assert names == ["east", "north", "operators", "south"]
    refused = client.call(keys["north-steward"], "POST", "/v1/agencies", json={"name": "west"})
    assert refused.status_code == 403
    audit = client.call(keys["admin"], "GET", "/v1/audit").json()["items"]
    last = [e for e in audit if e["action"] == "agency.create"][-1]  # in the service's chain
    assert (last["actor"], last["outcome"], last["details"]["status"]) == (
        "north",
        "forbidden",
        403,
    )


def test_keys_within_reach_rotate_and_revoke(app):
    client, state, keys = app
    steward = keys["north-steward"]
    tracer = client.call(steward, "POST", "/v1/agencies/north/keys", json={"role": "tracer"})
    assert tracer.status_code == 201
    assert (
        client.call(steward, "POST", "/v1/agencies/north/keys", json={"role": "admin"}).status_code
        == 403
    )
    assert (
        client.call(steward, "POST", "/v1/agencies/south/keys", json={"role": "tracer"}).status_code
        == 403
    )
    listed = client.call(steward, "GET", "/v1/keys").json()
    assert {k["agency"] for k in listed} == {"north"} and "admin" not in {k["role"] for k in listed}
    assert tracer.json()["key_id"] in {k["key_id"] for k in listed}
    everyone = client.call(keys["admin"], "GET", "/v1/keys").json()
    assert {k["agency"] for k in everyone} == {"operators", "north", "south", "east"}
    # a tracer rotates itself only; the old key stops working at once
    old = tracer.json()["api_key"]
    rotated = client.call(old, "POST", f"/v1/keys/{tracer.json()['key_id']}/rotate")
    assert rotated.status_code == 201 and client.call(old, "GET", "/v1/me").status_code == 401
    new = rotated.json()
    assert client.call(new["api_key"], "GET", "/v1/me").json()["role"] == "tracer"
    # another agency's steward cannot even learn the key exists; its own steward revokes it
    south = keys["south-steward"]
    assert client.call(south, "DELETE", f"/v1/keys/{new['key_id']}").status_code == 404
    revoked = client.call(steward, "DELETE", f"/v1/keys/{new['key_id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.call(steward, "DELETE", f"/v1/keys/{new['key_id']}").status_code == 409
    with state.engine.connect() as conn:  # the key's hash is what the database holds
        hashes = conn.execute(sa.select(api_keys.c.key_hash)).scalars().all()
    assert new["api_key"] not in hashes


def test_an_agreement_is_seen_by_its_parties_only(app):
    client, _, keys = app
    made = _agreement(client, keys["north-steward"], ["south"])
    assert made.status_code == 201, made.text
    agreement = made.json()
    assert agreement["parties"] == ["north", "south"] and agreement["created_by"] == "north"
    assert agreement["segments"] == SEGMENTS and agreement["linkage"]["threshold"] == "auto"
    path = f"/v1/agreements/{agreement['agreement_id']}"
    assert client.call(keys["south-steward"], "GET", path).json() == agreement
    outsider = client.call(keys["east-steward"], "GET", path)
    assert outsider.status_code == 404  # as for an agreement that does not exist
    assert client.call(keys["east-steward"], "GET", "/v1/agreements").json() == []
    assert client.call(keys["admin"], "GET", path).status_code == 404  # the operator reads none
    unknown = _agreement(client, keys["north-steward"], ["nowhere"])
    assert unknown.status_code == 422
    assert unknown.json()["problems"] == ["parties: no agency nowhere; create it first"]


def test_runs_batches_summary_and_audit_of_a_new_agreement(app):
    client, _, keys = app
    steward = keys["north-steward"]
    agreement = _agreement(client, steward, ["south"]).json()["agreement_id"]
    base = f"/v1/agreements/{agreement}"
    purpose = {"X-Caselink-Purpose": "linkage"}
    assert client.call(steward, "GET", f"{base}/runs", headers=purpose).json() == []
    missing = client.call(steward, "GET", f"{base}/runs/run_0000000000000000", headers=purpose)
    assert missing.status_code == 404
    assert client.call(steward, "GET", f"{base}/runs/not-a-run", headers=purpose).status_code == 404
    submitter = client.call(steward, "POST", "/v1/agencies/north/keys", json={"role": "submitter"})
    sub = submitter.json()["api_key"]
    assert client.call(sub, "GET", f"{base}/batches", headers=purpose).json() == []
    summary = client.call(steward, "GET", f"{base}/summary").json()
    assert summary["pending_records"] == 0 and summary["runs_succeeded"] == 0
    assert summary["cases"] == 0 and summary["last_run_finished_at"] is None
    page = client.call(steward, "GET", f"{base}/audit?limit=2").json()
    assert [e["action"] for e in page["items"]][:1] == ["agreement.create"]
    assert page["next_after"] == page["items"][-1]["seq"]
    rest = client.call(steward, "GET", f"{base}/audit?after={page['next_after']}").json()
    actions = [e["action"] for e in page["items"] + rest["items"]]
    # a run that is not there is not audited as read (its 404 comes first)
    assert actions == ["agreement.create", "run.list", "batch.list", "summary.read", "audit.read"]
    check = client.call(steward, "GET", f"{base}/audit/verify").json()
    assert check["ok"] and check["entries"] >= len(actions)
