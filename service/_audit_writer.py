"""Group commit for the audit entries of reads: many requests, few write transactions.

Every tracing query appends an audit entry before its answer leaves the service. One write
transaction per query would make 50 tracers queue one by one for the database's write lock
(SQLite has one writer; PostgreSQL serialises a chain's appends on its head row), each
waiting for the commit of the one before. :class:`AuditWriter` has one thread that takes
every entry waiting, appends them to their chains in one transaction and commits once; each
request waits for the commit that holds its own entry, so an answer is never sent before its
audit entry is durable. A failed transaction fails every request in it — none is answered
unaudited — and the writer goes on with the next group.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from service._audit import Actor, Pending, append_many

__all__ = ["AuditUnavailableError", "AuditWriter"]

logger = logging.getLogger(__name__)

SLOW_GROUP_SECONDS = 0.25  # a group taking longer is logged: its requests waited as long


class AuditUnavailableError(RuntimeError):
    """The entry was not written (the writer is stopped or its transaction failed)."""


@dataclass(frozen=True)
class _Entry:
    scope: str
    pending: Pending
    done: Future = field(default_factory=Future, compare=False)


_STOP = object()


class AuditWriter:
    """One thread appending queued audit entries, up to ``max_group`` per transaction."""

    def __init__(self, engine: sa.Engine, max_group: int = 500) -> None:
        self._engine, self._max = engine, max_group
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._open = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="caselink-audit", daemon=True)
        self.groups = 0  # transactions committed (for tests and metrics)

    def start(self) -> AuditWriter:
        self._open = True
        self._thread.start()
        return self

    def submit(self, scope: str, actor: Actor, action: str, *, purpose: str | None = None,
               outcome: str = "ok", details: dict[str, Any] | None = None) -> Future:  # fmt: skip
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
            with self._engine.begin() as conn:
                locked = time.perf_counter()
                written = {scope: append_many(conn, scope, [e.pending for e in entries])
                           for scope, entries in sorted(scopes.items())}  # fmt: skip
                appended = time.perf_counter()
        except Exception as exc:
            logger.exception("an audit group of %d entries failed; its requests are refused",
                             len(group))  # fmt: skip
            why = f"the audit entry could not be written ({type(exc).__name__})"
            err = AuditUnavailableError(why)
            for e in group:
                e.done.set_exception(err)
            return
        self.groups += 1
        if (took := time.perf_counter() - started) > SLOW_GROUP_SECONDS:
            logger.info("a slow audit group: %d entries in %.2f s (%.2f s waiting for the write "
                        "lock, %.2f s appending, %.2f s committing)", len(group), took,
                        locked - started, appended - locked,
                        time.perf_counter() - appended)  # fmt: skip
        for scope, entries in scopes.items():
            for e, row in zip(entries, written[scope], strict=True):
                e.done.set_result(row)

    def _loop(self) -> None:
        stop = False
        while not stop:
            group, stop = self._group()
            if group:
                self._write(group)
