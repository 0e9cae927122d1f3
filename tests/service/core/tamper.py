"""What an attacker who holds only the database can do to an audit chain without breaking it:
drop the newest entries, or rewrite entries from some seq on, recomputing every later hash and
the chain's head so that the plain verification still passes."""

from __future__ import annotations

import sqlalchemy as sa

from service._audit import GENESIS, entry_hash
from service._tables import audit_entries, audit_heads

E = audit_entries.c


def _set_head(conn: sa.Connection, scope: str, seq: int, hash_: str) -> None:
    conn.execute(
        audit_heads.update().where(audit_heads.c.scope == scope).values(seq=seq, hash=hash_)
    )


def truncate(engine: sa.Engine, scope: str, keep: int) -> None:
    """Drop every entry after ``keep`` and rewrite the head to entry ``keep``."""
    with engine.begin() as conn:
        conn.execute(audit_entries.delete().where(E.scope == scope, E.seq > keep))
        kept = conn.execute(sa.select(E.hash).where(E.scope == scope, E.seq == keep)).scalar_one()
        _set_head(conn, scope, keep, kept)


def rewrite_from(engine: sa.Engine, scope: str, start: int) -> None:
    """Turn entry ``start`` into a refusal, then recompute it, every later entry and the head."""
    with engine.begin() as conn:
        prev = (
            conn.execute(sa.select(E.hash).where(E.scope == scope, E.seq == start - 1)).scalar()
            or GENESIS
        )
        rows = (
            conn.execute(
                sa.select(audit_entries).where(E.scope == scope, E.seq >= start).order_by(E.seq)
            )
            .mappings()
            .all()
        )
        for row in rows:
            new = {**dict(row), "prev_hash": prev}
            if row["seq"] == start:
                new["outcome"] = "forbidden"
            new["hash"] = entry_hash(prev, new)
            conn.execute(
                audit_entries.update()
                .where(E.id == row["id"])
                .values(outcome=new["outcome"], prev_hash=prev, hash=new["hash"])
            )
            prev = new["hash"]
        _set_head(conn, scope, rows[-1]["seq"], prev)


def head(engine: sa.Engine, scope: str) -> tuple[int, str]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(audit_heads).where(audit_heads.c.scope == scope)).one()
    return int(row.seq), row.hash
