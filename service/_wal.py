"""Copying SQLite's write-ahead log into the database file, off the write path.

By default SQLite checkpoints inside a commit once the log passes 1,000 pages: after a run
or an upload wrote tens of megabytes, the *next* commit — often a tracing query's audit
entry — copies all of it while it holds the write lock, and every request waiting for the
lock waits for the copy. The service's engine turns that off (``make_engine(...,
autocheckpoint=False)``) and :class:`WalCheckpointer` checkpoints every few seconds on a
connection of its own, ``PASSIVE``: it copies what no reader still needs without waiting for
readers or writers and without taking the write lock. At stop a ``TRUNCATE`` checkpoint
leaves the log empty. Other databases: nothing to do (the job is not started).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from service._jobs import PeriodicJob

__all__ = ["CHECKPOINT_SECONDS", "WalCheckpointer"]

logger = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 2.0


class WalCheckpointer(PeriodicJob):
    """``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds on ``reader`` (a plain
    connection: the pragma must not run inside a ``BEGIN IMMEDIATE`` transaction)."""

    name = "caselink-wal"

    def __init__(self, reader: sa.Engine, interval: float = CHECKPOINT_SECONDS) -> None:
        self.reader, self.interval = reader, interval
        self.checkpoints = 0  # ticks that ran (for tests)
        super().__init__()

    def start(self) -> WalCheckpointer:
        self.start_thread()
        return self

    def wait_seconds(self) -> float:
        return self.interval

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        """(busy, log frames, frames copied) as SQLite reports them."""
        if mode not in ("PASSIVE", "TRUNCATE"):
            raise ValueError(f"mode must be PASSIVE or TRUNCATE, got {mode!r}")
        with self.reader.connect() as conn:
            row = conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one()
        self.checkpoints += 1
        return int(row[0]), int(row[1]), int(row[2])

    def tick(self) -> None:
        self.checkpoint()

    def final(self) -> None:
        try:
            self.checkpoint("TRUNCATE")
        except Exception:
            logger.warning(
                "the last checkpoint of the write-ahead log did not finish; SQLite "
                "finishes it when the database is next opened"
            )
