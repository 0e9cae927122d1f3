"""What an agreement's public transparency page needs besides its audit: whether a steward
published it, and the verifications of its audit chain.

Every verification of a chain — through the API or the console (``GET .../audit/verify``) or
on the database (``caselink admin verify-audit``) — is recorded with its result
(:func:`record_verification`); the page shows the newest (:func:`latest_verification`).
Verifying a backup before a restore records nothing: it must not change the file it checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa

from service._audit import AuditCheck
from service._tables import agreements, audit_verifications
from service.repositories._rows import typed

__all__ = [
    "VIA",
    "VerificationRow",
    "is_published",
    "latest_verification",
    "record_verification",
    "set_published",
]

VIA = ("api", "cli", "console")
Via = Literal["api", "cli", "console"]


@dataclass(frozen=True)
class VerificationRow:
    """One verification of chain ``scope`` ("" is the service's own)."""

    scope: str
    verified_at: datetime
    ok: bool
    entries: int
    head_seq: int
    problems: int | None  # how many were found; None: not recorded (an entry before 0009)
    via: str  # api | cli | console
    against_checkpoints: bool  # the chain was also held to kept signed checkpoints


def record_verification(
    conn: sa.Connection,
    checks: Iterable[AuditCheck],
    *,
    via: Via,
    against_checkpoints: bool = False,
    at: datetime | None = None,
) -> None:
    """Record each check's result, made at ``at`` (now by default)."""
    if via not in VIA:
        raise ValueError(f"via: one of {', '.join(VIA)}")
    when = at or datetime.now(UTC)
    rows = [
        {
            "scope": c.scope,
            "verified_at": when,
            "ok": c.ok,
            "entries": c.entries,
            "head_seq": c.head_seq,
            "problems": len(c.problems),
            "via": via,
            "against_checkpoints": against_checkpoints,
        }
        for c in checks
    ]
    if rows:
        conn.execute(audit_verifications.insert(), rows)


def latest_verification(conn: sa.Connection, scope: str) -> VerificationRow | None:
    """The newest recorded verification of chain ``scope``; None if it was never verified."""
    v = audit_verifications.c
    row = conn.execute(
        sa.select(audit_verifications)
        .where(v.scope == scope)
        .order_by(v.verified_at.desc(), v.id.desc())
        .limit(1)
    ).first()
    return None if row is None else typed(VerificationRow, row)


def is_published(conn: sa.Connection, agreement_id: str) -> bool:
    """Whether the agreement's transparency page is published (False if there is none)."""
    found = conn.execute(
        sa.select(agreements.c.transparency_published).where(agreements.c.id == agreement_id)
    ).scalar()
    return bool(found)


def set_published(conn: sa.Connection, agreement_id: str, published: bool) -> bool:
    """Publish or unpublish the agreement's transparency page; returns whether it was."""
    was = is_published(conn, agreement_id)
    conn.execute(
        agreements.update()
        .where(agreements.c.id == agreement_id)
        .values(transparency_published=published)
    )
    return was
