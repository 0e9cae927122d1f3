"""Retention over a real server (SQLite and PostgreSQL): ``caselink admin sweep`` with a later
``--as-of``, and the service's own sweeper on its timer. Only agreement ``short`` (1 day) is
touched; ``long`` (365 days) must come through every sweep whole."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from linkage._registry import records_table
from service._tables import audit_entries, batch_records, batches
from tests.service.lifecycle.conftest import eventually, in_process
from tests.service.lifecycle.servers import caselink


def _counts(life, agreement: str) -> tuple[int, int, int]:
    db = life.db
    return (
        db.count(records_table, records_table.c.scope == agreement),
        db.count(batch_records, batch_records.c.agreement_id == agreement),
        db.count(batches, batches.c.agreement_id == agreement),
    )


def _purges(life, agreement: str) -> list[dict]:
    e = audit_entries.c
    with life.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_entries)
            .where(e.scope == agreement, e.action == "retention.purge")
            .order_by(e.seq)
        ).mappings()
        return [dict(r) | {"details": json.loads(r["details"])} for r in rows]


def _sweep(life, as_of: datetime):
    return caselink(life.db.url, "admin", "sweep", "--as-of", as_of.isoformat())


def test_admin_sweep_purges_expired_batches_and_only_those(life):
    long_before = _counts(life, life.long)
    assert _counts(life, life.short) == (60, 60, 2)
    person = life.uploaded["agency-a"].iloc[:1].drop(columns="record_ref")
    assert any("agency-a" in held for held in life.trace(life.short, person).values())
    with life.db.engine.connect() as conn:
        short_batches = set(
            conn.execute(sa.select(batches.c.id).where(batches.c.agreement_id == life.short))
            .scalars()
            .all()
        )
    done = _sweep(life, datetime.now(UTC) + timedelta(days=2))
    assert done.returncode == 0, done.stderr
    assert all(b in done.stdout for b in short_batches), done.stdout
    assert "2 batch(es) purged" in done.stderr
    assert _counts(life, life.short) == (0, 0, 0)
    assert _counts(life, life.long) == long_before  # 365 days: not expired
    with life.client("agency-a") as c:
        assert c.cases(life.short)["total"] == 0
    # the running service sees the other process's purge in the audit and drops it from its index
    assert eventually(lambda: life.trace(life.short, person), {}) == {}
    purges = _purges(life, life.short)
    assert {p["details"]["batch"] for p in purges} == short_batches
    for p in purges:
        assert (p["actor"], p["role"], p["outcome"]) == ("operator", "operator", "ok")
        assert p["details"]["records_purged"] == p["details"]["registry_records"] == 30
        assert p["details"]["retention_days"] == 1

    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    again = in_process("admin", "sweep", "--as-of", later, "--database-url", life.db.url)
    assert again.exit_code == 0 and "0 batch(es) purged" in again.stderr, again.output
    assert len(_purges(life, life.short)) == 2  # idempotent: nothing more to purge
    bad = in_process("admin", "sweep", "--as-of", "next tuesday", "--database-url", life.db.url)
    assert bad.exit_code != 0 and "--as-of" in bad.output


def test_the_services_sweeper_purges_on_its_timer(life):
    with life.client("agency-a") as c:  # the same file as before: new again after the purge
        assert c.upload(life.short, life.workdir / "agency-a-short.parquet")["duplicate"] is False
    life.upload_and_run(
        "agency-b", life.short, life.uploaded["agency-b"].iloc[30:40], "agency-b-later.parquet"
    )
    assert _counts(life, life.short) == (40, 40, 2)
    person = life.uploaded["agency-b"].iloc[30:31].drop(columns="record_ref")
    found = lambda: any("agency-b" in h for h in life.trace(life.short, person).values())  # noqa: E731
    assert eventually(found, True)
    with life.db.engine.begin() as conn:  # as if received three days ago
        conn.execute(
            batches.update()
            .where(batches.c.agreement_id == life.short)
            .values(received_at=datetime.now(UTC) - timedelta(days=3))
        )
    deadline = time.monotonic() + 30
    while _counts(life, life.short) != (0, 0, 0):
        assert time.monotonic() < deadline, "the service's sweeper did not purge"
        time.sleep(0.2)
    by_service = [p for p in _purges(life, life.short) if p["actor"] == "caselink"]
    assert len(by_service) == 2 and {p["role"] for p in by_service} == {"service"}
    with life.client("agency-b") as c:
        assert c.cases(life.short)["total"] == 0
    assert eventually(lambda: life.trace(life.short, person), {}) == {}


def test_audit_chains_verify_after_the_purges(life):
    with life.client() as c, life.client(key=life.admin) as admin:
        assert c.verify_audit(life.short)["ok"] is True
        assert admin.verify_audit()["ok"] is True
