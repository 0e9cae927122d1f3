"""Rate-limit refusals counted, not each audited: at most two audit entries per key a minute.

A client that keeps calling past its limit used to write one audit entry per 429 (17,000 in
one test minute), drowning the chain. Refusals are grouped by chain, key, action and purpose
(:class:`Refused`). The first refusal of a group opens a window of ``window`` seconds (a
minute) and is audited at once, with ``refusals: 1``; later refusals of the group in that
window are only counted, in memory. The count is written as one more entry
(``refusals: n``, ``counted_since`` the window's opening) once the window has closed:

- at the next refusal of any key after it closed;
- by the periodic flush (:meth:`RefusalAudit.start`, every ``window`` seconds);
- at shutdown (:meth:`RefusalAudit.stop`), for every window, closed or not.

So every refusal is counted in the chain, and the ``refusals`` of a key's entries add up to
the number of its refused calls. Only a crash (kill -9) loses the counts of windows still
open; their first refusals are in the chain already.

The clock is injected (:class:`RefusalCounter`), so tests move windows without sleeping;
``flush`` and ``refuse`` are the only places time is read.

::

    RefusalCounter ── refuse() / flush() ──▶ [RefusalEntry] ──▶ RefusalAudit ──▶ audit chain
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from service._audit import Actor, append
from service._jobs import PeriodicJob

__all__ = ["WINDOW_SECONDS", "RefusalAudit", "RefusalCounter", "RefusalEntry", "Refused"]

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Refused:
    """What refusals are counted by: the chain, the key (its actor), the action, the purpose."""

    scope: str
    actor: Actor
    action: str
    purpose: str | None = None


@dataclass(frozen=True)
class RefusalEntry:
    """One audit entry to write: ``refusals`` refused calls of one group.

    ``counted_since`` is None on the entry of a window's first refusal, and the window's
    opening time on the entry that carries the count of the rest."""

    refused: Refused
    refusals: int
    records: int | None = None  # query records refused, where the call got that far
    counted_since: str | None = None

    def details(self, status: int, window: float) -> dict[str, Any]:
        out: dict[str, Any] = {"status": status, "refusals": self.refusals}
        if self.records is not None:
            out["records"] = self.records
        if self.counted_since is not None:
            out |= {"counted_since": self.counted_since, "window_seconds": window}
        return out


@dataclass
class _Window:
    opened: float
    since: str
    counted: int = 0  # refusals after the first, not written yet
    records: int | None = None


class RefusalCounter:
    """Windows of refusals per :class:`Refused`; returns the entries due. Thread-safe.

    ``clock`` (seconds, monotonic) decides when windows close; ``wall`` gives the ISO time
    recorded as a window's opening."""

    def __init__(
        self,
        window: float = WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], str] = _now_iso,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be > 0 seconds")
        self.window = window
        self._clock, self._wall = clock, wall
        self._open: dict[Refused, _Window] = {}  # in the order the windows opened
        self._lock = threading.Lock()

    def refuse(self, refused: Refused, records: int | None = None) -> list[RefusalEntry]:
        """Count one refusal; the entries to write now (closed windows first)."""
        now = self._clock()
        with self._lock:
            due = self._close(now, everything=False)
            window = self._open.get(refused)
            if window is None:
                self._open[refused] = _Window(now, self._wall())
                return [*due, RefusalEntry(refused, 1, records)]
            window.counted += 1
            if records is not None:
                window.records = (window.records or 0) + records
            return due

    def flush(self, *, everything: bool = False) -> list[RefusalEntry]:
        """The counts of every window that has closed (``everything``: of every window)."""
        now = self._clock()
        with self._lock:
            return self._close(now, everything=everything)

    @property
    def open_windows(self) -> int:
        return len(self._open)

    def _close(self, now: float, *, everything: bool) -> list[RefusalEntry]:
        closed = []
        for refused, window in self._open.items():  # oldest first: stop at the first open one
            if not everything and now - window.opened < self.window:
                break
            closed.append(refused)
        due = []
        for refused in closed:
            w = self._open.pop(refused)
            if w.counted:
                due.append(RefusalEntry(refused, w.counted, w.records, w.since))
        return due


class RefusalAudit(PeriodicJob):
    """Writes a :class:`RefusalCounter`'s entries to the audit chains, as refusals with
    ``outcome`` and HTTP ``status``; flushes closed windows on a daemon thread."""

    def __init__(
        self,
        engine: sa.Engine,
        counter: RefusalCounter | None = None,
        *,
        outcome: str = "rate_limited",
        status: int = 429,
    ) -> None:
        self.engine, self.counter = engine, counter or RefusalCounter()
        self.outcome, self.status = outcome, status
        self._unwritten: list[RefusalEntry] = []  # entries a failed write left, tried again
        self._lock = threading.Lock()
        super().__init__()

    name = "caselink-refusals"

    def refused(self, refused: Refused, records: int | None = None) -> None:
        """Count one refusal; write what is due (this refusal too, if it opens a window)."""
        self._write(self.counter.refuse(refused, records))

    def flush(self, *, everything: bool = False) -> int:
        """Write the counts of closed windows (``everything``: of all); entries written."""
        entries = self.counter.flush(everything=everything)
        self._write(entries)
        return len(entries)

    def start(self) -> RefusalAudit:
        self.start_thread()
        return self

    def wait_seconds(self) -> float:
        return self.counter.window

    def tick(self) -> None:  # a failed write keeps its entries in _unwritten for the next
        self.flush()

    def final(self) -> None:
        """At stop: write every count still held."""
        self.flush(everything=True)

    def _write(self, entries: list[RefusalEntry]) -> None:
        with self._lock:
            entries, self._unwritten = [*self._unwritten, *entries], []
        if not entries:
            return
        try:
            with self.engine.begin() as conn:
                for e in entries:
                    r = e.refused
                    append(
                        conn,
                        r.scope,
                        r.actor,
                        r.action,
                        purpose=r.purpose,
                        outcome=self.outcome,
                        details=e.details(self.status, self.counter.window),
                    )
        except Exception:
            with self._lock:
                self._unwritten = [*entries, *self._unwritten]
            raise
