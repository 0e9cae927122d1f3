"""Operations over a real server: Prometheus metrics (behind the metrics token or an admin
key), JSON logs that hold nothing an agency sent, and SQLite backup/restore checked by the
audit chains; on SQLite, a request's key lookup that does not wait for the write lock."""

from __future__ import annotations

import base64
import json
import sqlite3

import pytest

import bloom
from service import Client, ClientError, ServiceProcess
from service._admin import bootstrap_agency, open_database
from service._backup import BackupError, backup, restore
from tests.service import loopback
from tests.service.servers import make_database, ray_settings

METRICS_TOKEN = "ops-metrics-token-0123456789abcdef"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory):
    """A SQLite file, or a fresh schema on the local PostgreSQL (dropped afterwards)."""
    with make_database(request.param, request, tmp_path_factory.mktemp("db")) as db:
        yield db.kind, db.url


@pytest.fixture(scope="module")
def ops(database, tmp_path_factory, febrl4, febrl_schema, secret, ray_session):
    """A server; an admin, a steward, a submitter, one uploaded batch and a finished run."""
    work = tmp_path_factory.mktemp("ops")
    kind, url = database
    engine = open_database(url)
    admin = bootstrap_agency(engine, "operator", "admin").api_key
    steward = bootstrap_agency(engine, "coord", "steward").api_key
    engine.dispose()  # the server opens its own
    env = {
        **ray_settings(ray_session.address),
        "CASELINK_LOG_LEVEL": "DEBUG",
        "CASELINK_METRICS_TOKEN": METRICS_TOKEN,
    }
    svc = ServiceProcess(url, log=work / "service.log", env=env).start()
    batch = bloom.encode(
        febrl4.a.head(300), febrl_schema, secret, agency="aga", id_column="record_ref"
    )
    path = batch.write(work / "aga.parquet")
    try:
        with Client(svc.url, admin) as ad:
            ad.create_agency("aga")
            submitter = ad.create_key("aga", "submitter")["api_key"]
        with Client(svc.url, steward) as st:
            agreement = st.create_agreement(
                name="ops",
                parties=["aga"],
                purposes=["linkage"],
                schema_fingerprint=febrl_schema.fingerprint,
                filter_bits=febrl_schema.filter_bits,
                segments=febrl_schema.layout,
                retention_days=30,
            )["agreement_id"]
        with Client(svc.url, submitter) as c:
            c.upload(agreement, path)
            run = c.wait_run(agreement, c.start_run(agreement)["run_id"], poll=0.3)
            assert run["status"] == "succeeded"
            c.cases(agreement)
            with pytest.raises(ClientError):
                c.summary(agreement)  # a refusal, counted by the metrics
        yield {
            "svc": svc,
            "url": url,
            "kind": kind,
            "work": work,
            "keys": (admin, steward, submitter),
            "batch": batch,
            "agreement": agreement,
            "admin": admin,
        }
    finally:
        svc.stop()


def _running(ops) -> None:
    """Start the server again if a test stopped it (the logs test does, near the end)."""
    if ops["svc"].process is None or ops["svc"].process.poll() is not None:
        ops["svc"].start()


def test_metrics_count_requests_runs_records_and_refusals(ops):
    _running(ops)
    with Client(ops["svc"].url, METRICS_TOKEN) as prometheus:  # the token, sent as a Bearer
        text = prometheus.metrics()
    route = "/v1/agreements/{agreement_id}/batches"
    assert f'caselink_requests_total{{method="POST",route="{route}",status="201"}} 1.0' in text
    assert 'caselink_runs_total{outcome="succeeded"} 1.0' in text
    assert 'caselink_runs_total{outcome="started"} 1.0' in text
    assert "caselink_records_registered 300.0" in text
    assert 'caselink_refusals_total{status="403"} 1.0' in text
    assert "caselink_request_seconds_bucket" in text
    assert ops["agreement"] not in text  # route templates only, never ids


def test_metrics_need_the_metrics_token_or_an_admin_key(ops):
    _running(ops)
    url = f"{ops['svc'].url}/metrics"

    def status(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return loopback.get(url, headers=headers, timeout=30).status_code

    assert status(None) == 401
    assert loopback.get(url, headers={"Authorization": f"Basic {METRICS_TOKEN}"}).status_code == 401
    assert status(METRICS_TOKEN + "x") == 401 and status(METRICS_TOKEN[:-1]) == 401
    _, steward, submitter = ops["keys"]
    assert status(steward) == 403 and status(submitter) == 403  # keys of other roles
    with Client(ops["svc"].url, ops["admin"]) as admin:
        assert "caselink_records_registered" in admin.metrics()
    with Client(ops["svc"].url, steward) as c, pytest.raises(ClientError) as refused:
        c.metrics()
    assert refused.value.status == 403 and "admin" in refused.value.detail
    assert status(METRICS_TOKEN) == 200


def test_the_key_lookup_answers_while_a_writer_holds_the_lock(ops):
    """A request's key lookup is a pure read: on SQLite it must not queue behind a writer.

    Every transaction of the service's own engine starts with ``BEGIN IMMEDIATE``; with the
    lookup on that engine each request waited for whoever held the write lock — a run's
    registry commit, an upload — and past the pool's wait it was a 500 (measured by ``--only
    load``). Here another connection holds the write lock while a request is answered; without
    the plain reader the request would wait for the lock (60 s busy timeout), and the client's
    bound of 45 s fails the test rather than any figure of speed.
    """
    if ops["kind"] != "sqlite":
        pytest.skip("SQLite's one writer; PostgreSQL's readers never wait for one")
    _running(ops)
    writer = sqlite3.connect(
        ops["url"].removeprefix("sqlite:///"), isolation_level=None, timeout=60
    )
    try:
        writer.execute("BEGIN IMMEDIATE")  # the write lock, held
        writer.execute("UPDATE agencies SET name = name")
        r = loopback.get(
            f"{ops['svc'].url}/v1/me",
            headers={"Authorization": f"Bearer {ops['admin']}"},
            timeout=45,
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "admin"


def test_logs_are_json_and_hold_no_key_filter_or_id_value(ops):
    ops["svc"].stop()  # flush everything the server would write
    raw = (ops["work"] / "service.log").read_text()
    lines = [ln for ln in raw.splitlines() if ln.startswith("{")]
    assert len(lines) > 10
    records = [json.loads(ln) for ln in lines]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r.get("logger") == "uvicorn.access" and r.get("status") == 201 for r in records)
    # where it serves, and every run's start and end (the run of the fixture)
    assert any(f"serves at {ops['svc'].url} " in r["message"] for r in records), raw[:2000]
    said = [r["message"] for r in records if r.get("logger") == "service._runs"]
    assert any(m.endswith(" started") for m in said) and any(" succeeded in " in m for m in said)
    for key in ops["keys"]:
        assert key not in raw and key.split("_", 2)[2] not in raw
    assert METRICS_TOKEN not in raw and ops["admin"].split("_", 2)[2] not in raw
    filters = ops["batch"].filters.astype("<u8").tobytes()
    for k in range(0, 300 * 128, 128 * 37):
        one = filters[k : k + 128]
        assert one.hex() not in raw and base64.b64encode(one).decode() not in raw


def _sqlite_only(ops) -> None:
    if ops["kind"] != "sqlite":
        pytest.skip("backup and restore cover SQLite; PostgreSQL uses pg_dump/pg_restore")


def test_backup_is_checked_and_restores(ops, tmp_path):
    _sqlite_only(ops)
    out = tmp_path / "backup.db"
    report = backup(ops["url"], out)
    from alembic.script import ScriptDirectory

    from service._db import _config

    head = ScriptDirectory.from_config(_config()).get_current_head()  # the newest migration
    assert out.is_file() and report.revision == head and report.audit_entries > 5
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    restore(out, target)
    with sqlite3.connect(tmp_path / "restored.db") as conn:
        assert conn.execute("SELECT count(*) FROM registry_records").fetchone()[0] == 300


def test_an_altered_backup_is_refused(ops, tmp_path):
    _sqlite_only(ops)
    out = tmp_path / "backup.db"
    backup(ops["url"], out)
    with sqlite3.connect(out) as conn:
        conn.execute("UPDATE audit_entries SET outcome = 'ok' WHERE outcome != 'ok'")
    with pytest.raises(BackupError, match="do not verify"):
        restore(out, f"sqlite:///{tmp_path / 'never.db'}")
    assert not (tmp_path / "never.db").exists()


def test_backup_of_postgresql_points_to_its_own_tools(tmp_path):
    with pytest.raises(BackupError, match="pg_dump"):
        backup("postgresql+psycopg://postgres@127.0.0.1/test", tmp_path / "x.db")
