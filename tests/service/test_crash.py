"""A server killed (SIGKILL, with its Ray) in the middle of a run, and started again on the
same database: the run reads failed with a message, the uploads are all there (one of them
accepted while the run was going), a new run links every record. A second run while one is
active is refused (409). SIGTERM stops the server gracefully. This runs on the shared
server of each backend, which carries on.

2,000 + 2,000 FEBRL4 records make the run last long enough to be caught running (the
first Ray task of a fresh server alone takes a second or more).
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from service._tables import batch_records, batches, runs
from service.client import ClientError
from tests.service.conftest import agreement_body, encode_file

AGENCIES = ("agency-a", "agency-b")


def _wait_running(client, agreement_id: str, run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (run := client.run(agreement_id, run_id))["status"] == "queued":
        assert time.monotonic() < deadline, run
        time.sleep(0.02)
    return run


N = 2000
LATE = 50  # agency-b records uploaded while the run is going, before the crash


@pytest.fixture(scope="session")
def registers(febrl4, febrl_schema, secret, tmp_path_factory) -> dict:
    """The first N true pairs of FEBRL4 as two agencies' registers, and LATE more records
    of agency-b, encoded once."""
    workdir = tmp_path_factory.mktemp("crash-files")
    pairs = febrl4.true_pairs.head(N)
    a = febrl4.a[febrl4.a["record_ref"].isin(pairs["ref_a"])]
    b = febrl4.b[febrl4.b["record_ref"].isin(pairs["ref_b"])]
    late = febrl4.b[~febrl4.b["record_ref"].isin(pairs["ref_b"])].head(LATE)
    files = {agency: encode_file(df, febrl_schema, secret, agency, workdir / f"{agency}.parquet")
             for agency, df in zip(AGENCIES, (a, b), strict=True)}  # fmt: skip
    files["late"] = encode_file(late, febrl_schema, secret, "agency-b", workdir / "late.parquet")
    return {"files": files, "pairs": pairs,
            "refs": {"agency-a": list(a["record_ref"]),
                     "agency-b": [*b["record_ref"], *late["record_ref"]]}}  # fmt: skip


@pytest.fixture(scope="module")
def crashed(world, registers, febrl_schema):
    """On the shared server: a FEBRL agreement of agency-a and agency-b, uploaded; a run
    started and caught running; the server SIGKILLed with its Ray, and started again."""
    service, server, keys = world.service, world.service.server, world.keys
    with service.client() as steward:
        body = agreement_body(febrl_schema, list(AGENCIES), name="crash")
        agreement_id = steward.create_agreement(**body)["agreement_id"]
    uploaded = {}
    for agency in AGENCIES:
        with service.client(keys[agency]) as c:
            uploaded[agency] = c.upload(agreement_id, registers["files"][agency])
    with service.client(keys["agency-a"]) as c:
        run_id = c.start_run(agreement_id)["run_id"]
        seen = _wait_running(c, agreement_id, run_id)
        try:
            c.start_run(agreement_id)
            second: ClientError | None = None
        except ClientError as e:
            second = e
    with service.client(keys["agency-b"]) as c:  # accepted while the run is going
        late = c.upload(agreement_id, registers["files"]["late"])
        server.kill()  # the server, its Ray, everything in its process group
    with service.db.engine.connect() as conn:
        at_kill = conn.execute(runs.select().where(runs.c.id == run_id)).one()
    server.start()  # same database, same port: the other tests carry on with it
    return SimpleNamespace(server=server, db=service.db, agreement_id=agreement_id, keys=keys,
                           steward_key=service.steward_key, uploaded=uploaded, run_id=run_id,
                           seen=seen, second=second, at_kill=at_kill, late=late,
                           **registers)  # fmt: skip


def test_a_second_run_while_one_is_active_is_refused(crashed):
    assert crashed.seen["status"] == "running"
    assert crashed.second is not None, "a second run was accepted while one was running"
    assert crashed.second.status == 409 and crashed.second.error == "conflict"
    assert crashed.run_id in crashed.second.detail


def test_the_run_was_cut_off_while_running(crashed):
    assert crashed.at_kill.status == "running", crashed.at_kill  # killed in the middle
    assert crashed.at_kill.finished_at is None


def test_the_interrupted_run_reads_failed_with_a_message(crashed):
    with crashed.server.client(crashed.keys["agency-b"]) as c:
        run = c.run(crashed.agreement_id, crashed.run_id)
    assert run["status"] == "failed"
    assert run["error"] and "start a new run" in run["error"].lower()
    assert run["finished_at"] is not None


def test_every_accepted_upload_survives(crashed):
    assert crashed.late["status"] == "pending" and crashed.late["record_count"] == LATE
    first = {a: crashed.uploaded[a]["batch_id"] for a in AGENCIES}
    expected = {"agency-a": [first["agency-a"]], "agency-b": [first["agency-b"],
                                                            crashed.late["batch_id"]]}  # fmt: skip
    for agency in AGENCIES:
        with crashed.server.client(crashed.keys[agency]) as c:
            listed = c.batches(crashed.agreement_id)
            page = c.cases(crashed.agreement_id, limit=1)
        assert sorted(b["batch_id"] for b in listed) == sorted(expected[agency])
        assert all(b["status"] == "pending" for b in listed)
        assert (
            page["pending_records"]
            == len(crashed.refs[agency])
            == sum(b["record_count"] for b in listed)
        )
    db = crashed.db
    assert db.count(batches, batches.c.agreement_id == crashed.agreement_id) == 3
    with_filters = db.count(batch_records, batch_records.c.agreement_id == crashed.agreement_id,
                            batch_records.c.bloom.is_not(None))  # fmt: skip
    assert with_filters == 2 * N + LATE


def test_a_new_run_links_every_record(crashed):
    agreement_id = crashed.agreement_id
    with crashed.server.client(crashed.keys["agency-b"]) as c:
        run = c.wait_run(agreement_id, c.start_run(agreement_id)["run_id"], timeout=300,
                         poll=0.2)  # fmt: skip
    assert run["status"] == "succeeded", run
    assert run["stats"]["new_records"] == 2 * N + LATE
    cases = {}
    for agency in AGENCIES:
        with crashed.server.client(crashed.keys[agency]) as c:
            rows = list(c.iter_cases(agreement_id))
            assert c.cases(agreement_id, limit=1)["pending_records"] == 0
        assert sorted(r["record_ref"] for r in rows) == sorted(crashed.refs[agency])
        cases[agency] = {r["record_ref"]: r["case_id"] for r in rows}
    pairs = crashed.pairs
    same = sum(cases["agency-a"][a] == cases["agency-b"][b]
               for a, b in zip(pairs["ref_a"], pairs["ref_b"], strict=True))  # fmt: skip
    assert same / len(pairs) > 0.9
    with crashed.server.client(crashed.steward_key) as steward:
        check = steward.verify_audit(agreement_id)
        actions = [e["action"] for e in steward.audit(agreement_id)["items"]]
    assert check["ok"], check["problems"]
    assert "run.interrupted" in actions


def test_sigterm_stops_the_server_gracefully(service):
    """Run last on each backend (see conftest): it stops the shared server."""
    server = service.server
    pgid = server.proc.pid
    returncode = server.terminate(timeout=60)
    err = server.stderr()
    assert "Shutting down" in err, err[-3000:]
    shutdown = err[err.rindex("Shutting down") :]
    assert "Traceback" not in shutdown and "Error" not in shutdown, shutdown
    assert "Application shutdown complete" in shutdown
    deadline = time.monotonic() + 20
    while True:  # Ray went with it: nothing is left in the server's process group
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "processes of the server's group outlived it"
        time.sleep(0.2)
    assert returncode == 0, f"caselink serve exited with {returncode} after SIGTERM"
