"""The tracing rate limit over a real server (SQLite and PostgreSQL): one budget per agency and
role, kept across key rotation; 429s counted a minute at a time in the audit.

The server here is the limits' own: a tiny burst and a refill of one record per 1000 minutes,
so no budget grows back while a test runs, and its agreement has one agency per test, so no
test spends another's budget. Nothing waits for a clock: the counts of refusals reach the
audit when the server stops gracefully (SIGTERM), as they do at any shutdown; the test that
stops it runs last, and a test after it would start it again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

import bloom
from service._audit import verify
from service._tables import audit_entries
from service.client import Client
from tests.service import loopback
from tests.service.query.conftest import bootstrap_steward
from tests.service.servers import Database, Server, agreement_body, encode_file, make_database

BURST = 4
ENV = {"CASELINK_QUERY_BURST": str(BURST), "CASELINK_QUERY_RATE_PER_MINUTE": "0.001"}
AGENCIES = ("limit-a", "limit-b", "limit-c", "limit-d")
SOUGHT = {
    "given_name": "Wilhelmina",
    "family_name": "Xochitl-Abernathy",
    "father_name": "Cornelius",
    "sex": "F",
    "date_of_birth": "1993-05-29",
    "place_of_birth": "Reykjavik",
}


@dataclass
class Limits:
    server: Server
    db: Database
    steward: Client  # the admin: it issues tracer keys to the agencies
    schema: bloom.Schema
    secret: bloom.Secret
    agreement_id: str
    workdir: Path

    stopped: bool = False

    def tracer(self, agency: str) -> dict:
        """A new tracer key of ``agency``: its ``key_id`` and ``api_key``."""
        self.running()
        return self.steward.create_key(agency, "tracer")

    def query(self, key: str, agency: str, records: int = 1) -> httpx.Response:
        df = pd.DataFrame([SOUGHT] * records).assign(record_ref=[f"Q-{k}" for k in range(records)])
        path = encode_file(
            df, self.schema, self.secret, agency, self.workdir / f"{agency}-{records}.parquet"
        )
        headers = {"Authorization": f"Bearer {key}", "X-Caselink-Purpose": "tracing"}
        url = f"{self.server.url}/v1/agreements/{self.agreement_id}/queries"
        return loopback.post(url, content=path.read_bytes(), headers=headers, timeout=60)

    def refusals_of(self, key_id: str) -> list[dict]:
        e = audit_entries.c
        q = sa.select(audit_entries).where(e.key_id == key_id, e.outcome == "rate_limited")
        with self.db.engine.connect() as conn:
            rows = conn.execute(q.order_by(e.scope, e.seq)).all()
        return [{**r._mapping, "details": json.loads(r.details)} for r in rows]

    def stop(self) -> None:
        """Stop gracefully (SIGTERM): the counts of refusals are written, as at any shutdown."""
        assert self.server.terminate() == 0, self.server.stderr()[-3000:]
        self.stopped = True

    def running(self) -> None:
        """Start the server again if a test stopped it (the last test does)."""
        if self.stopped:
            self.server.launch()
            self.server.wait_ready()
            self.stopped = False


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def limits(request, person_schema, secret, tmp_path_factory, ray_session) -> Iterator[Limits]:
    workdir = tmp_path_factory.mktemp(f"limits-{request.param}")
    with make_database(request.param, request, workdir) as db:
        server = Server(db, workdir, name="limits", ray=ray_session.address, **ENV)
        try:
            server.launch()
            server.wait_migrated()
            steward_key = bootstrap_steward(db.url, "steward")
            admin_key = bootstrap_steward(db.url, "operator", "admin")
            server.wait_ready()
            with server.client(admin_key) as admin, server.client(steward_key) as steward:
                for agency in AGENCIES:
                    admin.create_agency(agency)
                body = agreement_body(person_schema, list(AGENCIES), name="limits")
                agreement_id = steward.create_agreement(**body)["agreement_id"]
                yield Limits(server, db, admin, person_schema, secret, agreement_id, workdir)
        finally:
            server.cleanup()


def _refusal(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and body["detail"] and isinstance(body["problems"], list)


def test_past_the_rate_limit_429_with_retry_after(limits):
    issued = limits.tracer("limit-a")
    key = issued["api_key"]
    _refusal(limits.query(key, "limit-a", BURST + 1), 422, "invalid_request")
    assert limits.query(key, "limit-a", BURST).status_code == 200
    r = limits.query(key, "limit-a")
    _refusal(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    assert "agency" in r.json()["detail"]
    other = limits.query(limits.tracer("limit-b")["api_key"], "limit-b")
    assert other.status_code == 200  # budgets are per agency
    (audited,) = limits.refusals_of(issued["key_id"])  # the first refusal, audited at once
    assert audited["details"] == {"status": 429, "refusals": 1}


def test_a_rotated_key_or_a_new_key_of_the_agency_gets_no_fresh_budget(limits):
    issued = limits.tracer("limit-c")
    assert limits.query(issued["api_key"], "limit-c", BURST).status_code == 200
    _refusal(limits.query(issued["api_key"], "limit-c"), 429, "rate_limited")
    with limits.server.client(issued["api_key"]) as own:
        rotated = own.rotate_key(issued["key_id"])  # a holder rotates the key it calls with
    assert rotated["role"] == "tracer" and rotated["key_id"] != issued["key_id"]
    assert limits.query(issued["api_key"], "limit-c").status_code == 401  # the old key is gone
    _refusal(limits.query(rotated["api_key"], "limit-c"), 429, "rate_limited")
    _refusal(limits.query(limits.tracer("limit-c")["api_key"], "limit-c"), 429, "rate_limited")


def test_refusals_of_a_minute_are_one_or_two_audit_entries_that_count_them_all(limits):
    issued = limits.tracer("limit-d")
    assert limits.query(issued["api_key"], "limit-d", BURST).status_code == 200
    n, started = 25, time.monotonic()
    for _ in range(n):
        _refusal(limits.query(issued["api_key"], "limit-d"), 429, "rate_limited")
    minutes = 1 + int((time.monotonic() - started) // 60)  # 1 unless this machine crawls
    first = limits.refusals_of(issued["key_id"])
    assert [e["details"] for e in first] == [{"status": 429, "refusals": 1}]  # at once
    assert first[0]["purpose"] == "tracing" and first[0]["action"] == "query"
    limits.stop()  # a graceful stop writes the count of the open minute
    entries = limits.refusals_of(issued["key_id"])
    assert sum(e["details"]["refusals"] for e in entries) == n
    assert 2 <= len(entries) <= 2 * minutes
    assert all(e["scope"] == limits.agreement_id for e in entries)
    with limits.db.engine.connect() as conn:  # the chain still verifies
        assert verify(conn, limits.agreement_id).ok
