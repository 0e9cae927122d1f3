"""The tamper-evident audit log: every access to agreement data appends a hash-chained entry.

One chain per agreement (``scope`` = agreement id) and one for the service itself (scope
``""``: agencies, keys, agreements created). Entry ``n`` stores ``prev_hash`` (the hash of
entry ``n-1``, 64 zeros for the first) and ``hash`` = BLAKE3 of ``prev_hash`` and the entry's
canonical JSON (scope, seq, time, actor, key id, role, action, purpose, outcome, details).
``audit_heads`` holds the newest (seq, hash) of each chain, so removing the newest entries is
caught too. :func:`verify` recomputes a chain and names every edited, removed or reordered
entry. Details hold counts and ids only — never a filter, a key or a secret.

A chain proves that nobody edited entries *without recomputing every later hash*. Whoever
holds the database can recompute them and ``audit_heads`` too — drop the newest entries, say —
and the chain alone still verifies. Signed checkpoints kept outside the database
(:mod:`service._checkpoint`) catch that: :func:`verify` with ``kept`` refuses a chain shorter
than a kept checkpoint, or whose entry at a checkpoint's ``seq`` has another hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import blake3
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from service._tables import audit_entries, audit_heads

__all__ = [
    "GENESIS",
    "Actor",
    "AuditCheck",
    "Pending",
    "append",
    "append_many",
    "entry_hash",
    "verify",
]

GENESIS = "0" * 64
SYSTEM = "caselink"
_HASHED = (
    "scope",
    "seq",
    "at",
    "actor",
    "key_id",
    "role",
    "action",
    "purpose",
    "outcome",
    "details",
)


@dataclass(frozen=True)
class Actor:
    """Who acts: an agency through one of its keys, or the service itself."""

    agency: str
    role: str
    key_id: str | None = None


SERVICE_ACTOR = Actor(agency=SYSTEM, role="service")


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    body = json.dumps({k: entry[k] for k in _HASHED}, sort_keys=True, separators=(",", ":"))
    return blake3.blake3((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


def _head_for_update(conn: sa.Connection, scope: str) -> tuple[int, str]:
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        audit_heads
    )
    conn.execute(insert.values(scope=scope, seq=0, hash=GENESIS).on_conflict_do_nothing())
    row = conn.execute(
        sa.select(audit_heads.c.seq, audit_heads.c.hash)
        .where(audit_heads.c.scope == scope)
        .with_for_update()
    ).one()
    return int(row.seq), row.hash


@dataclass(frozen=True)
class Pending:
    """One entry to append, before it has a place in its chain."""

    actor: Actor
    action: str
    purpose: str | None = None
    outcome: str = "ok"
    details: Mapping[str, Any] = field(default_factory=dict)
    at: str | None = None  # when it happened, if not now (an entry folded from the journal)


def append(
    conn: sa.Connection,
    scope: str,
    actor: Actor,
    action: str,
    *,
    purpose: str | None = None,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one entry to ``scope``'s chain inside the caller's transaction; returns it.

    Appends are serialised by the database: ``SELECT ... FOR UPDATE`` of the chain's head on
    PostgreSQL, and the service's ``BEGIN IMMEDIATE`` transactions on SQLite.
    """
    (entry,) = append_many(conn, scope, [Pending(actor, action, purpose, outcome, details or {})])
    return entry


def append_many(conn: sa.Connection, scope: str, pending: list[Pending]) -> list[dict[str, Any]]:
    """Append ``pending`` to ``scope``'s chain, in order, inside the caller's transaction:
    the head read and moved once, the entries inserted by one statement; returns them."""
    if not pending:
        return []
    seq, prev = _head_for_update(conn, scope)
    entries = []
    for p in pending:
        seq += 1
        entry = {
            "scope": scope,
            "seq": seq,
            "at": p.at or datetime.now(UTC).isoformat(timespec="microseconds"),
            "actor": p.actor.agency,
            "key_id": p.actor.key_id,
            "role": p.actor.role,
            "action": p.action,
            "purpose": p.purpose,
            "outcome": p.outcome,
            "details": json.dumps(dict(p.details), sort_keys=True, separators=(",", ":")),
        }
        entry["prev_hash"] = prev
        entry["hash"] = prev = entry_hash(prev, entry)
        entries.append(entry)
    conn.execute(audit_entries.insert(), entries)
    conn.execute(
        audit_heads.update().where(audit_heads.c.scope == scope).values(seq=seq, hash=prev)
    )
    return entries


@dataclass
class AuditCheck:
    """The result of recomputing one chain."""

    scope: str
    entries: int
    head_seq: int
    head_hash: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(conn: sa.Connection, scope: str, kept: Mapping[int, str] | None = None) -> AuditCheck:
    """Recompute ``scope``'s chain; every edited, removed or reordered entry is a problem.

    ``kept`` maps the ``seq`` of each kept checkpoint of this chain (signatures already
    checked) to its hash: a chain shorter than one, or with another hash there, is a problem.
    """
    head_seq, head_hash, rows = _consistent_read(conn, scope)
    check = AuditCheck(scope, 0, head_seq, head_hash)
    kept, matched = kept or {}, set()
    prev_hash, prev_seq = GENESIS, 0
    for row in rows:
        check.entries += 1
        seq = int(row["seq"])
        check.problems.extend(_row_problems(row, prev_seq, prev_hash, kept.get(seq)))
        if seq in kept:
            matched.add(seq)
        prev_hash, prev_seq = row["hash"], seq
    if (prev_seq, prev_hash) != (check.head_seq, check.head_hash):
        check.problems.append(
            f"the chain ends at entry {prev_seq} but its head records entry {check.head_seq}: "
            "the newest entries were removed or the head was altered"
        )
    check.problems.extend(_kept_problems(kept, matched, prev_seq))
    return check


def _consistent_read(conn: sa.Connection, scope: str) -> tuple[int, str, list[Any]]:
    """The chain's head (``seq``, ``hash``) and its entries as of one moment. Two statements
    may see two states (PostgreSQL's READ COMMITTED): an append committed between reading the
    entries and the head read as entries removed. One statement sees one state: a one-row
    select of the head (NULLs where its row is missing), outer-joined to the entries, so it
    comes back even for a chain without entries."""
    e, h = audit_entries.c, audit_heads.c
    head_of = sa.select(audit_heads).where(h.scope == scope)
    head = sa.select(
        head_of.with_only_columns(h.seq).scalar_subquery().label("head_seq"),
        head_of.with_only_columns(h.hash).scalar_subquery().label("head_hash"),
    ).subquery()
    read = (
        sa.select(head.c.head_seq, head.c.head_hash, audit_entries)
        .select_from(head.outerjoin(audit_entries, e.scope == scope))
        .order_by(e.seq, e.id)
    )
    result = list(conn.execute(read).mappings())
    rows = [r for r in result if r["seq"] is not None]  # no entries: the head's row alone
    first = result[0]  # a head row deleted reads as the genesis head: a problem if entries exist
    if first["head_seq"] is None:
        return 0, GENESIS, rows
    return int(first["head_seq"]), first["head_hash"], rows


def _row_problems(row: Any, prev_seq: int, prev_hash: str, kept_hash: str | None) -> list[str]:
    """What is wrong with one entry, given the entry before it and any kept hash of it."""
    seq, problems = int(row["seq"]), []
    if seq != prev_seq + 1:
        problems.append(
            f"entries {prev_seq + 1}..{seq - 1} are missing (removed)"
            if seq > prev_seq + 1
            else f"entry {seq} appears out of order or twice"
        )
    if row["prev_hash"] != prev_hash:
        problems.append(
            f"entry {seq} does not follow the entry before it "
            "(an entry was removed, inserted or reordered)"
        )
    if entry_hash(row["prev_hash"], dict(row)) != row["hash"]:
        problems.append(f"entry {seq} was edited: its hash does not match its content")
    if kept_hash is not None and kept_hash != row["hash"]:
        problems.append(
            f"entry {seq} is not the entry a kept checkpoint signed: the chain was rewritten "
            f"at or before entry {seq}"
        )
    return problems


def _kept_problems(kept: Mapping[int, str], matched: set[int], last: int) -> list[str]:
    """Kept checkpoints past the chain's end, or of entries no longer in it."""
    problems = []
    beyond = [seq for seq in kept if seq > last]
    if beyond:
        problems.append(
            f"the chain ends at entry {last} but a kept checkpoint signed entry {max(beyond)}: "
            "the newest entries were removed (truncated)"
        )
    gone = sorted(seq for seq in kept if 0 < seq <= last and seq not in matched)
    if gone:
        problems.append(f"entry {gone[0]} of a kept checkpoint is missing from the chain")
    return problems
