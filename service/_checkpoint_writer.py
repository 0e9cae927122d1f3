"""The service's checkpoint file: signed heads of every chain that moved, appended, never rewritten.

:class:`CheckpointWriter` runs inside the service. At start it reads the file for the newest
checkpoint of each chain it signed before, and checks that each chain in the database still
extends it — an error in the log otherwise (a truncation or rewrite since, or a restore from
an older backup). It then appends a checkpoint (:mod:`service._checkpoint`) of every chain
whose head differs from the one last written; again every ``interval`` seconds on a daemon
thread, once more at shutdown, and whenever a party fetches a checkpoint through the API.

The file is opened with ``O_APPEND`` for each write and written one whole batch of lines at a
time, then ``fsync``\\ ed: earlier lines are never read back for writing, moved or rewritten.
That the *service* never rewrites it does not stop the file's owner; make it append-only at
the operating system (``chattr +a``) or ship it to a host the database's holder cannot reach.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from service._checkpoint import (
    FORMAT,
    CheckpointError,
    canonical,
    chain_name,
    make_checkpoint,
)
from service._jobs import PeriodicJob
from service._signing import AuditSigner
from service._tables import audit_entries, audit_heads

__all__ = ["CheckpointWriter", "append_checkpoints"]

logger = logging.getLogger(__name__)
Head = tuple[int, str]  # (seq, hash) of a chain's newest entry


def append_checkpoints(path: Path, documents: list[dict[str, Any]]) -> None:
    """Append ``documents`` to ``path`` as JSON lines, in one write, with ``O_APPEND``."""
    if not documents:
        return
    data = "".join(
        json.dumps(d, sort_keys=True, separators=(",", ":")) + "\n" for d in documents
    ).encode("utf-8")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _newest_signed(path: Path, signer: AuditSigner) -> dict[str, Head]:
    """Per chain, the newest checkpoint in ``path`` that this key signed (signature checked)."""
    newest: dict[str, tuple[int, dict[str, Any]]] = {}
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            try:
                doc = json.loads(line)
                mine = doc["format"] == FORMAT and doc["key_id"] == signer.key_id
                scope, seq = str(doc["scope"]), int(doc["seq"])
            except (ValueError, KeyError, TypeError):
                logger.warning("line %s of the audit checkpoint file is not a checkpoint", number)
                continue
            if mine and seq >= newest.get(scope, (-1, {}))[0]:
                newest[scope] = (number, doc)
    heads = {}
    for scope, (number, doc) in newest.items():
        try:
            valid = signer.public.verifies(bytes.fromhex(doc["signature"]), canonical(doc))
        except (ValueError, TypeError):
            valid = False
        if valid:
            heads[scope] = (int(doc["seq"]), str(doc["hash"]))
        else:
            logger.error("line %s of the audit checkpoint file has a bad signature", number)
    return heads


def _continuity(conn: sa.Connection, scope: str, last: Head, head: Head) -> str | None:
    """Why the chain's ``head`` does not extend the ``last`` checkpoint written; None if it does."""
    if head[0] < last[0]:
        return f"it went back from entry {last[0]} to entry {head[0]}"
    e = audit_entries.c
    found = conn.execute(sa.select(e.hash).where(e.scope == scope, e.seq == last[0])).first()
    if last[0] > 0 and (found is None or found.hash != last[1]):
        return f"its entry {last[0]} is not the one checkpointed"
    return None


class CheckpointWriter(PeriodicJob):
    """Checkpoints of every chain that moved, to ``path``: at start, every ``interval``
    seconds, at stop, and for every checkpoint handed out (:meth:`checkpoint`)."""

    def __init__(self, engine: sa.Engine, signer: AuditSigner, path: Path, interval: float) -> None:
        self.engine, self.signer, self.path, self.interval = engine, signer, path, interval
        self._last: dict[str, Head] = {}
        self._lock = threading.Lock()
        super().__init__()

    name = "caselink-checkpoints"

    def start(self) -> CheckpointWriter:
        try:  # a service that cannot anchor its audit must not start
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as e:
            raise CheckpointError(
                f"audit checkpoint file {self.path}: cannot append to it ({e.strerror}); "
                "set CASELINK_AUDIT_CHECKPOINT_FILE or CASELINK_STATE_DIR"
            ) from e
        self._last = _newest_signed(self.path, self.signer)
        self.write_moved()
        self.start_thread()
        return self

    def wait_seconds(self) -> float:
        return self.interval

    def tick(self) -> None:
        self.write_moved()

    def final(self) -> None:
        """At stop: checkpoint whatever moved since the last write."""
        self.write_moved()

    def checkpoint(self, scope: str, seq: int, hash_: str) -> dict[str, Any]:
        """A signed checkpoint of a committed head, written to the file as well."""
        document = make_checkpoint(self.signer, scope, seq, hash_)
        try:
            with self._lock:
                append_checkpoints(self.path, [document])
                if seq >= self._last.get(scope, (-1, ""))[0]:
                    self._last[scope] = (seq, hash_)
        except OSError:  # the caller still gets its checkpoint; the next write retries
            logger.exception("could not append to the audit checkpoint file")
        return document

    def write_moved(self) -> list[dict[str, Any]]:
        """Checkpoint every chain whose head moved since the last checkpoint written."""
        with self._lock, self.engine.connect() as conn:
            heads = conn.execute(
                sa.select(audit_heads.c.scope, audit_heads.c.seq, audit_heads.c.hash)
            ).all()
            moved = [
                (r.scope, int(r.seq), r.hash)
                for r in heads
                if self._last.get(r.scope) != (int(r.seq), r.hash)
            ]
            for scope, seq, hash_ in moved:
                self._warn_if_broken(conn, scope, (seq, hash_))
            documents = [make_checkpoint(self.signer, s, q, h) for s, q, h in moved]
            append_checkpoints(self.path, documents)
            self._last.update({s: (q, h) for s, q, h in moved})
        return documents

    def _warn_if_broken(self, conn: sa.Connection, scope: str, head: Head) -> None:
        last = self._last.get(scope)
        why = _continuity(conn, scope, last, head) if last is not None else None
        if why is not None:
            logger.error(
                "audit chain %s does not extend its last checkpoint: %s. Entries were removed "
                "or rewritten (or an older backup restored); see caselink admin verify-audit "
                "--against %s",
                chain_name(scope),
                why,
                self.path,
            )
