"""Group commit for the audit entries of reads: many requests, few write transactions.

Every tracing query appends an audit entry before its answer leaves the service. One write
transaction per query would make 50 tracers queue one by one for the database's write lock
(SQLite has one writer; PostgreSQL serialises a chain's appends on its head row), each
waiting for the commit of the one before. :class:`AuditWriter` has one thread that takes
every entry waiting, appends them to their chains in one transaction and commits once; each
request waits for the commit that holds its own entry, so an answer is never sent before its
audit entry is durable. A failed transaction fails every request in it — none is answered
unaudited — and the writer goes on with the next group.

Given an :class:`~service._audit_journal.AuditJournal`, the writer waits at most
``lock_wait`` seconds for the lock (instead of the database's minute): a run's registry
commit holds it for a second or more, and the queries answered meanwhile would wait as long.
A group that does not get the lock in time goes to the journal — durable before any answer
leaves — and the next transaction that gets the lock folds the journal into the chains
before it appends its own group, so the chains keep the order in which entries were made
durable. While the journal holds entries a group only checks the lock
(:data:`JOURNALING_WAIT`): it was taken a moment ago, and waiting the whole ``lock_wait``
again would add that wait to every answer until the lock is let go. Nothing but a lock that
stays taken sends entries to the journal: any other failure of a group still refuses its
requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from caselink_errors import AuditUnavailableError
from service._audit import Actor, Pending, append_many
from service._audit_journal import AuditJournal
from service._db import BUSY_TIMEOUT_MS

__all__ = ["AuditUnavailableError", "AuditWriter"]

logger = logging.getLogger(__name__)

SLOW_GROUP_SECONDS = 0.25  # a group taking longer is logged: its requests waited as long
JOURNALING_WAIT = 0.01  # lock wait of a group while the journal holds entries, seconds
PG_LOCK_NOT_AVAILABLE = "55P03"


def lock_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says only that another transaction held the lock past the wait."""
    orig = getattr(exc, "orig", None)
    if isinstance(orig, sqlite3.OperationalError):
        return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or (
            "database is locked" in str(orig)
        )
    return getattr(orig, "sqlstate", None) == PG_LOCK_NOT_AVAILABLE


@contextlib.contextmanager
def _sqlite_wait(conn: sa.Connection, seconds: float) -> Iterator[None]:
    """SQLite: the busy timeout of ``conn``'s connection is ``seconds`` until the block ends."""
    raw = conn.connection.dbapi_connection
    raw.execute(f"PRAGMA busy_timeout={max(1, round(seconds * 1000))}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


@dataclass(frozen=True)
class _Entry:
    scope: str
    pending: Pending
    done: Future = field(default_factory=Future, compare=False)


_STOP = object()


class AuditWriter:
    """One thread appending queued audit entries, up to ``max_group`` per transaction; with
    a ``journal``, to it when the lock stays taken past ``lock_wait`` seconds."""

    def __init__(
        self,
        engine: sa.Engine,
        max_group: int = 500,
        *,
        journal: AuditJournal | None = None,
        lock_wait: float = 0.1,
    ) -> None:
        self._engine, self._max = engine, max_group
        self._journal, self._lock_wait = journal, lock_wait
        self.journaled = 0  # entries that went to the journal (for tests and metrics)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._open = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="caselink-audit", daemon=True)
        self.groups = 0  # transactions committed (for tests and metrics)

    def start(self) -> AuditWriter:
        """Fold what a stop left in the journal, then start the thread."""
        self.settle()
        self._open = True
        self._thread.start()
        return self

    def submit(
        self,
        scope: str,
        actor: Actor,
        action: str,
        *,
        purpose: str | None = None,
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> Future:
        """Queue one entry; the future holds the appended entry once its group commits."""
        entry = _Entry(scope, Pending(actor, action, purpose, outcome, dict(details or {})))
        with self._lock:  # no entry slips in behind the stop marker
            if not self._open:
                raise AuditUnavailableError("the audit writer is stopped")
            self._queue.put(entry)
        return entry.done

    async def append(self, scope: str, actor: Actor, action: str, **kw: Any) -> dict[str, Any]:
        """:meth:`submit`, awaited: returns when the entry is committed."""
        return await asyncio.wrap_future(self.submit(scope, actor, action, **kw))

    def stop(self, timeout: float = 30.0) -> None:
        """Write every entry already queued, then end the thread."""
        with self._lock:
            if not self._open:
                return
            self._open = False
            self._queue.put(_STOP)
        self._thread.join(timeout)

    def _group(self) -> tuple[list[_Entry], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        group, stop = [first], False
        while len(group) < self._max:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            group.append(item)
        return group, stop

    def _write(self, group: list[_Entry]) -> None:
        scopes: dict[str, list[_Entry]] = {}
        for e in group:  # one append per chain, each chain in the order the entries came
            scopes.setdefault(e.scope, []).append(e)
        started = time.perf_counter()
        try:
            with self._transaction() as conn:
                locked = time.perf_counter()
                folded = self._journal.fold(conn) if self._holds_journal() else 0
                written = {
                    scope: append_many(conn, scope, [e.pending for e in entries])
                    for scope, entries in sorted(scopes.items())
                }
                appended = time.perf_counter()
        except Exception as exc:
            if self._journal is not None and lock_busy(exc):
                self._to_journal(group)
                return
            self._fail(group, exc)
            return
        self.groups += 1
        if folded:
            self._journal.retire()
            logger.info(
                "%d audit entries journaled while the lock was held are in their chains now", folded
            )
        if (took := time.perf_counter() - started) > SLOW_GROUP_SECONDS:
            logger.info(
                "a slow audit group: %d entries in %.2f s (%.2f s waiting for the write "
                "lock, %.2f s appending, %.2f s committing)",
                len(group),
                took,
                locked - started,
                appended - locked,
                time.perf_counter() - appended,
            )
        for scope, entries in scopes.items():
            for e, row in zip(entries, written[scope], strict=True):
                e.done.set_result(row)

    def _holds_journal(self) -> bool:
        return self._journal is not None and self._journal.holds_entries

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        if self._journal is None:
            with self._engine.begin() as conn:
                yield conn
            return
        with self._engine.connect() as conn:
            wait = self._lock_wait
            if self._journal.holds_entries:  # the lock was taken a moment ago: a group only
                wait = min(wait, JOURNALING_WAIT)  # checks it, or its answers wait again
            if conn.dialect.name == "sqlite":
                with _sqlite_wait(conn, wait), conn.begin():
                    yield conn
                return
            with conn.begin():
                ms = max(1, round(wait * 1000))
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{ms}ms'")
                yield conn

    def _to_journal(self, group: list[_Entry]) -> None:
        assert self._journal is not None
        try:
            lines = self._journal.write([(e.scope, e.pending) for e in group])
        except Exception as exc:
            self._fail(group, exc)
            return
        self.journaled += len(group)
        for e, line in zip(group, lines, strict=True):
            e.done.set_result(
                {"scope": e.scope, "journaled": True, "line": line.n, "at": line.pending.at}
            )

    def _fail(self, group: list[_Entry], exc: Exception) -> None:
        logger.error(
            "an audit group of %d entries failed (%s); its requests are refused",
            len(group),
            type(exc).__name__,
            exc_info=exc,
        )
        err = AuditUnavailableError(f"the audit entry could not be written ({type(exc).__name__})")
        for e in group:
            e.done.set_exception(err)

    def settle(self) -> int:
        """Fold every journaled entry into its chain, waiting for the lock as long as the
        database does (at start-up, before the thread runs, and when it stops); how many."""
        if not self._holds_journal():
            return 0
        assert self._journal is not None
        with self._engine.begin() as conn:
            folded = self._journal.fold(conn)
        self._journal.retire()
        if folded:
            logger.info("%d journaled audit entries were folded into their chains", folded)
        return folded

    def _loop(self) -> None:
        stop = False
        while not stop:
            group, stop = self._group()
            if group:
                self._write(group)
        try:
            self.settle()
        except Exception:
            logger.exception(
                "journaled audit entries could not be folded at stop; they stay "
                "in the journal and are folded at the next start"
            )
        if self._journal is not None:
            self._journal.close()
