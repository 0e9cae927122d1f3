"""An agreement's audit log as the console shows it: filtered, paged, verified, exported.

Who may read it, and how each reading is audited, is the API's own: the gate is
:func:`service.api.access.open_agreement` with the roles of the audit routes
(:data:`service.api.routes.audit.AUDIT_ROLES`) and the action they record (``audit.read``,
``audit.verify``), default purpose ``oversight``. A page shows exactly the fields the API's
audit page does (:class:`AuditRow`), newest first, paged by ``seq`` (keyset: appending
entries never shifts a page); the CSV export streams every matching entry, oldest first, up
to the entry that records the export.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from service._audit import append
from service._db import reader_engine
from service.api.access import open_agreement
from service.api.deps import Principal
from service.api.errors import ServiceError
from service.api.models import AuditVerification
from service.api.routes import audit as audit_routes
from service.repositories import audit as audit_repo
from service.repositories import transparency as transparency_repo
from service.repositories.audit import AuditFilter
from service.repositories.transparency import VerificationRow

__all__ = [
    "CSV_COLUMNS",
    "PAGE_MAX",
    "AuditExport",
    "AuditLogPage",
    "AuditRow",
    "audit_csv",
    "audit_log",
    "verify_audit",
]

PAGE_MAX = 500
SEQ_MAX = 2**63 - 1
CSV_ROWS = 5000  # entries read per transaction of an export
CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "key_id",
    "role",
    "action",
    "purpose",
    "outcome",
    "details",
    "prev_hash",
    "hash",
)
_TEXT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # agency names, purposes, actions, outcomes
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a cell a spreadsheet would run as a formula


@dataclass(frozen=True)
class AuditRow:
    """One entry, with the fields the API's audit page shows (:class:`AuditEntryPublic`)."""

    seq: int
    at: str
    actor: str
    key_id: str | None
    role: str
    action: str
    purpose: str | None
    outcome: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditLogPage:
    """A page of the log, newest first, and how to page on."""

    agreement_id: str
    where: AuditFilter
    items: tuple[AuditRow, ...]
    older: int | None  # pass as ``before`` for the next older page; None: this is the oldest
    newer: int | None  # pass as ``after`` for the next newer page; None: this is the newest
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # agency, purpose, ...
    last_verification: VerificationRow | None = None  # of this chain, as recorded


@dataclass(frozen=True)
class AuditExport:
    """A CSV export, audited already: ``entries`` rows, streamed by ``chunks``."""

    agreement_id: str
    filename: str
    entries: int
    chunks: Iterator[str]


def _problems(where: AuditFilter) -> list[str]:
    problems = [
        f"{name}: up to 64 letters, digits, '_', '.', ':' or '-'"
        for name in ("agency", "purpose", "action", "outcome")
        if (value := getattr(where, name)) is not None and not _TEXT.fullmatch(value)
    ]
    for name in ("since", "until"):
        when = getattr(where, name)
        if when is not None and when.tzinfo is None:
            problems.append(f"{name}: a time with its time zone (UTC)")
    if not problems and where.since and where.until and where.since >= where.until:
        problems.append("until: after since")
    return problems


def _check(where: AuditFilter, **bounds: tuple[int | None, int, int]) -> None:
    """422 naming every filter field or paging parameter out of its form (never echoed)."""
    problems = _problems(where)
    for name, (value, low, high) in bounds.items():
        if value is not None and not low <= value <= high:
            problems.append(f"{name}: from {low} to {high}")
    if all(bounds.get(name, (None,))[0] is not None for name in ("before", "after")):
        problems.append("after: give before or after, not both")
    if problems:
        raise ServiceError(422, "invalid_request", "the audit filter is invalid", problems)


def _open(engine: sa.Engine, principal: Principal, agreement_id: str, action: str, purpose):
    _, why = open_agreement(
        engine,
        principal,
        agreement_id,
        action,
        audit_routes.AUDIT_ROLES,
        purpose,
        default_purpose="oversight",
    )
    return why


def _row(entry: Mapping[str, Any]) -> AuditRow:
    return AuditRow(**{name: entry[name] for name in CSV_COLUMNS})


def audit_log(
    engine: sa.Engine,
    principal: Principal,
    agreement_id: str,
    where: AuditFilter | None = None,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
    purpose: str | None = None,
) -> AuditLogPage:
    """A page of the agreement's audit log that ``where`` matches, newest first: the newest
    entries, those older than seq ``before`` or the ones just newer than seq ``after``; with
    the filter's choices and the chain's last recorded verification. Audited as the API's
    audit page (``audit.read``)."""
    where = where or AuditFilter()
    _check(
        where, limit=(limit, 1, PAGE_MAX), before=(before, 1, SEQ_MAX), after=(after, 0, SEQ_MAX)
    )
    why = _open(engine, principal, agreement_id, "audit.read", purpose)
    with engine.begin() as conn:
        rows = audit_repo.entries_page(
            conn, agreement_id, where, limit=limit + 1, before=before, after=after
        )
        more = len(rows) > limit
        if more:  # the row past the page: the newest when paging forward, else the oldest
            rows = rows[1:] if after is not None else rows[:limit]
        older, newer = _cursors(conn, agreement_id, where, rows, more, before, after)
        choices = audit_repo.facets(conn, agreement_id)
        last = transparency_repo.latest_verification(conn, agreement_id)
        details: dict[str, Any] = {"after": after or 0, "entries": len(rows)}
        if before is not None:
            details["before"] = before
        if where.audited():
            details["filter"] = where.audited()
        append(conn, agreement_id, principal.actor, "audit.read", purpose=why, details=details)
    items = tuple(_row(r) for r in rows)
    return AuditLogPage(
        agreement_id=agreement_id,
        where=where,
        items=items,
        older=older,
        newer=newer,
        choices={k: tuple(v) for k, v in choices.items()},
        last_verification=last,
    )


def _cursors(
    conn: sa.Connection,
    scope: str,
    where: AuditFilter,
    rows: list[dict[str, Any]],
    more: bool,
    before: int | None,
    after: int | None,
) -> tuple[int | None, int | None]:
    """``(older, newer)``: the cursors of the pages beside this one (newest first), None where
    no matching entry lies beyond it."""
    if not rows:
        return None, None
    oldest, newest = rows[-1]["seq"], rows[0]["seq"]

    def beyond(**edge: int) -> bool:
        return bool(audit_repo.entries_page(conn, scope, where, limit=1, **edge))

    older = more if after is None else beyond(before=oldest)
    newer = more if after is not None else before is not None and beyond(after=newest)
    return (oldest if older else None), (newest if newer else None)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, Mapping) else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _chunks(engine: sa.Engine, agreement_id: str, where: AuditFilter, upto: int) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    last = 0
    while True:
        with reader_engine(engine).connect() as conn:
            rows = audit_repo.entries_page(
                conn, agreement_id, where, limit=CSV_ROWS, after=last, upto=upto
            )[::-1]  # oldest first
        for r in rows:
            writer.writerow([_csv_cell(r[c]) for c in CSV_COLUMNS])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
        if len(rows) < CSV_ROWS:
            return
        last = rows[-1]["seq"]


def audit_csv(
    engine: sa.Engine,
    principal: Principal,
    agreement_id: str,
    where: AuditFilter | None = None,
    *,
    purpose: str | None = None,
    now: datetime | None = None,
) -> AuditExport:
    """Every entry of the agreement's audit log that ``where`` matches, as CSV, oldest first:
    the columns of the API's audit page (``details`` as JSON). The export is gated and
    audited (``audit.read`` with ``format: csv`` and the number of entries) before a row is
    read; the rows end with the entry before that record."""
    where = where or AuditFilter()
    _check(where)
    why = _open(engine, principal, agreement_id, "audit.read", purpose)
    with engine.begin() as conn:
        head = audit_repo.last_seq(conn, agreement_id)
        total = audit_repo.count_entries(conn, agreement_id, where, head)
        details: dict[str, Any] = {"format": "csv", "entries": total}
        if where.audited():
            details["filter"] = where.audited()
        append(conn, agreement_id, principal.actor, "audit.read", purpose=why, details=details)
    stamp = (now or datetime.now().astimezone()).strftime("%Y%m%d-%H%M%S")
    return AuditExport(
        agreement_id=agreement_id,
        filename=f"audit-{agreement_id}-{stamp}.csv",
        entries=total,
        chunks=_chunks(engine, agreement_id, where, head),
    )


def verify_audit(
    engine: sa.Engine, principal: Principal, agreement_id: str, *, purpose: str | None = None
) -> AuditVerification:
    """Recompute the agreement's chain, as ``GET .../audit/verify`` does (same roles, same
    ``audit.verify`` entry), recorded as made through the console."""
    why = _open(engine, principal, agreement_id, "audit.verify", purpose)
    return audit_routes.verify_chain(engine, agreement_id, principal, why, via="console")
