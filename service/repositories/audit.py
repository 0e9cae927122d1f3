"""Pages of an audit chain (appending and verifying are :mod:`service._audit`'s)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from service._tables import audit_entries

__all__ = ["entries_after"]


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
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]
