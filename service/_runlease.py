"""Run leases: which replica of the service executes a run, held in the database.

Several ``caselink serve`` processes (replicas) may share one database. A run is executed by
the replica that queued it and by no other: that replica *claims* the run's lease as it
hands the run to its executor — ``runs.lease_owner`` (the replica's id: host, PID namespace,
process id and a random part, :func:`replica_id`) and ``runs.lease_expires_at`` — and its
:class:`LeaseKeeper` renews every lease it holds, every third of ``CASELINK_RUN_LEASE_SECONDS``,
for as long as the run is queued or running. Every write the run makes (its progress, its one
transaction, its final status) is *fenced* (:meth:`RunLeases.hold`): it happens only while
the replica still holds the lease, in the statement that renews it, so a replica that lost
its lease (stalled past it) stores nothing.

A queued or running run is *abandoned* (:meth:`RunLeases.abandoned`) when

- its lease expired (by the database's clock on PostgreSQL, so replicas on several machines
  need no synchronised clocks): its replica stopped renewing it;
- its replica ran on this machine, in this PID namespace, and its process is gone: a replica
  restarted after ``kill -9`` need not wait for the lease to run out;
- it was queued without a lease more than a lease's time ago (runs of versions before
  leases, or a replica that died between queueing and claiming).

Only abandoned runs are settled — at start-up and at every heartbeat, by
:func:`service._runs.recover_interrupted` — so a replica that starts up never touches the
run of a live one. On PostgreSQL the abandoned runs are read ``FOR UPDATE SKIP LOCKED``: a run
whose replica is storing it right now (its fenced write holds the row) is not settled under
it, and two replicas never settle the same run; SQLite's one writer serialises the same.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from service._db import reader_engine
from service._faults import Faults
from service._tables import runs
from service.repositories.runs import ACTIVE

__all__ = ["LeaseKeeper", "RunLeases", "db_now", "replica_id"]

logger = logging.getLogger(__name__)
DEFAULT_SECONDS = 30.0

# why a run is abandoned (the ``reason`` of its ``run.takeover`` audit entry)
EXPIRED, OWNER_GONE, NEVER_LEASED = "lease_expired", "owner_stopped", "never_leased"


def _pid_namespace() -> str:
    """This process's PID namespace (``pid:[4026531836]``), or "" where it cannot be read."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _local_prefix() -> str:
    """What every replica id on this machine and PID namespace starts with ("" if unknown:
    then no owner is ever judged gone by its process, only by its lease)."""
    namespace = _pid_namespace()
    return f"{socket.gethostname()}/{namespace}/" if namespace else ""


def replica_id() -> str:
    """A new replica's id: ``host/pid-namespace/pid/random`` (unique even if a PID is reused)."""
    namespace = _pid_namespace() or "-"
    return f"{socket.gethostname()}/{namespace}/{os.getpid()}/{secrets.token_hex(4)}"


def _process_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs here (a zombie counts as gone: it runs nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's process: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][:1] in ("Z", "X")


def db_now(conn: sa.Connection) -> datetime:
    """Now, by the database's clock on PostgreSQL (one clock for every replica), else this
    machine's (SQLite: every replica runs on the machine that holds the file)."""
    if conn.dialect.name == "postgresql":
        now = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        return now.astimezone(UTC)
    return datetime.now(UTC)


class RunLeases:
    """One replica's leases on runs: claim, hold (fenced writes), renew, release, and find
    the runs no live replica holds."""

    def __init__(
        self, engine: sa.Engine, seconds: float = DEFAULT_SECONDS, *, owner: str | None = None
    ) -> None:
        """``seconds``: how long a lease lasts without renewal (``CASELINK_RUN_LEASE_SECONDS``);
        ``owner``: this replica's id (default: a new :func:`replica_id`)."""
        if seconds <= 0:
            raise ValueError(f"a run lease must last more than 0 seconds, not {seconds}")
        self.engine, self.seconds = engine, float(seconds)
        self.owner = owner or replica_id()
        self._local = _local_prefix()
        self._reader = reader_engine(engine)

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def claim(self, run_id: str) -> bool:
        """Take the lease of the queued run ``run_id`` (unleased, or this replica's already);
        False if another replica holds it or it is no longer queued."""
        r = runs.c
        with self.engine.begin() as conn:
            now = db_now(conn)
            taken = conn.execute(
                runs.update()
                .where(
                    r.id == run_id,
                    r.status == "queued",
                    sa.or_(r.lease_owner.is_(None), r.lease_owner == self.owner),
                )
                .values(lease_owner=self.owner, lease_expires_at=now + self.ttl)
            )
        return taken.rowcount == 1

    def hold(self, conn: sa.Connection, run_id: str, **values: Any) -> bool:
        """In the caller's transaction: write ``values`` to the run and renew its lease, if
        this replica still holds it and the run is still active; False (nothing written)
        if not. On PostgreSQL the run's row stays locked until the transaction ends."""
        r = runs.c
        held = conn.execute(
            runs.update()
            .where(r.id == run_id, r.lease_owner == self.owner, r.status.in_(ACTIVE))
            .values(lease_expires_at=db_now(conn) + self.ttl, **values)
        )
        return held.rowcount == 1

    def _mine(self) -> Any:
        return sa.and_(runs.c.lease_owner == self.owner, runs.c.status.in_(ACTIVE))

    def _holds_any(self) -> bool:
        """A plain read (SQLite: no write lock) of whether this replica holds any lease."""
        with self._reader.connect() as conn:
            held = conn.execute(sa.select(runs.c.id).where(self._mine()).limit(1)).first()
        return held is not None

    def renew(self) -> int:
        """Extend every lease this replica holds by a lease's time; how many it holds."""
        if not self._holds_any():
            return 0
        with self.engine.begin() as conn:
            until = db_now(conn) + self.ttl
            return conn.execute(
                runs.update().where(self._mine()).values(lease_expires_at=until)
            ).rowcount

    def release(self) -> int:
        """Let every lease this replica holds run out now (it is stopping): another replica
        settles those runs at its next heartbeat instead of a lease's time later."""
        with self.engine.begin() as conn:
            now = db_now(conn)
            return conn.execute(
                runs.update().where(self._mine()).values(lease_expires_at=now)
            ).rowcount

    def _candidates(self, now: datetime) -> Any:
        r = runs.c
        maybe = [
            r.lease_expires_at < now,
            sa.and_(r.lease_owner.is_(None), r.created_at < now - self.ttl),
        ]
        if self._local:
            maybe.append(r.lease_owner.startswith(self._local, autoescape=True))
        return sa.and_(r.status.in_(ACTIVE), sa.or_(*maybe))

    def any_abandoned(self) -> bool:
        """A plain read of whether some run may be abandoned (then settle in a transaction)."""
        with self._reader.connect() as conn:
            now = db_now(conn)
            rows = conn.execute(sa.select(runs).where(self._candidates(now))).all()
        return any(self.why_abandoned(row, now) for row in rows)

    def abandoned(self, conn: sa.Connection) -> list[tuple[Any, str]]:
        """In the caller's transaction: the active runs no live replica holds, each with why
        (:data:`EXPIRED`, :data:`OWNER_GONE`, :data:`NEVER_LEASED`), their rows locked on
        PostgreSQL (rows another transaction holds are skipped: their replica is alive)."""
        now = db_now(conn)
        rows = conn.execute(
            sa.select(runs)
            .where(self._candidates(now))
            .order_by(runs.c.created_at)
            .with_for_update(skip_locked=True)
        ).all()
        found = [(row, self.why_abandoned(row, now)) for row in rows]
        return [(row, why) for row, why in found if why]

    def why_abandoned(self, run: Any, now: datetime) -> str | None:
        """Why no live replica holds ``run`` (a row of ``runs``) at ``now``; None if one does."""
        if run.lease_owner is None:
            return NEVER_LEASED if run.created_at < now - self.ttl else None
        if run.lease_expires_at is not None and run.lease_expires_at < now:
            return EXPIRED
        here = self._local and run.lease_owner.startswith(self._local)
        if here and run.lease_owner != self.owner:
            pid = run.lease_owner[len(self._local) :].partition("/")[0]
            if pid.isdigit() and int(pid) != os.getpid() and _process_gone(int(pid)):
                return OWNER_GONE
        return None


class LeaseKeeper:
    """The heartbeat of one replica: every third of a lease, renew this replica's leases,
    then ``settle`` (the runs others abandoned); on a thread of its own."""

    def __init__(
        self, leases: RunLeases, settle: Callable[[], object], faults: Faults | None = None
    ) -> None:
        self.leases, self.settle = leases, settle
        self.faults = faults or Faults()
        self.interval = leases.seconds / 3
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Renew, then settle; a failure is logged and the next beat tries again."""
        self.faults.reach("lease.heartbeat")
        try:
            self.leases.renew()
        except sa.exc.SQLAlchemyError:
            logger.exception(
                "could not renew this replica's run leases (%s); its runs are "
                "taken over by another replica if this lasts %.0f s",
                self.leases.owner,
                self.leases.seconds,
            )
        try:
            self.settle()
        except sa.exc.SQLAlchemyError:
            logger.exception(
                "could not settle the runs other replicas abandoned; next heartbeat tries again"
            )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def start(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._loop, name="caselink-run-lease", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (the thread ends after the beat under way, if any)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(self.interval, 5.0))
