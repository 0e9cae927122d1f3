"""Bad input over a real server (SQLite and PostgreSQL): integers past what a database stores
are a 422 naming the parameter (they were a 500), and nothing sent is echoed back — not an id
holding control characters, not the record_ref of a withdrawal.

Every integer a request can carry is bounded where it is declared; the OpenAPI document is
walked to prove it, so a new unbounded one fails here.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from service._settings import Settings
from service._tables import audit_entries
from service.api import create_app
from tests.service import loopback

HUGE = [2**63, 2**64]
UNBOUNDED_ELSEWHERE = {("/v1/audit", "after"), ("/v1/agreements/{agreement_id}/audit", "after")}


def _resolve(doc: dict, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _integers(doc: dict, schema: Any, where: str, seen: frozenset = frozenset()):
    """(where, schema) of every integer or number in ``schema``, references followed."""
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict) or id(schema) in seen:
        return
    seen = seen | {id(schema)}
    if schema.get("type") in ("integer", "number"):
        yield where, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from _integers(doc, option, where, seen)
    for name, prop in schema.get("properties", {}).items():
        yield from _integers(doc, prop, f"{where}.{name}", seen)
    if "items" in schema:
        yield from _integers(doc, schema["items"], f"{where}[]", seen)


def test_every_integer_a_request_carries_is_bounded():
    doc = create_app(Settings(database_url="sqlite://")).openapi()
    unbounded = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            found = [
                (p["name"], s)
                for p in op.get("parameters", [])
                if (path, p["name"]) not in UNBOUNDED_ELSEWHERE
                for _, s in _integers(doc, p["schema"], p["name"])
            ]
            for media in op.get("requestBody", {}).get("content", {}).values():
                found += list(_integers(doc, media.get("schema", {}), "body"))
            unbounded += [
                f"{method.upper()} {path} {name}"
                for name, s in found
                if "maximum" not in s and "exclusiveMaximum" not in s
            ]
    assert unbounded == []


def _call(world, key: str, method: str, path: str, **kwargs) -> httpx.Response:
    with loopback.client(base_url=world.service.url, timeout=60) as http:
        return http.request(
            method,
            path.format(a=world.agreement_id),
            headers={"Authorization": f"Bearer {key}"},
            **kwargs,
        )


def _names(r: httpx.Response, name: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_request"
    assert any(p.startswith(name) for p in body["problems"]), body


@pytest.mark.parametrize("value", HUGE, ids=["2**63", "2**64"])
@pytest.mark.parametrize(
    ("role", "method", "path", "param"),
    [
        ("submitter", "GET", "/v1/agreements/{a}/cases", "offset"),
        ("submitter", "GET", "/v1/agreements/{a}/cases", "limit"),
        ("tracer", "POST", "/v1/agreements/{a}/queries", "top_k"),
        ("steward", "GET", "/v1/agreements/{a}/audit", "limit"),
        ("steward", "GET", "/v1/audit", "limit"),
    ],
)
def test_a_huge_integer_parameter_is_a_422_naming_it(world, role, method, path, param, value):
    r = _call(world, world.role_keys[role], method, path, params={param: value})
    _names(r, param)
    negative = _call(world, world.role_keys[role], method, path, params={param: -value})
    _names(negative, param)


@pytest.mark.parametrize("value", HUGE, ids=["2**63", "2**64"])
@pytest.mark.parametrize("field", ["filter_bits", "retention_days", "linkage.threshold"])
def test_a_huge_integer_in_a_body_is_a_422_naming_it(world, field, value):
    body = {
        "name": "huge",
        "parties": ["agency-a"],
        "purposes": ["linkage"],
        "schema_fingerprint": world.agreement["schema_fingerprint"],
        "filter_bits": world.agreement["filter_bits"],
        "segments": world.agreement["segments"],
        "retention_days": 30,
    }
    if field == "linkage.threshold":
        body["linkage"] = {"threshold": value}
    else:
        body[field] = value
    r = _call(world, world.role_keys["steward"], "POST", "/v1/agreements", json=body)
    _names(r, field)


def _agreement_body(world, **changes: Any) -> dict:
    return {
        "name": "edge",
        "parties": ["agency-a"],
        "purposes": ["linkage"],
        "schema_fingerprint": world.agreement["schema_fingerprint"],
        "filter_bits": world.agreement["filter_bits"],
        "segments": world.agreement["segments"],
        "retention_days": 30,
        **changes,
    }


@pytest.mark.parametrize("name", ["\x00", "north\x00", "a\nb"], ids=["nul", "inner-nul", "lf"])
def test_an_agreement_name_with_a_control_character_is_a_422_unechoed(world, name):
    """On PostgreSQL a NUL in the name was a 500 (found by the fuzzer)."""
    r = _call(
        world,
        world.role_keys["steward"],
        "POST",
        "/v1/agreements",
        json=_agreement_body(world, name=name),
    )
    _names(r, "name")
    assert name not in r.text


def test_a_threshold_of_many_digits_is_stored_to_six(world):
    """``str(0.247236111305649)`` overflowed the 16-character column on PostgreSQL (a 500,
    found by the fuzzer); the threshold is kept to six significant digits."""
    r = _call(
        world,
        world.role_keys["steward"],
        "POST",
        "/v1/agreements",
        json=_agreement_body(world, linkage={"threshold": 0.247236111305649}),
    )
    assert r.status_code == 201, r.text
    assert r.json()["linkage"]["threshold"] == 0.247236


CONTROL = [
    "agr_0123456789abcde\x01",
    "agr_\x1b[31mred",
    "agr_0123\nX-Injected: 1",
    'agr_"},{"error":"ok',
    "agr_0123456789ABCDEF",
    "agr_0123456789abcdef0",
    "agr_0123456789abcde\x00",
]


def _quoted(text: str) -> str:
    """``text`` percent-encoded as one path segment (the server decodes it back)."""
    return quote(text, safe="").replace("{", "{{").replace("}", "}}")


def _refused_unechoed(r: httpx.Response, not_found: str, bad: str) -> None:
    """A control character in a path is a 422 before any route (the path guard); any other
    malformed id reaches its route and is a 404 that does not repeat it."""
    if any(ord(c) < 32 or ord(c) == 127 for c in bad):
        assert r.status_code == 422, r.text
        assert r.json()["problems"][0].startswith("path"), r.text
    else:
        assert r.status_code == 404, r.text
        assert r.json()["detail"].startswith(not_found)


@pytest.mark.parametrize(
    "bad", CONTROL, ids=["soh", "escape", "newline", "json", "upper", "long", "nul"]
)
def test_an_agreement_id_not_of_the_form_of_one_is_never_echoed(world, bad):
    for path in (f"/v1/agreements/{_quoted(bad)}", f"/v1/agreements/{_quoted(bad)}/cases"):
        r = _call(world, world.keys["agency-a"], "GET", path)
        _refused_unechoed(r, "no agreement (the id you sent) among", bad)
        assert bad[4:] not in r.text and bad[4:] not in json.dumps(r.json(), ensure_ascii=False)


@pytest.mark.parametrize("bad", ["run_0123456789abcde\x07", "run_\x00", "run_\u2028x"])
def test_a_run_id_not_of_the_form_of_one_is_never_echoed(world, bad):
    r = _call(world, world.keys["agency-a"], "GET", f"/v1/agreements/{{a}}/runs/{_quoted(bad)}")
    _refused_unechoed(r, "no run (the id you sent) in", bad)
    assert bad[4:] not in json.dumps(r.json(), ensure_ascii=False)


def test_well_formed_unknown_ids_are_named(world):
    r = _call(world, world.keys["agency-a"], "GET", "/v1/agreements/{a}/runs/run_0123456789abcdef")
    assert r.status_code == 404 and "run run_0123456789abcdef" in r.json()["detail"]
    r = _call(world, world.keys["agency-a"], "GET", "/v1/agreements/agr_0123456789abcdef/cases")
    assert r.status_code == 404 and "agreement agr_0123456789abcdef" in r.json()["detail"]


def test_a_withdrawal_of_an_unknown_ref_never_echoes_the_ref(world):
    ref = "never-uploaded-Z3F9Q"
    r = _call(
        world,
        world.keys["agency-a"],
        "POST",
        "/v1/agreements/{a}/withdrawals",
        json={"record_ref": ref, "reason": "erasure"},
    )
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "not_found" and r.json()["problems"][0].startswith("record_ref")
    assert "Z3F9Q" not in r.text
    e = audit_entries.c
    with world.service.db.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_entries).where(e.scope == world.agreement_id)).all()
    last = max(rows, key=lambda row: row.seq)
    assert (last.action, last.outcome) == ("record.withdraw", "not_found")
    assert not [row.seq for row in rows if "Z3F9Q" in row.details]


@pytest.mark.parametrize("ref", ["held-\x00-Z3F9Q", "held-\x1b-Z3F9Q", "held-\n-Z3F9Q"])
def test_a_withdrawal_of_a_ref_with_control_characters_is_a_422_unechoed(world, ref):
    r = _call(
        world,
        world.keys["agency-a"],
        "POST",
        "/v1/agreements/{a}/withdrawals",
        json={"record_ref": ref, "reason": "erasure"},
    )
    _names(r, "record_ref")
    assert "Z3F9Q" not in r.text
