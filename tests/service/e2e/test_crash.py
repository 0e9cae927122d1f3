"""Crash safety, deterministically: the server kills itself (SIGKILL, with its process group)
at a named fault point (service/_faults.py), and is started again on the same database.

At every point the invariants hold: every upload answered 201 is there; nothing is linked
twice (each ref once in the registry, every record of an agency with a case once linked);
the run's status and the audit tell the truth (the chain verifies; a run stored before the
kill reads succeeded, one that was not reads failed and kept nothing); a new run links what
is still pending; an upload body left by the kill is removed at start-up. A run held at a
pause point makes a second run's 409 deterministic. No test waits for a lucky moment: the
server dies where the faults file says, and the test waits for it to have died.

Each backend has one server (its own database, the faults file set) for this module; each
test makes its own agreement, and starts the server if it is stopped (:meth:`Site.running`).

The server's Ray, as each test asks for it. A Ray of its own, which the server starts and
which dies with it, as on one host without ``CASELINK_RAY_ADDRESS``: per backend,
test_a_run_killed_with_the_servers_own_ray_is_kept_whole (the kill at ``run.committed``
takes the server's Ray too, and the server starts a new one; the run's task read and sealed
the run's records itself, on SQLite too: :mod:`service._run_inputs`) and
test_sigterm_stops_the_server_gracefully (Ray stops with the server). Every other test: the
test process's Ray (``ray_session``), which the server joins as a deployment with
``CASELINK_RAY_ADDRESS`` does: a kill takes the server and the cluster lives on, and a start
does not wait for a Ray to start (on SQLite such a server reads a run's records itself and
hands them to the run's task). Either way a kill leaves nothing of the server's process
group. The order saves starts, nothing depends on it: the two tests of the server's own Ray
first (the module's first server has one), then the memory budget's (it starts the server,
which the SIGTERM test left stopped, with its budget), then the rest.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from linkage._registry import records_table
from service._tables import audit_entries, batch_records, batches
from service.client import Client, ClientError
from tests.service.servers import (
    BACKENDS,
    Database,
    Server,
    agreement_body,
    encode_file,
    make_database,
    ray_settings,
    started_with_keys,
)

AGENCIES = ("agency-a", "agency-b")
RUN_POINTS = ("run.linked", "run.filters_kept", "run.committed", "run.indexed")
OWN_RAY_POINT = "run.committed"  # the run point whose server has (and loses) a Ray of its own
WITHDRAW_POINTS = ("withdraw.before_commit", "withdraw.committed")


@dataclass
class Site:
    """One server on its own database, with fault points, and what the tests send it."""

    server: Server
    db: Database
    faults: Path
    uploads: Path  # the upload directory the service derives from its database URL
    steward: str
    admin: str
    keys: dict[str, str]
    files: dict[str, Path]  # agency-a, agency-b, late (more agency-b records)
    refs: dict[str, list[str]]  # file name -> its record refs
    shared_ray: str  # the address of the Ray a server joins unless it has one of its own
    own_ray: bool  # the server starts a Ray of its own (else it joins shared_ray)

    def running(self, own_ray: bool) -> None:
        """The server running with a Ray of its own (``own_ray``: it starts one, which dies
        with it) or joined to the shared Ray: started if it is stopped, stopped first if it
        runs with the other Ray. Every later start keeps that Ray."""
        if self._alive() and own_ray == self.own_ray:
            return
        self.stop()
        for name in {**ray_settings(None), **ray_settings(self.shared_ray)}:
            self.server.env.pop(name, None)
        self.server.env.update(ray_settings(None if own_ray else self.shared_ray))
        self.own_ray = own_ray
        self.restart()

    def stop(self) -> None:
        """Stop the server (SIGTERM) if it runs."""
        if self._alive():
            self.server.terminate()

    def _alive(self) -> bool:
        return self.server.proc is not None and self.server.proc.poll() is None

    def client(self, agency: str | None = None) -> Client:
        return self.server.client(self.keys[agency] if agency else self.steward)

    def agreement(self, schema, name: str) -> str:
        with self.client() as c:
            return c.create_agreement(**agreement_body(schema, list(AGENCIES), name=name))[
                "agreement_id"
            ]

    def upload(self, agreement: str, name: str) -> dict:
        agency = "agency-b" if name == "late" else name
        with self.client(agency) as c:
            stored = c.upload(agreement, self.files[name])
        assert stored["record_count"] == len(self.refs[name])
        return stored

    def everything(self) -> dict[str, list[str]]:
        """Every ref of every file, per agency."""
        return {
            "agency-a": self.refs["agency-a"],
            "agency-b": self.refs["agency-b"] + self.refs["late"],
        }

    def start_run(self, agreement: str) -> dict:
        with self.client("agency-a") as c:
            return c.start_run(agreement)

    def withdraw(self, agreement: str, ref: str) -> dict:
        with self.client("agency-a") as c:
            return c.withdraw(agreement, ref, "consent")

    def crash(self, point: str, act: Callable[[], Any]) -> Any:
        """Arm ``point``, ``act``, see the server die there with its whole process group;
        disarm (the test starts it again). Returns what ``act`` returned, or the ClientError
        it raised."""
        self.faults.write_text(f"kill {point}\n")
        try:
            outcome = act()
        except ClientError as e:
            assert e.status == 0, e  # the connection dropped: the server is gone
            outcome = e
        assert self.server.proc is not None
        returncode = self.server.proc.wait(timeout=600)  # it dies at the point, whenever
        assert returncode == -signal.SIGKILL, self.server.stderr()[-3000:]
        assert f"fault point {point}" in self.server.stderr()
        assert _group_ended(self.server.proc.pid), "processes of the server's group outlived it"
        self.faults.unlink()
        return outcome

    def restart(self) -> None:
        """Start the server again, with the Ray it had; generous with time (a busy machine
        starts Ray slowly)."""
        self.server.launch()
        self.server.wait_ready(timeout=600)

    def registry(self, agreement: str) -> pd.DataFrame:
        r = records_table.c
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.agency, r.record_ref, r.case_id).where(r.scope == agreement)
            ).all()
        return pd.DataFrame(rows, columns=["agency", "record_ref", "case_id"])

    def batch_rows(self, agreement: str) -> dict[str, Any]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(batches).where(batches.c.agreement_id == agreement)).all()
        return {r.id: r for r in rows}

    def audit(self, agreement: str, action: str) -> list[dict]:
        e = audit_entries.c
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(audit_entries).where(e.scope == agreement, e.action == action)
            ).mappings()
            return [dict(r) | {"details": json.loads(r["details"])} for r in rows]

    def audit_verifies(self, agreement: str) -> None:
        with self.client() as c:
            check = c.verify_audit(agreement)
        with self.server.client(self.admin) as c:  # the service chain is the operator's
            service_chain = c.verify_audit()
        assert check["ok"], check["problems"]
        assert service_chain["ok"], service_chain["problems"]


def _group_ended(pgid: int, timeout: float = 300) -> bool:
    """Whether every process of the group ``pgid`` has ended within ``timeout`` seconds
    (generous: SIGKILLed processes end at once, but a busy machine reaps them late)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def _registers() -> dict[str, pd.DataFrame]:
    from evaluation import generate_synthetic

    data = generate_synthetic(160, 2, seed=5)
    a, b = data.agencies["agency-a"], data.agencies["agency-b"]
    return {"agency-a": a, "agency-b": b.iloc[:-20], "late": b.iloc[-20:]}


@pytest.fixture(scope="module", params=BACKENDS)
def site(request, tmp_path_factory, person_schema, secret, ray_session) -> Iterator[Site]:
    kind = request.param
    workdir = tmp_path_factory.mktemp(f"crash-{kind}")
    faults = workdir / "faults"
    with make_database(kind, request, workdir) as db:
        server = Server(db, workdir, name="crash", ray=None, CASELINK_TEST_FAULTS_FILE=str(faults))
        try:
            admin, keys, steward = started_with_keys(server, AGENCIES)
            frames = _registers()
            files = {
                name: encode_file(
                    df,
                    person_schema,
                    secret,
                    "agency-b" if name == "late" else name,
                    workdir / f"{name}.parquet",
                )
                for name, df in frames.items()
            }
            refs = {name: list(df["record_ref"]) for name, df in frames.items()}
            uploads = (
                (workdir / "caselink.db-uploads")
                if kind == "sqlite"
                else (workdir / "caselink-uploads")
            )
            ray = ray_session.address  # the Ray servers join; ray=None above: this one has its own
            yield Site(server, db, faults, uploads, steward, admin, keys, files, refs, ray, True)
        finally:
            server.cleanup()


def _linked_once(site: Site, agreement: str, expected: dict[str, list[str]]) -> None:
    """Each expected ref is in the registry exactly once, nothing else is, and each agency
    reads a case for every one of its records."""
    reg = site.registry(agreement)
    assert not reg.duplicated(["agency", "record_ref"]).any(), "a record was linked twice"
    held = {a: sorted(reg[reg.agency == a]["record_ref"]) for a in AGENCIES}
    assert held == {a: sorted(expected[a]) for a in AGENCIES}
    for agency in AGENCIES:
        with site.client(agency) as c:
            rows = list(c.iter_cases(agreement))
            assert c.cases(agreement, limit=1)["pending_records"] == 0
        assert sorted(r["record_ref"] for r in rows) == sorted(expected[agency])
        assert all(r["case_id"] for r in rows)


def _run(site: Site, agreement: str) -> dict:
    with site.client("agency-a") as c:
        run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=300, poll=0.2)
    assert run["status"] == "succeeded", run
    return run


def _killed_run(site: Site, schema, point: str) -> None:
    """A run killed at ``point`` is kept whole (its transaction landed) or not at all, and a
    new run links what is still pending."""
    agreement = site.agreement(schema, point)
    accepted = [site.upload(agreement, a)["batch_id"] for a in AGENCIES]
    started = site.crash(point, lambda: site.start_run(agreement))
    run_id = started["run_id"]
    site.restart()
    with site.client("agency-a") as c:
        run = c.run(agreement, run_id)
    rows = site.batch_rows(agreement)
    assert set(accepted) <= set(rows)
    stored = point != "run.linked"
    if stored:  # the transaction landed: the run reads succeeded, with a note
        assert run["status"] == "succeeded" and run["error"] is None, run
        assert "service stopped" in run["stats"]["note"]
        assert run["stats"]["new_records"] == len(site.refs["agency-a"] + site.refs["agency-b"])
        assert all(rows[b].status == "linked" and rows[b].linked_by_run == run_id for b in accepted)
        (finish,) = site.audit(agreement, "run.finish")
        assert finish["details"]["run"] == run_id and finish["details"]["status"] == "succeeded"
        (recovered,) = site.audit(agreement, "run.recovered")
        assert recovered["details"] == {"run": run_id, "status": "succeeded"}
        _linked_once(site, agreement, {a: site.refs[a] for a in AGENCIES})
        with site.db.engine.connect() as conn:  # the registry holds the filters; batches don't
            kept = conn.execute(
                sa.select(sa.func.count()).where(
                    batch_records.c.batch_id.in_(accepted), batch_records.c.bloom.is_not(None)
                )
            )
            assert kept.scalar_one() == 0
    else:  # killed before it: nothing of the run was kept
        assert run["status"] == "failed", run
        assert "nothing of it was kept" in run["error"] and "Start a new run" in run["error"]
        assert all(rows[b].status == "pending" for b in accepted)
        assert site.registry(agreement).empty
        assert site.audit(agreement, "run.finish") == []
        (interrupted,) = site.audit(agreement, "run.interrupted")
        assert interrupted["details"] == {"run": run_id}
    site.audit_verifies(agreement)

    site.upload(agreement, "late")
    again = _run(site, agreement)
    pending = len(site.refs["late"]) + (
        0 if stored else len(site.refs["agency-a"]) + len(site.refs["agency-b"])
    )
    assert again["stats"]["new_records"] == pending
    _linked_once(site, agreement, site.everything())
    site.audit_verifies(agreement)


# -- a kill with the server's own Ray -------------------------------------------------------
def test_a_run_killed_with_the_servers_own_ray_is_kept_whole(site, person_schema):
    """The kill at OWN_RAY_POINT takes the server's own Ray with it (its process group
    empties); the server starts a new Ray, and the run is kept whole (the other points:
    test_a_run_killed_at_each_point_is_kept_whole_or_not_at_all)."""
    site.running(own_ray=True)
    assert "Ray started locally" in site.server.stderr()  # the server about to be killed
    _killed_run(site, person_schema, OWN_RAY_POINT)
    assert "Ray started locally" in site.server.stderr()  # the one started after the kill


# -- graceful stop --------------------------------------------------------------------------
def test_sigterm_stops_the_server_gracefully(site):
    """SIGTERM: uvicorn's graceful stop, its own Ray with it; the next test starts the server
    again (:meth:`Site.running`)."""
    site.running(own_ray=True)
    server = site.server
    assert server.proc is not None
    pgid = server.proc.pid
    returncode = server.terminate(timeout=60)
    err = server.stderr()
    ended = _group_ended(pgid)  # Ray goes with it: the group empties
    assert "Ray started locally" in err  # its own Ray
    assert "Shutting down" in err, err[-3000:]
    shutdown = err[err.rindex("Shutting down") :]
    assert "Traceback" not in shutdown and "Error" not in shutdown, shutdown
    assert "Application shutdown complete" in shutdown
    assert ended, "processes of the server's group outlived it"
    assert returncode == 0, f"caselink serve exited with {returncode} after SIGTERM"


# -- memory budget (after SIGTERM, which leaves the server stopped for it) ------------------
def test_a_run_past_its_memory_budget_fails_saying_so_and_the_service_carries_on(
    site, person_schema
):
    """With CASELINK_RUN_MEMORY_GIB below what linking needs, the run fails with that reason,
    stores nothing and leaves its batches pending; the service keeps answering, and with the
    budget back the same batches link."""
    site.stop()
    site.server.env["CASELINK_RUN_MEMORY_GIB"] = "0.001"
    try:
        site.running(own_ray=False)
        agreement = site.agreement(person_schema, "memory budget")
        accepted = [site.upload(agreement, a)["batch_id"] for a in AGENCIES]
        with site.client("agency-a") as c:
            run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=300, poll=0.2)
            assert run["status"] == "failed", run
            assert "memory budget of 0.001 GiB" in run["error"], run
            assert "CASELINK_RUN_MEMORY_GIB" in run["error"]
            assert {b["status"] for b in c.batches(agreement)} == {"pending"}
        assert site.registry(agreement).empty
        assert site.server.proc is not None and site.server.proc.poll() is None
    finally:
        site.stop()
        del site.server.env["CASELINK_RUN_MEMORY_GIB"]
        site.restart()
    again = _run(site, agreement)
    assert again["stats"]["new_records"] == sum(len(site.refs[a]) for a in AGENCIES)
    assert {r.status for b, r in site.batch_rows(agreement).items() if b in accepted} == {"linked"}


# -- runs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("point", [p for p in RUN_POINTS if p != OWN_RAY_POINT])
def test_a_run_killed_at_each_point_is_kept_whole_or_not_at_all(site, person_schema, point):
    site.running(own_ray=False)
    _killed_run(site, person_schema, point)


def test_a_second_run_while_one_is_active_is_refused(site, person_schema):
    """The first run is held at a pause point, so it is active for certain when the second
    is asked for; a kill then keeps nothing of it, and uploads accepted meanwhile survive."""
    site.running(own_ray=False)
    agreement = site.agreement(person_schema, "held run")
    accepted = [site.upload(agreement, a)["batch_id"] for a in AGENCIES]
    site.faults.write_text("pause run.linked\n")
    with site.client("agency-a") as c:
        run_id = c.start_run(agreement)["run_id"]
        with pytest.raises(ClientError) as second:
            c.start_run(agreement)
        with pytest.raises(ClientError) as withdrawal:
            c.withdraw(agreement, site.refs["agency-a"][0], "consent")
    assert (second.value.status, second.value.error) == (409, "conflict")
    assert run_id in second.value.detail
    assert withdrawal.value.status == 409 and run_id in withdrawal.value.detail
    accepted.append(site.upload(agreement, "late")["batch_id"])  # while the run is held
    site.server.kill()
    site.faults.unlink()
    site.restart()
    with site.client("agency-b") as c:
        run = c.run(agreement, run_id)
        listed = c.batches(agreement)
    assert run["status"] == "failed" and "Start a new run" in run["error"]
    assert run["finished_at"] is not None
    rows = site.batch_rows(agreement)
    assert sorted(rows) == sorted(accepted) and {r.status for r in rows.values()} == {"pending"}
    assert {b["batch_id"] for b in listed} == set(accepted[1:])
    again = _run(site, agreement)
    assert again["stats"]["new_records"] == sum(len(site.refs[n]) for n in site.refs)
    _linked_once(site, agreement, site.everything())
    site.audit_verifies(agreement)


# -- uploads --------------------------------------------------------------------------------
def test_killed_with_the_body_stored_nothing_is_kept_and_the_body_is_removed(site, person_schema):
    site.running(own_ray=False)
    agreement = site.agreement(person_schema, "upload received")
    site.crash("upload.received", lambda: site.upload(agreement, "agency-a"))
    left = list(site.uploads.glob("caselink-upload-*"))
    assert left and any(p.glob("*.parquet") for p in left), "the kill left no body behind"
    site.restart()
    assert site.uploads.is_dir() and not list(site.uploads.glob("caselink-upload-*"))
    assert site.batch_rows(agreement) == {}  # never answered 201: not accepted, not stored
    assert site.audit(agreement, "batch.upload") == []
    again = site.upload(agreement, "agency-a")
    assert again["duplicate"] is False and again["status"] == "pending"
    site.audit_verifies(agreement)


def test_killed_after_the_upload_committed_the_batch_is_kept(site, person_schema):
    site.running(own_ray=False)
    agreement = site.agreement(person_schema, "upload committed")
    site.crash("upload.committed", lambda: site.upload(agreement, "agency-a"))
    site.restart()
    (row,) = site.batch_rows(agreement).values()
    assert row.status == "pending" and row.record_count == len(site.refs["agency-a"])
    again = site.upload(agreement, "agency-a")  # the client's retry: the same batch
    assert again["duplicate"] is True and again["batch_id"] == row.id
    with site.db.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).where(batch_records.c.batch_id == row.id))
        assert n.scalar_one() == len(site.refs["agency-a"])
    site.audit_verifies(agreement)


# -- withdrawals ----------------------------------------------------------------------------
@pytest.mark.parametrize("point", WITHDRAW_POINTS)
def test_a_withdrawal_killed_at_each_point_is_kept_whole_or_not_at_all(site, person_schema, point):
    site.running(own_ray=False)
    agreement = site.agreement(person_schema, point)
    for agency in AGENCIES:
        site.upload(agreement, agency)
    _run(site, agreement)
    ref = site.refs["agency-a"][0]
    site.crash(point, lambda: site.withdraw(agreement, ref))
    site.restart()
    committed = point == "withdraw.committed"
    reg = site.registry(agreement)
    held = set(reg[reg.agency == "agency-a"]["record_ref"])
    assert (ref in held) is not committed
    ok = [e for e in site.audit(agreement, "record.withdraw") if e["outcome"] == "ok"]
    assert len(ok) == (1 if committed else 0)
    with site.db.engine.connect() as conn:
        br = batch_records.c
        q = sa.select(sa.func.count()).where(br.agreement_id == agreement, br.record_ref == ref)
        left = conn.execute(q)
        assert left.scalar_one() == (0 if committed else 1)
    with site.client("agency-a") as c:
        if committed:
            with pytest.raises(ClientError) as e:
                c.withdraw(agreement, ref, "consent")
            assert e.value.status == 404
        else:
            assert c.withdraw(agreement, ref, "consent")["record_ref"] == ref
    rest = [r for r in site.refs["agency-a"] if r != ref]
    _linked_once(site, agreement, {"agency-a": rest, "agency-b": site.refs["agency-b"]})
    site.audit_verifies(agreement)
