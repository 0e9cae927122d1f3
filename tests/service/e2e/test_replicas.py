"""Two replicas — two real ``caselink serve`` processes — on one PostgreSQL database.

Exactly one replica executes a run: the one that queued it, under a lease it renews
(service/_runlease.py). A replica starting up leaves the other's live run alone; when the
other dies (SIGKILL) or stops renewing (its heartbeat held at the fault point
``lease.heartbeat``), the survivor settles the run as interrupted, audits the takeover, and
the late owner stores nothing. Two replicas asked at once queue one run.

Nothing waits for a lucky moment: a run is held at the fault point ``run.linked`` and the
test waits for the server's log to say so; a check that a live lease is not taken waits until
the database's clock is past the lease as first seen by a full lease's time (every replica
looked several times by then); a takeover is waited for with a generous deadline.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from linkage._registry import records_table
from service._runlease import EXPIRED, OWNER_GONE, db_now
from service._tables import audit_entries, batches, runs
from service.client import Client, ClientError
from tests.service.servers import (
    Database,
    Server,
    agreement_body,
    encode_file,
    make_database,
    started_with_keys,
)

AGENCIES = ("agency-a", "agency-b")
LEASE = 6.0  # seconds: renewed every 2 s
HELD = "fault point run.linked"


@dataclass
class Pair:
    """Replicas ``a`` (with fault points) and ``b`` on one database, and what tests send."""

    db: Database
    a: Server
    b: Server
    faults: Path  # a's
    steward: str
    admin: str
    keys: dict[str, str]
    files: dict[str, Path]
    refs: dict[str, list[str]]

    def up(self, server: Server) -> Server:
        if server.proc is None or server.proc.poll() is not None:
            server.launch()
            server.wait_ready(timeout=600)  # a busy machine starts Ray slowly
        return server

    def client(self, server: Server, agency: str | None = None) -> Client:
        return server.client(self.keys[agency] if agency else self.steward)

    def agreement(self, server: Server, schema, name: str) -> str:
        with self.client(server) as c:
            body = agreement_body(schema, list(AGENCIES), name=name)
            agreement = c.create_agreement(**body)["agreement_id"]
        for agency in AGENCIES:
            with self.client(server, agency) as c:
                c.upload(agreement, self.files[agency])
        return agreement

    def run(self, run_id: str) -> Any:
        with self.db.engine.connect() as conn:
            return conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()

    def settled(self, run_id: str, timeout: float = 180) -> Any:
        """The run once no longer active (another replica settled it)."""
        deadline = time.monotonic() + timeout
        while (row := self.run(run_id)).status in ("queued", "running"):
            assert time.monotonic() < deadline, f"nobody settled {run_id}: {row}"
            time.sleep(0.2)
        return row

    def held(self, server: Server, timeout: float = 600) -> None:
        """Until ``server`` says its run is held at ``run.linked``."""
        deadline = time.monotonic() + timeout
        while HELD not in server.stderr():
            assert server.proc is not None and server.proc.poll() is None, server.stderr()[-3000:]
            assert time.monotonic() < deadline, "the run never reached run.linked"
            time.sleep(0.2)

    def audit(self, agreement: str, action: str) -> list[dict]:
        e = audit_entries.c
        with self.db.engine.connect() as conn:
            found = sa.select(e.details).where(e.scope == agreement, e.action == action)
            rows = conn.execute(found.order_by(e.seq)).scalars()
            return [json.loads(d) for d in rows]

    def nothing_stored(self, agreement: str) -> None:
        with self.db.engine.connect() as conn:
            left = conn.execute(
                sa.select(batches.c.status).where(batches.c.agreement_id == agreement)
            ).scalars()
            assert set(left) == {"pending"}
            held = sa.select(sa.func.count()).where(records_table.c.scope == agreement)
            assert conn.execute(held).scalar_one() == 0
        assert self.audit(agreement, "run.finish") == []

    def links_once(self, server: Server, agreement: str) -> None:
        """A new run on ``server`` links every record, each once; the audit verifies."""
        with self.client(server, "agency-a") as c:
            run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=300, poll=0.2)
        assert run["status"] == "succeeded", run
        r = records_table.c
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(r.agency, r.record_ref).where(r.scope == agreement))
            held = pd.DataFrame(rows.all(), columns=["agency", "record_ref"])
        assert not held.duplicated().any(), "a record was linked twice"
        assert {a: sorted(held[held.agency == a].record_ref) for a in AGENCIES} == {
            a: sorted(self.refs[a]) for a in AGENCIES
        }
        with self.client(server) as c:
            check = c.verify_audit(agreement)
        assert check["ok"], check["problems"]


@pytest.fixture(scope="module")
def pair(request, tmp_path_factory, person_schema, secret) -> Iterator[Pair]:
    from evaluation import generate_synthetic

    workdir = tmp_path_factory.mktemp("replicas")
    faults = workdir / "faults"
    shared = {
        "CASELINK_RUN_LEASE_SECONDS": str(LEASE),
        "CASELINK_DATA_KEY_FILE": str(workdir / "data-keys"),
    }
    with make_database("postgresql", request, workdir) as db:  # skips without PostgreSQL
        a_dir, b_dir = workdir / "a", workdir / "b"
        a_dir.mkdir(), b_dir.mkdir()
        a = Server(db, a_dir, name="a", ray=None, CASELINK_TEST_FAULTS_FILE=str(faults), **shared)
        b = Server(db, b_dir, name="b", ray=None, **shared)
        try:
            admin, keys, steward = started_with_keys(a, AGENCIES)
            data = generate_synthetic(80, 2, seed=13)
            files = {
                ag: encode_file(
                    data.agencies[ag], person_schema, secret, ag, workdir / f"{ag}.parquet"
                )
                for ag in AGENCIES
            }
            refs = {ag: list(data.agencies[ag]["record_ref"]) for ag in AGENCIES}
            yield Pair(db, a, b, faults, steward, admin, keys, files, refs)
        finally:
            a.cleanup()
            b.cleanup()


def test_a_starting_replica_leaves_a_live_run_alone_and_takes_it_over_when_its_replica_dies(
    pair, person_schema
):
    a = pair.up(pair.a)
    if pair.b.proc is not None:
        pair.b.terminate()  # b starts up while a's run is live
    agreement = pair.agreement(a, person_schema, "replica killed")
    pair.faults.write_text("pause run.linked\n")
    with pair.client(a, "agency-a") as c:
        run_id = c.start_run(agreement)["run_id"]
    pair.held(a)
    first = pair.run(run_id)
    assert (first.status, first.stage) == ("running", "linking")

    b = pair.up(pair.b)  # its start-up settles what no live replica holds: not this run
    live = pair.run(run_id)
    assert (live.status, live.lease_owner) == ("running", first.lease_owner)
    with pair.client(b, "agency-b") as c:
        assert c.run(agreement, run_id)["status"] == "running"
        with pytest.raises(ClientError) as second:
            c.start_run(agreement)
    assert second.value.status == 409 and run_id in second.value.detail
    with pair.db.engine.connect() as conn:  # every replica renewed or looked several times
        while db_now(conn) < first.lease_expires_at + timedelta(seconds=LEASE):
            time.sleep(0.2)
    live = pair.run(run_id)
    assert (live.status, live.lease_owner) == ("running", first.lease_owner)
    assert live.lease_expires_at > first.lease_expires_at  # a's heartbeat
    assert pair.audit(agreement, "run.takeover") == []

    a.kill()  # SIGKILL, with its Ray: the run's replica is gone
    pair.faults.unlink()
    settled = pair.settled(run_id)
    assert settled.status == "failed" and "nothing of it was kept" in settled.error
    (takeover,) = pair.audit(agreement, "run.takeover")
    assert takeover["run"] == run_id and takeover["lease_owner"] == first.lease_owner
    assert takeover["reason"] in (OWNER_GONE, EXPIRED)  # on this machine: gone, at once
    assert takeover["taken_by"] not in (None, first.lease_owner)
    assert pair.audit(agreement, "run.interrupted") == [{"run": run_id}]
    pair.nothing_stored(agreement)
    pair.links_once(b, agreement)


def test_a_replica_that_stops_renewing_loses_its_run_and_stores_nothing(pair, person_schema):
    """a lives on, its run held and its heartbeat held: its lease runs out, b settles the run;
    released at shutdown, a's run finds its lease gone and writes nothing."""
    pair.faults.write_text("pause run.linked\npause lease.heartbeat\n")
    a, b = pair.up(pair.a), pair.up(pair.b)
    agreement = pair.agreement(b, person_schema, "replica stalled")
    with pair.client(a, "agency-a") as c:
        run_id = c.start_run(agreement)["run_id"]
    pair.held(a)
    owner = pair.run(run_id).lease_owner
    settled = pair.settled(run_id)
    assert settled.status == "failed" and "nothing of it was kept" in settled.error
    (takeover,) = pair.audit(agreement, "run.takeover")
    assert (takeover["lease_owner"], takeover["reason"]) == (owner, EXPIRED)
    assert a.proc is not None and a.proc.poll() is None  # alive all along

    assert a.terminate(timeout=120) == 0  # lets the held run go on: its next write is fenced
    pair.faults.unlink()
    assert "its lease was lost" in a.stderr(), a.stderr()[-3000:]
    after = pair.run(run_id)
    assert (after.status, after.stage, after.error) == ("failed", "interrupted", settled.error)
    pair.nothing_stored(agreement)
    pair.links_once(b, agreement)


def test_two_replicas_asked_at_once_queue_one_run(pair, person_schema):
    a, b = pair.up(pair.a), pair.up(pair.b)
    agreement = pair.agreement(a, person_schema, "asked twice")
    start = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def ask(name: str, server: Server) -> None:
        with pair.client(server, "agency-a") as c:
            start.wait(timeout=60)
            try:
                answers[name] = c.start_run(agreement)
            except ClientError as e:
                answers[name] = e

    threads = [threading.Thread(target=ask, args=(n, s)) for n, s in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    refused = [e for e in answers.values() if isinstance(e, ClientError)]
    started = [r for r in answers.values() if isinstance(r, dict)]
    assert len(started) + len(refused) == 2, answers
    if len(started) == 2:
        # Both answered 202 only if one request reached its replica after the other's run
        # had finished (a small run on a busy machine): never two runs active at once.
        first, second = sorted(
            (pair.settled(r["run_id"]) for r in started), key=attrgetter("created_at")
        )
        assert first.finished_at <= second.created_at, (first, second)
    else:
        assert refused[0].status == 409 and started[0]["run_id"] in refused[0].detail
    with pair.client(a, "agency-a") as c:
        run = c.wait_run(agreement, started[0]["run_id"], timeout=300, poll=0.2)
    assert run["status"] == "succeeded", run
    with pair.db.engine.connect() as conn:
        count = sa.select(sa.func.count()).where(runs.c.agreement_id == agreement)
        assert conn.execute(count).scalar_one() == len(started)
    assert pair.audit(agreement, "run.takeover") == []


def test_a_record_withdrawn_through_one_replica_is_not_returned_by_the_other(
    pair, person_schema, secret
):
    """b's tracing index heard nothing of a's withdrawal through its own change feed; the
    change number in the database makes b read the record's case again before it answers."""
    from evaluation import generate_synthetic

    a, b = pair.up(pair.a), pair.up(pair.b)
    agreement = pair.agreement(a, person_schema, "withdrawn on a, traced on b")
    with pair.client(a, "agency-a") as c:
        run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=300, poll=0.2)
    assert run["status"] == "succeeded", run
    with b.client(pair.admin) as c:
        tracer = c.create_key("agency-b", "tracer")["api_key"]
    person = generate_synthetic(80, 2, seed=13).agencies["agency-a"].iloc[:1]
    ref = str(person["record_ref"].iloc[0])
    query = encode_file(
        person.assign(record_ref="Q-1"),
        person_schema,
        secret,
        "agency-b",
        pair.faults.parent / "query.parquet",
    )

    def traced() -> dict[str, list[str]]:
        with b.client(tracer) as c:
            (result,) = c.query(agreement, query, purpose="tracing", top_k=10)["results"]
        return {x["case_id"]: x["agencies"] for x in result["candidates"]}

    with pair.client(a, "agency-a") as c:
        case = {x["record_ref"]: x["case_id"] for x in c.cases(agreement)["items"]}[ref]
    assert "agency-a" in traced().get(case, [])  # b's index holds the record
    with pair.client(a, "agency-a") as c:
        receipt = c.withdraw(agreement, ref, "consent")
    assert receipt["former_case_id"] == case
    after = traced()  # at once, through b
    assert "agency-a" not in after.get(case, []), after
