"""The purpose of a call, over a real server (SQLite and PostgreSQL).

A call's default purpose goes through the same check as a stated one: an agreement allows
the purposes it lists, plus ``linkage`` for the linkage calls and ``oversight`` for its
audit, each only as the default of those calls. ``evaluation``, the summary's default, must
be listed. The header is sent once, in the form of a purpose, or the call is refused (422).
"""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from service._tables import audit_entries
from tests.service import loopback


@pytest.fixture(scope="module")
def tracing_only(world) -> str:
    """An agreement of agency-a and the steward listing one purpose: ``tracing``."""
    with world.service.client() as steward:
        body = {
            "name": "tracing only",
            "parties": ["agency-a"],
            "purposes": ["tracing"],
            "schema_fingerprint": world.agreement["schema_fingerprint"],
            "filter_bits": world.agreement["filter_bits"],
            "segments": world.agreement["segments"],
            "retention_days": 30,
        }
        return steward.create_agreement(**body)["agreement_id"]


def _get(world, key: str, path: str, *headers: tuple[str, str]) -> httpx.Response:
    with loopback.client(base_url=world.service.url, timeout=30) as http:
        return http.get(path, headers=[("Authorization", f"Bearer {key}"), *headers])


def _purpose(value: str) -> tuple[str, str]:
    return ("X-Caselink-Purpose", value)


def _last_entry(world, scope: str) -> dict:
    e = audit_entries.c
    with world.service.db.engine.connect() as conn:
        row = conn.execute(
            sa.select(audit_entries).where(e.scope == scope).order_by(e.seq.desc()).limit(1)
        ).one()
    return {**row._mapping, "details": json.loads(row.details)}


def test_a_default_purpose_the_agreement_does_not_list_is_refused_like_a_stated_one(
    world, tracing_only
):
    path = f"/v1/agreements/{tracing_only}/summary"
    evaluator = world.role_keys["evaluator"]  # of agency-a, a party
    implicit = _get(world, evaluator, path)
    assert implicit.status_code == 403, implicit.text
    assert implicit.json()["error"] == "forbidden"
    assert "'evaluation'" in implicit.json()["detail"] and "tracing" in implicit.json()["detail"]
    entry = _last_entry(world, tracing_only)
    assert (entry["action"], entry["outcome"], entry["purpose"]) == (
        "summary.read",
        "forbidden",
        "evaluation",
    )
    stated = _get(world, evaluator, path, _purpose("evaluation"))
    assert (stated.status_code, stated.json()["error"]) == (403, "forbidden")
    assert _last_entry(world, tracing_only)["purpose"] == "evaluation"
    assert _get(world, evaluator, path, _purpose("tracing")).status_code == 200


def test_the_summary_by_default_where_evaluation_is_listed(world):
    r = _get(world, world.role_keys["evaluator"], f"/v1/agreements/{world.agreement_id}/summary")
    assert r.status_code == 200, r.text
    assert _last_entry(world, world.agreement_id)["purpose"] == "evaluation"


def test_linkage_and_oversight_are_implied_each_for_its_own_calls(world, tracing_only):
    cases = f"/v1/agreements/{tracing_only}/cases"
    submitter, steward = world.keys["agency-a"], world.service.steward_key
    for headers in ((), (_purpose("linkage"),)):  # the default, or stated: the same rule
        r = _get(world, submitter, cases, *headers)
        assert r.status_code == 200, r.text
        assert _last_entry(world, tracing_only)["purpose"] == "linkage"
    assert _get(world, submitter, f"/v1/agreements/{tracing_only}/batches").status_code == 200
    audit = f"/v1/agreements/{tracing_only}/audit"
    for headers in ((), (_purpose("oversight"),)):
        assert _get(world, steward, audit, *headers).status_code == 200
        assert _last_entry(world, tracing_only)["purpose"] == "oversight"
    # implied only as the default of their own calls: elsewhere they must be listed
    assert _get(world, submitter, cases, _purpose("oversight")).status_code == 403
    assert _get(world, steward, audit, _purpose("linkage")).status_code == 403
    assert _last_entry(world, tracing_only)["outcome"] == "forbidden"


@pytest.mark.parametrize(
    "values", [("linkage", "tracing"), ("tracing", "linkage"), ("linkage", "linkage")]
)
def test_the_purpose_header_sent_twice_is_refused(world, values):
    e = audit_entries.c
    before = world.service.db.count(audit_entries, e.scope == world.agreement_id)
    r = _get(
        world,
        world.keys["agency-a"],
        f"/v1/agreements/{world.agreement_id}/cases",
        *[_purpose(v) for v in values],
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_request"
    assert body["problems"][0].startswith("header X-Caselink-Purpose: sent 2 times")
    assert world.service.db.count(audit_entries, e.scope == world.agreement_id) == before


@pytest.mark.parametrize("value", ["Linkage", "linkage tracing", "x" * 65, "-x", "lin\tkage"])
def test_a_purpose_not_written_as_purposes_are_is_refused_unechoed(world, value):
    r = _get(
        world, world.keys["agency-a"], f"/v1/agreements/{world.agreement_id}/cases", _purpose(value)
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"
    assert any(
        p.lower().startswith(("header x-caselink-purpose", "x-caselink-purpose"))
        for p in r.json()["problems"]
    )
    assert value not in r.text
