"""Group commit of audit entries: every entry lands on its chain, in few transactions, and a
request is told its entry was written only once it was committed.

Grouping is forced without any timing: the chain's head is locked by another transaction
(SQLite's write lock, PostgreSQL's row lock on the head) while entries queue; once it is let
go, everything queued is written in at most two transactions (the writer may have taken the
first entry before the others arrived)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from service._audit import Actor, append, verify
from service._audit_writer import AuditUnavailableError, AuditWriter
from service._tables import audit_entries

ACTOR = Actor(agency="tracing-a", role="tracer", key_id="key_0123456789abcdef")
SCOPE = "agr_0123456789abcdef"


def _entries(engine: sa.Engine, scope: str = SCOPE) -> list[dict]:
    e = audit_entries.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_entries).where(e.scope == scope).order_by(e.seq))
        return [dict(r._mapping) for r in rows]


def test_entries_queued_behind_a_held_chain_commit_together_and_verify(engine):
    writer = AuditWriter(engine).start()
    try:
        holder = engine.connect()
        tx = holder.begin()
        append(holder, SCOPE, ACTOR, "query", purpose="tracing", details={"held": True})
        futures = [
            writer.submit(SCOPE, ACTOR, "query", purpose="tracing", details={"k": k})
            for k in range(20)
        ]
        assert not any(f.done() for f in futures)  # none reported written while it waits
        tx.commit()
        holder.close()
        written = [f.result(timeout=120) for f in futures]
    finally:
        writer.stop()
    assert 1 <= writer.groups <= 2
    assert [w["seq"] for w in written] == list(range(2, 22))
    rows = _entries(engine)
    assert [r["details"] for r in rows[1:]] == [f'{{"k":{k}}}' for k in range(20)]
    with engine.connect() as conn:
        assert verify(conn, SCOPE).ok


def test_a_failed_group_fails_each_of_its_requests_and_the_writer_goes_on(engine):
    writer = AuditWriter(engine).start()
    try:
        holder = engine.connect()
        tx = holder.begin()
        append(holder, SCOPE, ACTOR, "query")
        good = writer.submit(SCOPE, ACTOR, "query", details={"k": 1})
        bad = writer.submit(SCOPE, ACTOR, "query", details={"k": object()})  # not JSON
        tx.commit()
        holder.close()
        with pytest.raises(AuditUnavailableError, match="could not be written"):
            bad.result(timeout=120)
        after = writer.submit(SCOPE, ACTOR, "query", details={"k": 2}).result(timeout=120)
    finally:
        writer.stop()
    # the good entry either shared the bad one's group (refused with it) or came first alone
    if good.exception(timeout=0) is None:
        assert good.result()["details"] == '{"k":1}'
    details = [r["details"] for r in _entries(engine)]
    assert '{"k":2}' in details and after["seq"] == len(details)
    with engine.connect() as conn:
        assert verify(conn, SCOPE).ok


def test_stop_writes_what_is_queued_and_refuses_what_comes_after(engine):
    writer = AuditWriter(engine).start()
    futures = [writer.submit(SCOPE, ACTOR, "query", details={"k": k}) for k in range(5)]
    writer.stop()
    assert all(f.result(timeout=0)["scope"] == SCOPE for f in futures)
    assert len(_entries(engine)) == 5
    with pytest.raises(AuditUnavailableError, match="stopped"):
        writer.submit(SCOPE, ACTOR, "query")


def test_a_slow_group_is_logged_with_where_its_time_went(engine, monkeypatch, caplog):
    """Every group counts as slow at a threshold of 0: the line says how many entries waited
    and splits the time into lock, append and commit — and holds no entry's details."""
    import logging

    import service._audit_writer as aw

    monkeypatch.setattr(aw, "SLOW_GROUP_SECONDS", 0.0)
    writer = AuditWriter(engine).start()
    try:
        with caplog.at_level(logging.INFO, logger="service._audit_writer"):
            writer.submit(SCOPE, ACTOR, "query", details={"sought": "secret-ish"}).result(120)
    finally:
        writer.stop()
    lines = [r.getMessage() for r in caplog.records if "slow audit group" in r.getMessage()]
    assert len(lines) == 1
    assert "1 entries" in lines[0] and "waiting for the write lock" in lines[0]
    assert "committing" in lines[0] and "secret-ish" not in lines[0]
