"""Engines and migrations: SQLite by default, PostgreSQL by URL, one code path.

:func:`make_engine` builds the engine for a URL. SQLite gets WAL journaling, a busy timeout
and ``BEGIN IMMEDIATE`` transactions: the service writes from several threads (requests and
the linkage run), and an immediate transaction waits for the writer before it reads, so a
read-then-write never fails half-way. :func:`migrate` brings any database to the newest
schema with Alembic; the service calls it at start-up and ``caselink admin`` before it acts.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["BUSY_TIMEOUT_MS", "make_engine", "migrate", "ping", "reader_engine"]

logger = logging.getLogger(__name__)
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 60_000  # how long a SQLite transaction waits for the write lock


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _private_file(database: str | None) -> None:
    """Create a SQLite database file readable by its owner only (mode 0600), if it does not
    exist yet: it holds sealed filters, refs and the audit. SQLite gives its write-ahead log
    and shared-memory files the database file's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return  # an existing file keeps its mode; a missing folder: SQLite's own error
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return  # another process made it meanwhile


def _no_autocheckpoint(dbapi_conn, _record) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


def make_engine(url: str, *, autocheckpoint: bool = True) -> sa.Engine:
    """An engine for ``url``; a SQLite file's folder must exist. ``autocheckpoint=False``
    (SQLite): no commit of this engine copies the write-ahead log into the database file —
    the commit after a large one would otherwise do that copy while holding the write lock;
    the caller runs :class:`service._wal.WalCheckpointer` instead."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _private_file(parsed.database)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        if not autocheckpoint:
            sa.event.listen(engine, "connect", _no_autocheckpoint)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


_MIGRATION_LOCK = 0x6361_7365_6C69_6E6B  # "caselink": PostgreSQL's advisory lock of migrating


def migrate(engine: sa.Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest schema (no-op when current).

    On PostgreSQL an advisory lock held for the transaction makes replicas starting at once
    migrate one after the other (the second finds the schema current); SQLite's
    ``BEGIN IMMEDIATE`` does the same there. Alembic is imported here, on first use: a run's
    task reads through this module and never migrates."""
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    logger.info("database schema is current")


_READERS: weakref.WeakKeyDictionary[sa.Engine, sa.Engine] = weakref.WeakKeyDictionary()
_READERS_LOCK = threading.Lock()


def reader_engine(engine: sa.Engine) -> sa.Engine:
    """The engine that reads for ``engine`` without taking SQLite's write lock (one per
    engine, made on first use).

    The service's SQLite engine opens every transaction with ``BEGIN IMMEDIATE`` (so that a
    read-then-write never fails half-way); a pure read that way would queue behind every
    upload, run and audit write, and loading a large registry would stall them all for as
    long as it reads. A plain connection reads a WAL snapshot while writers carry on. Other
    databases: ``engine`` itself.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    with _READERS_LOCK:
        reader = _READERS.get(engine)
        if reader is None:
            reader = sa.create_engine(
                engine.url, connect_args={"check_same_thread": False, "timeout": 60}
            )
            _READERS[engine] = reader
        return reader


def ping(engine: sa.Engine) -> None:
    """Raise unless the database answers a trivial query (liveness)."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
