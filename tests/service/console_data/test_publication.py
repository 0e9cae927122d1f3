"""Publishing an agreement's transparency page, in process: off until a steward of a party
publishes it (audited), readable by anyone without a key once published (not audited, cached
by HTTP), 404 again once unpublished; the figures of complete months with small cells
suppressed; the newest verification of the chain — through the API or the CLI — with its
result; and the OpenAPI document of the three routes, as the docs test asks of every route."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from service._audit import Actor, Pending, append_many
from service._keys import ROLES
from service._tables import agreements, audit_entries
from service._transparency import month_window
from service.api.openapi import PARAMETERS
from tests.cli import caselink
from tests.service.console_data.conftest import make_app, new_agreement

WHO = re.compile(r"`(" + "|".join(ROLES) + r")`|[Aa]ny (valid )?key|[Nn]eeds no key")


def _public(service, agreement: str, **headers: str):
    path = f"/v1/public/agreements/{agreement}/transparency"
    return service.client.call(None, "GET", path, headers=headers)


def _publication(service, key: str, agreement: str, method: str = "POST"):
    path = f"/v1/agreements/{agreement}/publication"
    return service.client.call(service.keys[key], method, path)


def _entries(service, agreement: str, action: str | None = None) -> list[tuple]:
    e = audit_entries.c
    query = sa.select(e.action, e.actor, e.role, e.outcome, e.details).where(e.scope == agreement)
    if action is not None:
        query = query.where(e.action == action)
    with service.state.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query.order_by(e.seq)).all()]


def test_the_page_is_off_until_a_steward_of_a_party_publishes_it(service, person_schema):
    agreement = new_agreement(service, person_schema, ["south"])
    hidden = _public(service, agreement)
    assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"
    unknown = _public(service, "agr_" + "0" * 16)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == hidden.json()["detail"].replace(agreement, "agr_" + "0" * 16)
    assert _public(service, "not-an-agreement").status_code == 404

    assert _publication(service, "south-submitter", agreement).status_code == 403
    assert _publication(service, "east-steward", agreement).status_code == 404  # not a party
    assert _publication(service, "admin", agreement).status_code == 404
    assert _public(service, agreement).status_code == 404

    published = _publication(service, "south-steward", agreement)
    assert published.status_code == 200, published.text
    assert published.json() == {
        "agreement_id": agreement,
        "published": True,
        "changed": True,
        "public_path": f"/v1/public/agreements/{agreement}/transparency",
    }
    assert _publication(service, "north-steward", agreement).json()["changed"] is False

    page = _public(service, agreement)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["parties"] == ["north", "south"] and body["retention_days"] == 30
    assert body["purposes"] == ["linkage", "tracing", "evaluation"]
    assert body["months"] == [] and body["columns"] == []  # created this month: none complete
    assert body["last_verification"] is None

    assert _entries(service, agreement, "agreement.publish") == [
        ("agreement.publish", "south", "submitter", "forbidden", '{"status":403}'),
        ("agreement.publish", "south", "steward", "ok", '{"changed":true,"published":true}'),
        ("agreement.publish", "north", "steward", "ok", '{"changed":false,"published":true}'),
    ]

    unpublished = _publication(service, "north-steward", agreement, "DELETE")
    assert unpublished.status_code == 200 and unpublished.json()["published"] is False
    assert _public(service, agreement).status_code == 404
    assert _entries(service, agreement, "agreement.unpublish")[-1][1:4] == (
        "north",
        "steward",
        "ok",
    )


def test_the_public_read_is_cacheable_and_never_audited(service, person_schema):
    agreement = new_agreement(service, person_schema, ["south"])
    assert _publication(service, "north-steward", agreement).status_code == 200
    before = len(_entries(service, agreement))
    first = _public(service, agreement)
    assert first.headers["cache-control"] == "public, max-age=60"
    tag = first.headers["etag"]
    again = _public(service, agreement, **{"If-None-Match": f'"other", {tag}'})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert _public(service, agreement, **{"If-None-Match": '"stale"'}).status_code == 200
    assert len(_entries(service, agreement)) == before  # no entry per anonymous read


def test_the_page_shows_complete_months_and_the_newest_verification(service, person_schema):
    agreement = new_agreement(service, person_schema, ["south"])
    now = datetime.now(UTC)
    created = datetime(now.year - 1, now.month, 1, tzinfo=UTC)
    month = month_window(now, created)[-1]  # the newest month shown
    tracer = Actor("north", "tracer", "key_00000000000000aa")
    at = f"{month}-02T10:00:00.000000+00:00"
    history = [Pending(tracer, "batch.upload", "linkage", "ok", {}, at=at)] * 12
    history += [Pending(tracer, "query", "tracing", "ok", {"records": 1}, at=at)] * 3
    history += [Pending(tracer, "query", "tracing", "rate_limited", {"refusals": 40}, at=at)]
    with service.state.engine.begin() as conn:
        conn.execute(
            agreements.update().where(agreements.c.id == agreement).values(created_at=created)
        )
        append_many(conn, agreement, history)
    assert _publication(service, "north-steward", agreement).status_code == 200
    body = _public(service, agreement).json()
    assert body["columns"] == [["upload", "linkage"], ["tracing_query", "tracing"]]
    shown = body["months"][-1]
    assert shown["month"] == month and len(body["months"]) == 12
    assert [(a["kind"], a["count"]) for a in shown["accesses"]] == [
        ("upload", {"shown": 12, "fewer_than_10": False}),
        ("tracing_query", {"shown": None, "fewer_than_10": True}),
    ]
    assert shown["refusals"] == {"shown": 40, "fewer_than_10": False}
    assert shown["withdrawals"] == {"shown": 0, "fewer_than_10": False}
    text = _public(service, agreement).text
    assert "key_00000000000000aa" not in text and "tracer" not in text

    verified = service.client.call(
        service.keys["south-steward"], "GET", f"/v1/agreements/{agreement}/audit/verify"
    )
    assert verified.status_code == 200 and verified.json()["ok"]
    last = _public(service, agreement).json()["last_verification"]
    assert (last["ok"], last["via"], last["against_checkpoints"]) == (True, "api", False)

    done = caselink(
        "admin",
        "verify-audit",
        "--agreement",
        agreement,
        env={
            "CASELINK_DATABASE_URL": service.settings.database_url,
            "CASELINK_STATE_DIR": str(service.settings.state_dir),
        },
    )
    assert done.returncode == 0, done.stderr
    last = _public(service, agreement).json()["last_verification"]
    assert (last["ok"], last["via"]) == (True, "cli")

    with service.state.engine.begin() as conn:  # an entry edited behind the service's back
        e = audit_entries.c
        conn.execute(
            audit_entries.update()
            .where(e.scope == agreement, e.action == "batch.upload")
            .values(purpose="evaluation")
        )
    failed = service.client.call(
        service.keys["north-steward"], "GET", f"/v1/agreements/{agreement}/audit/verify"
    )
    assert failed.json()["ok"] is False
    last = _public(service, agreement).json()["last_verification"]
    assert (last["ok"], last["via"]) == (False, "api")


@pytest.fixture(scope="module")
def document(service) -> dict:
    return make_app(service.settings, service.state).openapi()


OPERATIONS = [
    ("post", "/v1/agreements/{agreement_id}/publication"),
    ("delete", "/v1/agreements/{agreement_id}/publication"),
    ("get", "/v1/public/agreements/{agreement_id}/transparency"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_routes_are_documented_for_people(document, method, path):
    op = document["paths"][path][method]
    summary, description = op["summary"], op["description"]
    assert len(summary) <= 50 and not summary.endswith(".")
    assert len(description) >= 80 and WHO.search(description)
    for p in op.get("parameters", []):
        assert p.get("description") or PARAMETERS.get((p["in"], p["name"])), p["name"]
    for status, answer in op["responses"].items():
        if status.startswith("2"):
            assert answer["description"] != "Successful Response"
    assert op["tags"] == ["agreements"]
    errors = {s for s in op["responses"] if s[0] in "45"}
    if path.startswith("/v1/public"):
        assert "security" not in op and errors == {"404", "422"} and "304" in op["responses"]
    else:
        assert op["security"] == [{"bearer": []}] and {"401", "403", "404"} <= errors


def test_the_public_schemas_are_described(document):
    schemas = document["components"]["schemas"]
    for name in ("TransparencyPublic", "MonthPublic", "PublicCount", "Publication"):
        assert schemas[name].get("description"), name
        for field, prop in schemas[name]["properties"].items():
            assert prop.get("description"), f"{name}.{field}"
