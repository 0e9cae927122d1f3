"""Rate-limit refusals written to the audit chains, on SQLite and PostgreSQL, with an injected
clock: one entry at a window's first refusal, one with the count of the rest when it closes
(or at shutdown), and the chain still verifies."""

from __future__ import annotations

import json

import sqlalchemy as sa

from service._audit import Actor, verify
from service._refusals import RefusalAudit, RefusalCounter, Refused
from service._tables import audit_entries

SCOPE = "agr_00000000000000f1"
TRACER = Actor(agency="agency-b", role="tracer", key_id="key_00000000000000aa")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _entries(engine: sa.Engine) -> list[dict]:
    e = audit_entries.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_entries).where(e.scope == SCOPE).order_by(e.seq))
        return [{**r._mapping, "details": json.loads(r.details)} for r in rows]


def test_refusals_of_a_minute_become_two_entries_whose_counts_add_up(engine):
    clock = Clock()
    audit = RefusalAudit(engine, RefusalCounter(60, clock=clock))
    refused = Refused(SCOPE, TRACER, "query", "tracing")
    for k in range(40):
        audit.refused(refused, records=1 if k % 2 else None)
        clock.now += 1  # 40 refusals in 40 s: one minute
    (first,) = _entries(engine)
    assert (first["outcome"], first["action"], first["purpose"]) == (
        "rate_limited",
        "query",
        "tracing",
    )
    assert first["key_id"] == TRACER.key_id and first["details"] == {"status": 429, "refusals": 1}
    assert audit.flush() == 0  # the minute has not closed: nothing more yet
    clock.now += 30
    assert audit.flush() == 1
    entries = _entries(engine)
    assert len(entries) == 2 and sum(e["details"]["refusals"] for e in entries) == 40
    assert entries[1]["details"]["records"] == 20 and entries[1]["details"]["window_seconds"] == 60
    with engine.connect() as conn:
        assert verify(conn, SCOPE).ok


def test_stop_writes_the_counts_of_windows_still_open(engine):
    clock = Clock()
    audit = RefusalAudit(engine, RefusalCounter(60, clock=clock)).start()
    refused = Refused(SCOPE, TRACER, "query", "tracing")
    for _ in range(7):
        audit.refused(refused)
    audit.stop()  # shutdown: the minute is open, its count is written all the same
    entries = _entries(engine)
    assert [e["details"]["refusals"] for e in entries] == [1, 6]
    assert audit.counter.open_windows == 0
