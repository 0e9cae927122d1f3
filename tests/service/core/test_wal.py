"""SQLite's log is checkpointed by the service's job, never inside a commit.

With SQLite's default, the commit after a large write copies the whole log into the database
file while holding the write lock (a tracing query's audit entry waited for it). The service's
engine turns that off; :class:`WalCheckpointer` copies the log on its own connection."""

from __future__ import annotations

import os

import sqlalchemy as sa

from service._db import make_engine, reader_engine
from service._wal import WalCheckpointer


def _write_pages(engine: sa.Engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)")
        conn.execute(
            sa.text("INSERT INTO t (v) VALUES (:v)"), [{"v": os.urandom(3000)} for _ in range(rows)]
        )


def _frames(engine: sa.Engine) -> int:
    with reader_engine(engine).connect() as conn:  # a no-op checkpoint reports the log size
        return int(conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1])


def test_no_commit_checkpoints_and_the_job_empties_the_log(tmp_path):
    path = tmp_path / "caselink.db"
    engine = make_engine(f"sqlite:///{path}", autocheckpoint=False)
    job = WalCheckpointer(reader_engine(engine), interval=3600)
    try:
        _write_pages(engine, 2000)  # ~6 MB: past SQLite's 1,000-page autocheckpoint
        _write_pages(engine, 1)  # the commit that would have copied the log
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size > 4_000_000  # the log still holds both writes
        busy, frames, copied = job.checkpoint()
        assert busy == 0 and frames > 1000 and copied == frames
        job.final()  # TRUNCATE at stop
        assert wal.stat().st_size == 0
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2001
    finally:
        reader_engine(engine).dispose()
        engine.dispose()


def test_by_default_a_commit_still_checkpoints(tmp_path):
    path = tmp_path / "plain.db"
    engine = make_engine(f"sqlite:///{path}")  # the CLI's engine: SQLite's own behaviour
    try:
        _write_pages(engine, 2000)
        _write_pages(engine, 1)
        assert _frames(engine) < 1000  # the log was copied and restarted by a commit
    finally:
        reader_engine(engine).dispose()
        engine.dispose()
