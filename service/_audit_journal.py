"""A durable side journal for the audit entries of reads while a bulk write holds the chain.

A tracing query's answer waits for its audit entry to be durable. On SQLite the entry needs
the database's one write lock, and on PostgreSQL the lock of its chain's head row; a run's
registry commit holds that lock for a second or more, and every query answered meanwhile
would wait that long. :class:`~service._audit_writer.AuditWriter` therefore waits only a
little for the lock (``CASELINK_AUDIT_LOCK_WAIT_SECONDS``); when it is still taken, the
group's entries are appended to this journal instead — one JSON line each, chained by BLAKE3
like the audit itself, written and ``fsync``-ed before any answer leaves — and folded into
their chains, in the order they were journaled, by the first audit transaction that gets the
lock. An entry is never lost and never appears twice:

- the fold and the record of how far each journal file was folded (``audit_journal_folds``)
  commit in one transaction, so a crash after it skips what was folded;
- a journal file is deleted only after its last line was folded; the service folds what a
  stop left at start-up, before it answers anyone.

A folded entry keeps the time it was journaled (``at``) and says so in its details
(``"journaled": true``): its place in the chain is the order in which entries became part of
the chain, which can put it after an entry written a moment later by the run that held the
lock. Lines past the last one written whole (a write cut by a crash, never acknowledged) are
dropped with a warning; a line whose hash does not follow the one before it means the file
was edited, and nothing of it is folded (:class:`JournalDamagedError`) — it stays for an
auditor to examine.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import blake3
import sqlalchemy as sa

from caselink_errors import JournalDamagedError
from service._audit import GENESIS, Actor, Pending, append_many
from service._tables import audit_journal_folds

__all__ = ["AuditJournal", "JournalDamagedError", "JournalEntry"]

logger = logging.getLogger(__name__)

_SUFFIX = ".jsonl"


@dataclass(frozen=True)
class JournalEntry:
    """One journaled audit entry: line ``n`` (from 1) of its file, for chain ``scope``."""

    n: int
    scope: str
    pending: Pending
    hash: str


def _line_hash(prev: str, body: dict) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return blake3.blake3((prev + "\n" + text).encode("utf-8")).hexdigest()


def _body(n: int, scope: str, p: Pending) -> dict:
    return {
        "n": n,
        "scope": scope,
        "at": p.at,
        "actor": p.actor.agency,
        "role": p.actor.role,
        "key_id": p.actor.key_id,
        "action": p.action,
        "purpose": p.purpose,
        "outcome": p.outcome,
        "details": dict(p.details),
    }


def _entry(body: dict, digest: str) -> JournalEntry:
    actor = Actor(agency=body["actor"], role=body["role"], key_id=body["key_id"])
    pending = Pending(
        actor,
        body["action"],
        body["purpose"],
        body["outcome"],
        {**body["details"], "journaled": True},
        at=body["at"],
    )
    return JournalEntry(int(body["n"]), body["scope"], pending, digest)


class AuditJournal:
    """The journal files in ``directory``; used by one thread at a time (the audit writer's,
    or the service's start-up before that thread runs)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._file = None  # the open file new lines go to, with its name, line count, hash
        self._name, self._n, self._prev = "", 0, GENESIS
        # files may wait from a stop; from then on only write() adds and retire() clears them,
        # so the writer's every group asks this flag, not the directory
        self._waiting = bool(self.files())

    # -- writing ----------------------------------------------------------------------
    def write(self, entries: list[tuple[str, Pending]]) -> list[JournalEntry]:
        """Append ``(scope, entry)`` pairs, each stamped with the time now, and make them
        durable (``fsync``) before returning them."""
        if self._file is None:
            self._open_new()
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        lines, written = [], []
        for scope, p in entries:
            self._n += 1
            stamped = Pending(p.actor, p.action, p.purpose, p.outcome, dict(p.details), at=at)
            body = _body(self._n, scope, stamped)
            self._prev = digest = _line_hash(self._prev, body)
            lines.append(json.dumps({**body, "hash": digest}, sort_keys=True) + "\n")
            written.append(_entry(body, digest))
        self._waiting = True
        self._file.write("".join(lines).encode("utf-8"))
        self._file.flush()
        os.fsync(self._file.fileno())
        return written

    def _open_new(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns():020d}-{os.getpid()}{_SUFFIX}"
        self._file = open(self.directory / name, "xb")  # noqa: SIM115 - kept open across calls
        _fsync_dir(self.directory)  # the new file's name is durable before a line counts
        self._name, self._n, self._prev = name, 0, GENESIS

    # -- folding ----------------------------------------------------------------------
    def files(self) -> list[Path]:
        """Journal files in the order they were started."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))

    @property
    def holds_entries(self) -> bool:
        """Whether a journal file may hold entries not folded yet (kept in memory: one thread
        writes and retires; files a stop left are found when the journal is opened)."""
        return self._waiting

    def read(self, path: Path) -> list[JournalEntry]:
        """The whole lines of ``path``, their chain checked; a torn last line is dropped."""
        entries, prev = [], GENESIS
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        for k, line in enumerate(lines):
            if not line:
                continue
            try:
                record = json.loads(line)
                digest = record.pop("hash")
            except (ValueError, KeyError):
                if k == len(lines) - 1:  # cut by a crash: never fsync-ed, never acknowledged
                    logger.warning(
                        "audit journal %s ends in a partly written line; it was "
                        "never acknowledged and is dropped",
                        path.name,
                    )
                    break
                raise JournalDamagedError(
                    f"audit journal {path.name}: line {k + 1} is not a journal entry"
                ) from None
            if _line_hash(prev, record) != digest or record.get("n") != len(entries) + 1:
                raise JournalDamagedError(
                    f"audit journal {path.name}: line {k + 1} does not follow the line before it "
                    "(the file was edited); nothing of it is folded"
                )
            entries.append(_entry(record, digest))
            prev = digest
        return entries

    def fold(self, conn: sa.Connection) -> int:
        """Append every journaled entry not folded yet to its chain inside ``conn``'s
        transaction, and record how far each file was folded; returns how many."""
        folded = 0
        f = audit_journal_folds.c
        for path in self.files():
            try:
                journaled = self.read(path)
            except JournalDamagedError as e:
                aside = path.with_name(path.name + ".damaged")
                path.rename(aside)  # kept for an auditor; never folded, never deleted here
                logger.error("%s; it was set aside as %s", e, aside.name)
                continue
            done = conn.execute(
                sa.select(f.folded).where(f.journal == path.name)
            ).scalar_one_or_none()
            entries = [e for e in journaled if e.n > (done or 0)]
            if not entries:
                continue
            by_scope: dict[str, list[Pending]] = {}
            for e in entries:  # each chain in journal order
                by_scope.setdefault(e.scope, []).append(e.pending)
            for scope in sorted(by_scope):
                append_many(conn, scope, by_scope[scope])
            values = {
                "folded": entries[-1].n,
                "hash": entries[-1].hash,
                "folded_at": datetime.now(UTC),
            }
            if done is None:
                conn.execute(audit_journal_folds.insert().values(journal=path.name, **values))
            else:
                conn.execute(
                    audit_journal_folds.update().where(f.journal == path.name).values(**values)
                )
            folded += len(entries)
        return folded

    def damaged(self) -> list[Path]:
        """Files set aside because their lines did not chain."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"*{_SUFFIX}.damaged"))

    def waiting(self, conn: sa.Connection) -> int:
        """Journaled entries not yet in their chains (a file that no longer chains counts
        none: it is set aside at the next fold)."""
        f, count = audit_journal_folds.c, 0
        for path in self.files():
            try:
                n = len(self.read(path))
            except JournalDamagedError:
                continue
            done = conn.execute(sa.select(f.folded).where(f.journal == path.name)).scalar()
            count += n - int(done or 0)
        return count

    def retire(self) -> None:
        """After the transaction of :meth:`fold` committed: close the open file and delete
        every file (all their lines are in their chains now)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        for path in self.files():
            path.unlink(missing_ok=True)
        self._waiting = False
        if self.directory.is_dir():
            _fsync_dir(self.directory)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
