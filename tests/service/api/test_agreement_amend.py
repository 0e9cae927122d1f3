"""``PATCH /v1/agreements/{id}`` in process: a steward of a party amends parties, purposes and
retention; each amendment and each refusal is in the agreement's audit chain; a party that
holds records cannot leave; a shorter retention period purges at the next sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import bloom
from service._admin import OPERATOR
from service._retention import sweep
from tests.service.api.test_routes_in_process import app  # noqa: F401  (the module's app)

PARQUET = {"Content-Type": "application/vnd.apache.parquet"}


@pytest.fixture(scope="module")
def world(app, person_schema):  # noqa: F811
    """The app, its keys, and a submitter key of south issued by south's steward."""
    client, state, keys = app
    r = client.call(
        keys["south-steward"], "POST", "/v1/agencies/south/keys", json={"role": "submitter"}
    )
    assert r.status_code == 201, r.text
    return client, state, {**keys, "south-submitter": r.json()["api_key"]}


def _agreement(world, schema: bloom.Schema, parties: list[str]) -> str:
    client, _, keys = world
    body = {
        "name": "amended",
        "parties": parties,
        "purposes": ["linkage", "tracing"],
        "schema_fingerprint": schema.fingerprint,
        "filter_bits": schema.filter_bits,
        "segments": [{"name": n, "bits": b} for n, b in schema.layout],
        "retention_days": 30,
    }
    made = client.call(keys["north-steward"], "POST", "/v1/agreements", json=body)
    assert made.status_code == 201, made.text
    return made.json()["agreement_id"]


def _upload(world, agreement: str, people, schema, secret, where: Path) -> None:
    client, _, keys = world
    path = bloom.encode(people, schema, secret, agency="south", id_column="ref").write(
        where / "south.parquet"
    )
    r = client.call(
        keys["south-submitter"],
        "POST",
        f"/v1/agreements/{agreement}/batches",
        content=path.read_bytes(),
        headers=PARQUET,
    )
    assert r.status_code == 201, r.text


def _amend(world, key: str, agreement: str, **body):
    client, _, keys = world
    return client.call(keys[key], "PATCH", f"/v1/agreements/{agreement}", json=body)


def _audit(world, agreement: str, action: str) -> list[dict]:
    client, _, keys = world
    page = client.call(keys["north-steward"], "GET", f"/v1/agreements/{agreement}/audit").json()
    return [e for e in page["items"] if e["action"] == action]


def test_a_steward_of_any_party_amends_purposes_and_retention_audited(world, person_schema):
    agreement = _agreement(world, person_schema, ["south"])
    r = _amend(
        world, "south-steward", agreement, purposes=["linkage", "oversight"], retention_days=7
    )
    assert r.status_code == 200, r.text
    assert r.json()["purposes"] == ["linkage", "oversight"] and r.json()["retention_days"] == 7
    client, _, keys = world
    shown = client.call(keys["north-steward"], "GET", f"/v1/agreements/{agreement}").json()
    assert shown == r.json()
    (entry,) = _audit(world, agreement, "agreement.amend")
    assert (entry["actor"], entry["role"], entry["outcome"]) == ("south", "steward", "ok")
    assert entry["details"] == {
        "before": {"purposes": ["linkage", "tracing"], "retention_days": 30},
        "after": {"purposes": ["linkage", "oversight"], "retention_days": 7},
    }
    # tracing is no longer allowed: a tracing call is refused from now on
    traced = client.call(
        keys["north-steward"],
        "GET",
        f"/v1/agreements/{agreement}/runs",
        headers={"X-Caselink-Purpose": "tracing"},
    )
    assert traced.status_code == 403 and "tracing" in traced.json()["detail"]


def test_a_party_joins_and_leaves_only_once_it_holds_no_record(
    world, person_schema, secret, people, tmp_path
):
    client, _, keys = world
    agreement = _agreement(world, person_schema, ["south"])
    path = f"/v1/agreements/{agreement}"
    assert client.call(keys["east-steward"], "GET", path).status_code == 404
    joined = _amend(world, "north-steward", agreement, add_parties=["east"])
    assert joined.status_code == 200 and joined.json()["parties"] == ["east", "north", "south"]
    assert (
        client.call(keys["east-steward"], "GET", path).json()["parties"] == joined.json()["parties"]
    )

    _upload(world, agreement, people, person_schema, secret, tmp_path)
    held = _amend(world, "east-steward", agreement, remove_parties=["south"])
    assert held.status_code == 409, held.text
    assert held.json()["problems"] == [
        "remove_parties: south holds 4 stored record(s) in this agreement; withdraw them "
        "(caselink withdraw --refs-file) or let retention purge them, then remove it"
    ]
    assert client.call(keys["south-steward"], "GET", path).status_code == 200  # still a party
    for ref in people["ref"]:
        body = {"record_ref": ref, "reason": "erasure"}
        w = client.call(keys["south-submitter"], "POST", f"{path}/withdrawals", json=body)
        assert w.status_code == 201, w.text
    left = _amend(world, "east-steward", agreement, remove_parties=["south"])
    assert left.status_code == 200 and left.json()["parties"] == ["east", "north"]
    assert client.call(keys["south-steward"], "GET", path).status_code == 404  # an outsider now

    entries = _audit(world, agreement, "agreement.amend")
    assert [(e["actor"], e["outcome"]) for e in entries] == [
        ("north", "ok"),
        ("east", "conflict"),
        ("east", "ok"),
    ]
    assert entries[0]["details"] == {
        "before": {"parties": ["north", "south"]},
        "after": {"parties": ["east", "north", "south"]},
    }
    assert entries[1]["details"] == {"asked": {"remove_parties": ["south"]}, "status": 409}


def test_every_problem_of_an_amendment_is_named_at_once(world, person_schema):
    agreement = _agreement(world, person_schema, ["south"])
    r = _amend(
        world,
        "north-steward",
        agreement,
        add_parties=["nowhere", "south"],
        remove_parties=["east", "north"],
    )
    assert r.status_code == 422
    assert r.json()["problems"] == [
        "add_parties: no agency nowhere; create it first",
        "add_parties: south is a party already",
        "remove_parties: east is not a party",
        "remove_parties: north is your own agency; a steward of another party may remove it",
    ]
    for body, field in (
        ({}, "request"),
        ({"add_parties": ["east"], "remove_parties": ["east"]}, "request"),
        ({"retention_days": 0}, "retention_days"),
        ({"purposes": []}, "purposes"),
        ({"purposes": ["tracing", "tracing"]}, "purposes"),
        ({"purposes": ["Not A Purpose"]}, "purposes.0"),
        ({"name": "renamed"}, "name"),  # only parties, purposes and retention are amended
    ):
        bad = _amend(world, "north-steward", agreement, **body)
        assert bad.status_code == 422, (body, bad.text)
        assert bad.json()["problems"][0].startswith(f"{field}: "), (body, bad.json())
    client, _, keys = world
    unchanged = client.call(keys["north-steward"], "GET", f"/v1/agreements/{agreement}").json()
    assert unchanged["parties"] == ["north", "south"] and unchanged["retention_days"] == 30


def test_only_a_steward_of_a_party_amends(world, person_schema):
    agreement = _agreement(world, person_schema, ["south"])
    assert _amend(world, "south-submitter", agreement, retention_days=9).status_code == 403
    assert _amend(world, "east-steward", agreement, retention_days=9).status_code == 404
    assert _amend(world, "admin", agreement, retention_days=9).status_code == 404
    client, _, keys = world
    shown = client.call(keys["north-steward"], "GET", f"/v1/agreements/{agreement}").json()
    assert shown["retention_days"] == 30


def test_a_shorter_retention_period_purges_at_the_next_sweep(
    world, person_schema, secret, people, tmp_path
):
    _, state, _ = world
    agreement = _agreement(world, person_schema, ["south"])
    _upload(world, agreement, people, person_schema, secret, tmp_path)
    later = datetime.now(UTC) + timedelta(days=3)
    assert agreement not in sweep(state.engine, later, actor=OPERATOR).agreements  # 30 days
    assert _amend(world, "north-steward", agreement, retention_days=2).status_code == 200
    purged = sweep(state.engine, later, actor=OPERATOR)
    assert [
        (p.agreement_id, p.agency, p.records) for p in purged.purged if p.agreement_id == agreement
    ] == [(agreement, "south", 4)]
