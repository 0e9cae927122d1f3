"""Run leases on SQLite and PostgreSQL: which replica executes a run, and which runs are
abandoned (service/_runlease.py, service/_runs.py).

Replicas here are :class:`RunLeases` objects with their own ids on one database; one whose
id names another machine is judged by its lease alone. Nothing waits for a lucky moment:
a test that needs a lease to run out waits until the database's clock has passed it.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from service._admin import bootstrap_agency
from service._runlease import (
    EXPIRED,
    NEVER_LEASED,
    OWNER_GONE,
    LeaseKeeper,
    RunLeases,
    _local_prefix,
    db_now,
)
from service._runs import INTERRUPTED, RECOVERED, _lock_key, queue_run, recover_interrupted
from service._tables import agencies, agreements, audit_entries, runs
from service.api.errors import ServiceError

ELSEWHERE = "replica-a.example/pid:[1]/4242/"  # a replica on another machine


def other_replica(engine: sa.Engine, seconds: float) -> RunLeases:
    return RunLeases(engine, seconds, owner=ELSEWHERE + secrets.token_hex(4))


def new_agreement(engine: sa.Engine) -> tuple[str, int]:
    """An agreement row (nothing else of it is needed to queue runs) and its agency's id."""
    name = "agency-" + secrets.token_hex(3)
    bootstrap_agency(engine, name, "steward")
    agreement_id = "agr_" + secrets.token_hex(8)
    with engine.begin() as conn:
        agency_id = conn.execute(sa.select(agencies.c.id).where(agencies.c.name == name)).scalar()
        conn.execute(
            agreements.insert().values(
                id=agreement_id,
                name="lease test",
                schema_fingerprint="blake3:" + "0" * 64,
                filter_bits=64,
                segments=None,
                purposes=["linkage"],
                retention_days=30,
                threshold="auto",
                allow_duplicates=False,
                created_by=agency_id,
                created_at=datetime.now(UTC),
            )
        )
    return agreement_id, int(agency_id)


def queued(engine: sa.Engine) -> tuple[str, str]:
    agreement_id, agency_id = new_agreement(engine)
    with engine.begin() as conn:
        return agreement_id, queue_run(conn, agreement_id, agency_id)


def row(engine: sa.Engine, run_id: str):
    with engine.connect() as conn:
        return conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()


def audit(engine: sa.Engine, agreement_id: str) -> list[tuple[str, dict]]:
    e = audit_entries.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(e.action, e.details).where(e.scope == agreement_id).order_by(e.seq)
        ).all()
    return [(a, json.loads(d)) for a, d in rows]


def wait_past(engine: sa.Engine, when: datetime, timeout: float = 60) -> None:
    """Until the database's clock has passed ``when``."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            if db_now(conn) > when:
                return
        assert time.monotonic() < deadline, f"the database's clock did not pass {when}"
        time.sleep(0.05)


def test_one_replica_claims_a_run_and_only_it_writes_to_it(engine):
    a, b = other_replica(engine, 30), RunLeases(engine, 30)
    _, run_id = queued(engine)
    assert b.claim(run_id) is True
    assert a.claim(run_id) is False
    with engine.begin() as conn:
        assert a.hold(conn, run_id, stage="loading") is False
    held = row(engine, run_id)
    assert held.lease_owner == b.owner and held.stage == "queued"
    with engine.begin() as conn:
        assert b.hold(conn, run_id, status="running", stage="loading") is True
    assert b.renew() == 1 and a.renew() == 0
    assert row(engine, run_id).lease_expires_at >= held.lease_expires_at
    assert b.claim(run_id) is False  # running: no longer claimable, even by its owner


def test_a_live_lease_is_left_alone_and_an_expired_one_is_taken_over(engine):
    a, b = other_replica(engine, 1), RunLeases(engine, 30)
    agreement_id, run_id = queued(engine)
    assert a.claim(run_id)
    with engine.begin() as conn:
        assert a.hold(conn, run_id, status="running", stage="linking")
    found = recover_interrupted(engine, b)  # B's start-up: A's lease is live
    assert found.failed == [] and found.completed == []
    assert row(engine, run_id).status == "running"
    assert [act for act, _ in audit(engine, agreement_id)] == []

    wait_past(engine, row(engine, run_id).lease_expires_at)  # A stopped renewing
    found = recover_interrupted(engine, b)
    assert found.failed == [run_id]
    settled = row(engine, run_id)
    assert (settled.status, settled.stage, settled.error) == ("failed", "interrupted", INTERRUPTED)
    assert audit(engine, agreement_id) == [
        (
            "run.takeover",
            {"run": run_id, "lease_owner": a.owner, "reason": EXPIRED, "taken_by": b.owner},
        ),
        ("run.interrupted", {"run": run_id}),
    ]
    with engine.begin() as conn:  # A, late: its writes are fenced off
        assert a.hold(conn, run_id, stage="storing") is False
    assert row(engine, run_id).stage == "interrupted"
    assert recover_interrupted(engine, b).failed == []  # settled once


def test_a_stored_run_whose_lease_expired_is_completed(engine):
    a, b = other_replica(engine, 1), RunLeases(engine, 30)
    agreement_id, run_id = queued(engine)
    assert a.claim(run_id)
    with engine.begin() as conn:
        assert a.hold(conn, run_id, status="running", stage="indexing", stats={"batches": 0})
    wait_past(engine, row(engine, run_id).lease_expires_at)
    found = recover_interrupted(engine, b)
    assert found.completed == [run_id] and found.agreements == {agreement_id}
    done = row(engine, run_id)
    assert done.status == "succeeded" and done.stats["note"] == RECOVERED
    assert [act for act, _ in audit(engine, agreement_id)] == ["run.takeover", "run.recovered"]


def test_a_replica_on_this_machine_whose_process_is_gone_is_taken_over_at_once(engine):
    """Its lease has an hour to run: the process being gone is enough (a restart after
    kill -9); a live process's lease is left alone."""
    if not _local_prefix():
        pytest.skip("no PID namespace to read here: owners are judged by their lease only")
    b = RunLeases(engine, 3600)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) as alive:
        try:
            gone = subprocess.run(
                [sys.executable, "-c", "import os; print(os.getpid())"],
                capture_output=True,
                text=True,
                check=True,
            )
            owners = {
                "alive": f"{_local_prefix()}{alive.pid}/aaaa",
                "gone": f"{_local_prefix()}{int(gone.stdout)}/bbbb",
            }
            ids = {}
            for name, owner in owners.items():
                _, ids[name] = queued(engine)
                assert RunLeases(engine, 3600, owner=owner).claim(ids[name])
            found = recover_interrupted(engine, b)
            assert found.failed == [ids["gone"]]
            assert row(engine, ids["alive"]).status == "queued"
        finally:
            alive.kill()
    with engine.connect() as conn:
        e = audit_entries.c
        (details,) = conn.execute(
            sa.select(e.details).where(e.action == "run.takeover", e.details.contains(ids["gone"]))
        ).scalars()
    assert json.loads(details)["reason"] == OWNER_GONE


def test_a_run_queued_without_a_lease_is_settled_once_older_than_a_lease(engine):
    b = RunLeases(engine, 1)
    agreement_id, run_id = queued(engine)  # its replica died before claiming it
    assert recover_interrupted(engine, b).failed == []  # young: being claimed, perhaps
    wait_past(engine, row(engine, run_id).created_at + b.ttl)
    assert recover_interrupted(engine, b).failed == [run_id]
    takeover = audit(engine, agreement_id)[0]
    assert takeover == (
        "run.takeover",
        {"run": run_id, "lease_owner": None, "reason": NEVER_LEASED, "taken_by": b.owner},
    )


def test_a_released_lease_is_taken_over_at_the_next_look(engine):
    a, b = other_replica(engine, 3600), RunLeases(engine, 3600)
    _, run_id = queued(engine)
    assert a.claim(run_id)
    assert recover_interrupted(engine, b).failed == []
    assert a.release() == 1  # A stops gracefully
    wait_past(engine, row(engine, run_id).lease_expires_at)
    assert recover_interrupted(engine, b).failed == [run_id]


def test_the_keeper_renews_its_leases_and_settles_the_abandoned(engine):
    mine, gone = RunLeases(engine, 1), other_replica(engine, 1)
    _, kept = queued(engine)
    _, lost = queued(engine)
    assert mine.claim(kept) and gone.claim(lost)
    first = row(engine, kept).lease_expires_at
    keeper = LeaseKeeper(mine, lambda: recover_interrupted(engine, mine)).start()
    try:
        deadline = time.monotonic() + 60
        while row(engine, lost).status != "failed":
            assert time.monotonic() < deadline, "the keeper did not settle an expired lease"
            time.sleep(0.05)
        wait_past(engine, first + mine.ttl)  # two leases' time: renewed, or lost by now
        assert row(engine, kept).status == "queued"
        assert row(engine, kept).lease_expires_at > first
    finally:
        keeper.stop()


def test_a_second_run_of_an_agreement_is_refused(engine):
    agreement_id, run_id = queued(engine)
    _, agency_id = new_agreement(engine)
    with pytest.raises(ServiceError) as refused, engine.begin() as conn:
        queue_run(conn, agreement_id, agency_id)
    assert refused.value.status == 409 and run_id in refused.value.detail


def test_two_replicas_queueing_at_once_queue_one_run(engine):
    """PostgreSQL: the second waits on the agreement's lock until the first commits, then
    sees its run (each checked before queueing, and found none)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's one writer serialises the two transactions by itself")
    agreement_id, agency_id = new_agreement(engine)
    outcome: list[object] = []
    first = engine.connect()
    transaction = first.begin()
    try:
        queue_run(first, agreement_id, agency_id)

        def second() -> None:
            try:
                with engine.begin() as conn:
                    outcome.append(queue_run(conn, agreement_id, agency_id))
            except ServiceError as e:
                outcome.append(e)

        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 60
        key = _lock_key(agreement_id) & 0xFFFF_FFFF_FFFF_FFFF
        waiting = sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT "
            "granted AND classid::bigint = :hi AND objid::bigint = :lo"
        )
        waiting = waiting.bindparams(hi=key >> 32, lo=key & 0xFFFF_FFFF)
        while True:  # until the second waits for the lock the first holds
            with engine.connect() as conn:
                if conn.execute(waiting).scalar_one() > 0:
                    break
            assert time.monotonic() < deadline and thread.is_alive(), outcome
            time.sleep(0.05)
        transaction.commit()
    finally:
        first.close()
    thread.join(timeout=60)
    (refused,) = outcome
    assert isinstance(refused, ServiceError) and refused.status == 409, refused
    with engine.connect() as conn:
        count = sa.select(sa.func.count()).where(runs.c.agreement_id == agreement_id)
        assert conn.execute(count).scalar_one() == 1
