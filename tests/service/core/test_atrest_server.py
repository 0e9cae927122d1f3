"""Encryption at rest over a real server, on SQLite and PostgreSQL: after uploads and a run the
database (its raw file, or its raw column values) and a backup hold no uploaded filter; an
altered or moved ciphertext fails the run with a clear error; the service refuses to start
without its key; a rotation, then dropping the old key, keeps runs and queries working."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

import bloom
from linkage import DataKeyRing
from linkage._registry import records_table
from linkage.sealing import is_sealed, sealed_key_id
from service import Client, ServiceProcess
from service._admin import bootstrap_agency, open_database
from service._datakeys import inventory
from service._tables import batch_records
from tests import forkserver
from tests.atrest import filter_words, word_hits
from tests.cli import caselink
from tests.service.servers import make_database, ray_settings

COLUMNS = (batch_records.c.bloom, records_table.c.bloom)


class AtRest:
    """One server on one database, three uploads (two linked, one pending) and its keys."""

    def __init__(self, db, work: Path, schema, secret, febrl4, ray: str | None) -> None:
        self.db, self.work, self.schema, self.secret = db, work, schema, secret
        self.key_file = work / "keys" / "data-keys"
        self.env = {
            **ray_settings(ray),
            "CASELINK_DATA_KEY_FILE": str(self.key_file),
        }
        engine = open_database(db.url)
        self.steward = bootstrap_agency(engine, "coord", "steward").api_key
        self.admin = bootstrap_agency(engine, "operator", "admin").api_key
        engine.dispose()
        a = febrl4.a.head(150)
        entity = a["record_ref"].str.split("-").str[1]
        b = febrl4.b[febrl4.b["record_ref"].str.split("-").str[1].isin(entity)]
        self.frames = {"aga": a, "agb": b, "later": febrl4.a.iloc[150:220]}
        self.svc = ServiceProcess(
            db.url, log=work / "service.log", env=self.env, startup_timeout=600
        ).start()

    def encode(self, name: str, agency: str) -> bloom.EncodedBatch:
        return bloom.encode(
            self.frames[name], self.schema, self.secret, agency=agency, id_column="record_ref"
        )

    def values(self) -> list[bytes]:
        with self.db.engine.connect() as c:
            found = [
                c.execute(sa.select(col).where(col.is_not(None))).scalars().all() for col in COLUMNS
            ]
        return [bytes(v) for values in found for v in values]

    def raw_bytes(self) -> bytes:
        """What a thief of the database gets: the SQLite files, or PostgreSQL's column values."""
        if self.db.kind == "sqlite":
            # read by another process: a file this process opens and closes drops every POSIX
            # lock it holds on that file, SQLite's too, and the service then wrote under this
            # process's connections ("database disk image is malformed" in a later read)
            files = [str(p) for p in sorted(self.work.glob("caselink.db*")) if p.is_file()]
            return subprocess.run(["cat", *files], capture_output=True, check=True).stdout
        return b"".join(self.values())

    def caselink(self, *args, **env: str) -> subprocess.CompletedProcess:
        """The command's entry function in this process (tests/cli.py), on this database."""
        return caselink(*args, env={"CASELINK_DATABASE_URL": self.db.url, **self.env, **env})

    def serve(self, *args, **env: str) -> forkserver.Captured:
        """``caselink serve`` in a process of its own (tests/forkserver.py), started (read it
        with ``communicate``)."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CASELINK_")}
        full = {**clean, "CASELINK_DATABASE_URL": self.db.url, **self.env, **env}
        return forkserver.popen(["caselink", "serve", *args], env=full)

    def run(self) -> dict:
        with Client(self.svc.url, self.keys["aga"]) as c:
            return c.wait_run(self.agreement, c.start_run(self.agreement)["run_id"], poll=0.3)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def atrest(request, tmp_path_factory, febrl4, febrl_schema, secret, ray_session):
    work = tmp_path_factory.mktemp("atrest")
    with make_database(request.param, request, work) as db:
        w = AtRest(db, work, febrl_schema, secret, febrl4, ray_session.address)
        try:
            with Client(w.svc.url, w.admin) as admin:
                w.keys = {}
                for agency in ("aga", "agb", "tracing-team"):
                    admin.create_agency(agency)
                    role = "tracer" if agency == "tracing-team" else "submitter"
                    w.keys[agency] = admin.create_key(agency, role)["api_key"]
            with Client(w.svc.url, w.steward) as st:
                w.agreement = st.create_agreement(
                    name="at rest",
                    parties=["aga", "agb", "tracing-team"],
                    purposes=["linkage", "tracing"],
                    schema_fingerprint=febrl_schema.fingerprint,
                    filter_bits=febrl_schema.filter_bits,
                    segments=febrl_schema.layout,
                    retention_days=30,
                )["agreement_id"]
            uploads = [("aga", "aga"), ("agb", "agb"), ("later", "aga")]
            batches = [w.encode(name, agency) for name, agency in uploads]
            for (name, agency), batch in zip(uploads, batches, strict=True):
                with Client(w.svc.url, w.keys[agency]) as c:
                    c.upload(w.agreement, batch.write(work / f"{name}.parquet"))
                if name == "agb":
                    assert w.run()["status"] == "succeeded"
            w.words = filter_words(np.vstack([b.filters for b in batches]))
            yield w
        finally:
            w.svc.stop()


def test_the_database_holds_no_uploaded_filter_in_the_clear(atrest):
    values = atrest.values()
    assert len(values) == 150 + 150 + 70  # two batches in the registry, one still pending
    assert all(is_sealed(v) for v in values)
    assert {sealed_key_id(v) for v in values} == set(DataKeyRing.from_file(atrest.key_file).ids)
    assert word_hits(atrest.raw_bytes(), atrest.words) == 0


def test_a_backup_holds_no_uploaded_filter_in_the_clear(atrest):
    if atrest.db.kind != "sqlite":
        pytest.skip("caselink admin backup covers SQLite; PostgreSQL's columns are checked above")
    out = atrest.work / "backups" / "caselink-backup.db"
    out.parent.mkdir()
    done = atrest.caselink("admin", "backup", "--out", out)
    assert done.returncode == 0, done.stderr
    assert word_hits(out.read_bytes(), atrest.words) == 0


def _swap(db, table: sa.Table, key_cols: tuple[str, ...], first, second) -> None:
    """Exchange the stored filters of two rows (keys given as tuples of ``key_cols``)."""
    with db.engine.begin() as c:

        def where(key):
            return sa.and_(*(table.c[k] == v for k, v in zip(key_cols, key, strict=True)))

        a = c.execute(sa.select(table.c.bloom).where(where(first))).scalar_one()
        b = c.execute(sa.select(table.c.bloom).where(where(second))).scalar_one()
        c.execute(table.update().where(where(first)).values(bloom=b))
        c.execute(table.update().where(where(second)).values(bloom=a))


def test_a_ciphertext_moved_between_records_fails_the_run_clearly(atrest):
    r = records_table.c
    with atrest.db.engine.connect() as c:
        ids = (
            c.execute(sa.select(r.id).where(r.scope == atrest.agreement).order_by(r.id).limit(2))
            .scalars()
            .all()
        )
    _swap(atrest.db, records_table, ("id",), (ids[0],), (ids[1],))
    try:
        run = atrest.run()
    finally:
        _swap(atrest.db, records_table, ("id",), (ids[0],), (ids[1],))
    assert run["status"] == "failed", run
    assert f"registry record {ids[0]} fails authentication" in run["error"]
    assert "altered, or moved here from another record" in run["error"]
    assert not any(ref in run["error"] for ref in atrest.frames["aga"]["record_ref"])


def test_an_altered_pending_filter_is_caught_before_it_is_linked(atrest):
    b = batch_records.c
    with atrest.db.engine.connect() as c:
        batch_id, value = c.execute(
            sa.select(b.batch_id, b.bloom).where(
                b.agreement_id == atrest.agreement, b.bloom.is_not(None), b.position == 0
            )
        ).one()
    altered = bytes(value[:60]) + bytes([value[60] ^ 1]) + bytes(value[61:])

    def put(v: bytes) -> None:
        with atrest.db.engine.begin() as c:
            c.execute(
                batch_records.update()
                .where(b.batch_id == batch_id, b.position == 0)
                .values(bloom=v)
            )

    put(altered)
    try:
        run = atrest.run()
    finally:
        put(bytes(value))
    # a run refuses the batch: the run fails, or (where runs set bad batches aside) the batch
    # is quarantined — either way with the reason, never linking the altered filter
    with atrest.db.engine.connect() as c:
        why = c.execute(
            sa.text("SELECT quarantine_reason FROM batches WHERE id = :i"), {"i": batch_id}
        ).scalar()
    reason = run["error"] if run["status"] == "failed" else why
    assert reason and f"batch {batch_id} record 0 fails authentication" in reason, run


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_the_service_refuses_to_start_without_its_data_key(atrest, tmp_path):
    kid = DataKeyRing.from_file(atrest.key_file).newest.key_id
    lost = tmp_path / "lost" / "data-keys"
    other = DataKeyRing.generate().write(tmp_path / "other-keys")
    starts = [
        atrest.serve("--port", _free_port(), CASELINK_DATA_KEY_FILE=str(keys))
        for keys in (lost, other)
    ]  # two servers at once: each refuses by itself
    (_, missing), (_, wrong) = (p.communicate(timeout=600) for p in starts)
    assert starts[0].returncode == 2, missing
    assert "no data-key file" in missing and kid in missing
    assert "Traceback" not in missing and not (tmp_path / "lost").exists()
    assert starts[1].returncode == 2 and f"data key(s) {kid}, which the key ring" in wrong


def test_after_rotation_and_dropping_the_old_key_runs_and_queries_work(atrest):
    old = DataKeyRing.from_file(atrest.key_file).newest.key_id
    rotated = atrest.caselink("admin", "rotate-data-key")  # while the service runs
    assert rotated.returncode == 0, rotated.stderr
    new = DataKeyRing.from_file(atrest.key_file).newest.key_id
    assert f"370 stored filters re-encrypted under data key {new}" in rotated.stderr
    assert inventory(atrest.db.engine).by_key == {new: 370}
    dropped = atrest.caselink("admin", "drop-data-key", old)
    assert dropped.returncode == 0, dropped.stderr
    assert DataKeyRing.from_file(atrest.key_file).ids == (new,)
    assert word_hits(atrest.raw_bytes(), atrest.words) == 0
    # the running service follows the key file: it links the pending batch, opened with the
    # new key, without a restart
    run = atrest.run()
    assert run["status"] == "succeeded" and run["stats"]["new_records"] == 70, run
    atrest.svc.stop()  # and a restart opens everything with the new key alone
    atrest.svc = ServiceProcess(
        atrest.db.url, log=atrest.work / "service-2.log", env=atrest.env, startup_timeout=600
    ).start()
    with Client(atrest.svc.url, atrest.keys["aga"]) as c:
        assert len(list(c.iter_cases(atrest.agreement))) == 220
    sought = atrest.frames["agb"].head(3).assign(record_ref=["Q1", "Q2", "Q3"])
    query = bloom.encode(
        sought, atrest.schema, atrest.secret, agency="tracing-team", id_column="record_ref"
    ).write(atrest.work / "query.parquet")
    with Client(atrest.svc.url, atrest.keys["tracing-team"]) as c:
        answer = c.query(atrest.agreement, query, purpose="tracing")
    assert all(r["candidates"] for r in answer["results"])
    assert {sealed_key_id(v) for v in atrest.values()} == {new}
