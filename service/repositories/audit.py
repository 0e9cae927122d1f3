"""Pages of an audit chain (appending and verifying are :mod:`service._audit`'s).

:func:`entries_after` is the API's page; :func:`entries_page` the console's: filtered by
agency, purpose, action, outcome and time (:class:`AuditFilter`), newest first, paged by
``seq`` (keyset: a page never shifts when entries are appended, since a chain's seqs never
change). :func:`monthly_counts` and :func:`entry_details` are what the public transparency
figures are counted from. Entry times are stored as UTC ISO 8601 text, all in one format,
so they compare as text (:func:`iso`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from service._tables import audit_entries

__all__ = [
    "REFUSED",
    "AuditFilter",
    "count_entries",
    "entries_after",
    "entries_page",
    "entry_details",
    "facets",
    "iso",
    "last_seq",
    "monthly_counts",
]

REFUSED = "refused"  # as an outcome filter: every outcome but ok


def iso(when: datetime) -> str:
    """``when`` as entries store their time (UTC, ISO 8601, microseconds)."""
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show; None matches everything."""

    agency: str | None = None  # the agency that acted (an entry's actor)
    purpose: str | None = None
    action: str | None = None
    outcome: str | None = None  # ok, an error code, or REFUSED (any but ok)
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        e = audit_entries.c
        found: list[sa.ColumnElement[bool]] = []
        if self.agency is not None:
            found.append(e.actor == self.agency)
        if self.purpose is not None:
            found.append(e.purpose == self.purpose)
        if self.action is not None:
            found.append(e.action == self.action)
        if self.outcome == REFUSED:
            found.append(e.outcome != "ok")
        elif self.outcome is not None:
            found.append(e.outcome == self.outcome)
        if self.since is not None:
            found.append(e.at >= iso(self.since))
        if self.until is not None:
            found.append(e.at < iso(self.until))
        return found

    def audited(self) -> dict[str, str]:
        """The filter as an audit entry records it (names and codes, never a record)."""
        values = {
            "agency": self.agency,
            "purpose": self.purpose,
            "action": self.action,
            "outcome": self.outcome,
            "since": iso(self.since) if self.since else None,
            "until": iso(self.until) if self.until else None,
        }
        return {k: v for k, v in values.items() if v is not None}


def _parsed(rows: Any) -> list[dict[str, Any]]:
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


def entries_after(conn: sa.Connection, scope: str, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` entries of chain ``scope`` after seq ``after``, oldest first, each a
    dict of its columns with ``details`` parsed."""
    e = audit_entries.c
    rows = (
        conn.execute(
            sa.select(audit_entries)
            .where(e.scope == scope, e.seq > after)
            .order_by(e.seq)
            .limit(limit)
        )
        .mappings()
        .all()
    )
    return _parsed(rows)


def entries_page(
    conn: sa.Connection,
    scope: str,
    where: AuditFilter,
    *,
    limit: int,
    before: int | None = None,
    after: int | None = None,
    upto: int | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` entries of chain ``scope`` that ``where`` matches, newest first: the
    newest of all, those older than seq ``before``, or the oldest ones newer than seq
    ``after`` (at most one of the two); none past seq ``upto``, when given."""
    if before is not None and after is not None:
        raise ValueError("before and after: give one of them, not both")
    e = audit_entries.c
    query = sa.select(audit_entries).where(e.scope == scope, *where.conditions())
    if upto is not None:
        query = query.where(e.seq <= upto)
    if after is not None:
        query = query.where(e.seq > after).order_by(e.seq)
    else:
        query = query.where(e.seq < before) if before is not None else query
        query = query.order_by(e.seq.desc())
    rows = _parsed(conn.execute(query.limit(limit)).mappings().all())
    return rows[::-1] if after is not None else rows


def last_seq(conn: sa.Connection, scope: str) -> int:
    """The seq of chain ``scope``'s newest entry (0 for a chain with none)."""
    e = audit_entries.c
    query = sa.select(sa.func.coalesce(sa.func.max(e.seq), 0)).where(e.scope == scope)
    return int(conn.execute(query).scalar_one())


def count_entries(conn: sa.Connection, scope: str, where: AuditFilter, upto: int) -> int:
    """How many entries of chain ``scope`` up to seq ``upto`` ``where`` matches."""
    e = audit_entries.c
    query = sa.select(sa.func.count()).where(e.scope == scope, e.seq <= upto, *where.conditions())
    return int(conn.execute(query).scalar_one())


def facets(conn: sa.Connection, scope: str) -> dict[str, list[str]]:
    """The agencies, purposes, actions and outcomes chain ``scope`` holds, each sorted: the
    choices of a filter."""
    e = audit_entries.c
    found = {}
    for name, column in (
        ("agency", e.actor),
        ("purpose", e.purpose),
        ("action", e.action),
        ("outcome", e.outcome),
    ):
        values = conn.execute(sa.select(column).where(e.scope == scope).distinct()).scalars()
        found[name] = sorted(str(v) for v in values if v is not None)
    return found


def monthly_counts(
    conn: sa.Connection,
    scope: str,
    start: str,
    end: str,
    *,
    actions: tuple[str, ...] | None,
    ok: bool,
    besides: tuple[str, ...] = (),
) -> list[tuple[str, str, str | None, int]]:
    """``(month, action, purpose, entries)`` of chain ``scope``'s entries made in months
    ``start`` up to ``end`` (exclusive; months written ``YYYY-MM``): of ``actions`` (None:
    every action), answered (``ok``) or refused (not ``ok``, and no outcome of ``besides``).
    Counted by the database."""
    e = audit_entries.c
    month = sa.func.substr(e.at, 1, 7).label("month")
    query = sa.select(month, e.action, e.purpose, sa.func.count()).where(
        e.scope == scope,
        e.outcome == "ok" if ok else e.outcome.not_in(("ok", *besides)),
        e.at >= start,
        e.at < end,
    )
    if actions is not None:
        query = query.where(e.action.in_(actions))
    query = query.group_by(month, e.action, e.purpose)
    return [(str(m), str(a), p, int(n)) for m, a, p, n in conn.execute(query).all()]


def entry_details(
    conn: sa.Connection,
    scope: str,
    start: str,
    end: str,
    *,
    outcome: str,
    action: str | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """``(at, details)`` of chain ``scope``'s entries with ``outcome`` (of ``action`` only,
    when given) made from ``start`` up to ``end`` (texts compared as entries store their
    time), oldest first."""
    e = audit_entries.c
    query = sa.select(e.at, e.details).where(
        e.scope == scope, e.outcome == outcome, e.at >= start, e.at < end
    )
    if action is not None:
        query = query.where(e.action == action)
    rows = conn.execute(query.order_by(e.seq)).all()
    return [(str(at), json.loads(details)) for at, details in rows]
