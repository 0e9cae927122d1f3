"""Server-side sessions of the console: an API key signed in becomes a random session id.

The browser holds only the session id, in an httpOnly cookie; the database holds only its
BLAKE3 hash (``console_sessions``), with the key id it was signed in with — the key itself
is never stored, nor sent back. A session ends:

- at sign-out (:func:`end`);
- after ``idle`` without a page view (:func:`lookup` with ``touch``; the run page's progress
  polling does not count as a view, so an open page does not keep a session alive);
- when its key is revoked or rotated: :func:`lookup` reads the key with the session, and a
  revoked key ends every session signed in with it.

Every session carries a CSRF token that each of its forms sends back (:func:`csrf_matches`).
Times are passed in (``now``), so tests move the clock without sleeping.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import blake3
import sqlalchemy as sa

from service._tables import agencies, api_keys, console_sessions
from service.api.deps import Principal

__all__ = [
    "Ended",
    "Session",
    "csrf_matches",
    "end",
    "end_expired",
    "hash_session",
    "lookup",
    "start",
    "touch",
]


@dataclass(frozen=True)
class Session:
    """A signed-in session: who (the key's principal) and the token its forms carry."""

    principal: Principal
    csrf_token: str
    last_seen: datetime


@dataclass(frozen=True)
class Ended:
    """Why a session cookie named no live session: ``unknown`` (signed out, or never),
    ``idle`` (timed out) or ``revoked`` (its key was revoked or rotated)."""

    reason: str


def hash_session(session_id: str) -> str:
    return blake3.blake3(session_id.encode("utf-8")).hexdigest()


def start(conn: sa.Connection, principal: Principal, now: datetime) -> tuple[str, Session]:
    """A new session for ``principal``: (the id for the cookie, the session)."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(
        console_sessions.insert().values(
            id_hash=hash_session(session_id),
            key_id=principal.key_id,
            csrf_token=csrf,
            created_at=now,
            last_seen=now,
        )
    )
    return session_id, Session(principal, csrf, now)


def lookup(
    conn: sa.Connection, session_id: str, now: datetime, idle: timedelta, *, touch: bool
) -> Session | Ended:
    """The live session behind a cookie, or why there is none (then its row is gone).

    ``touch``: this request is a page view, so the idle time starts again."""
    s, k = console_sessions.c, api_keys.c
    query = (
        sa.select(s.id_hash, s.csrf_token, s.last_seen, k.id, k.agency_id, k.role, k.revoked_at)
        .add_columns(agencies.c.name)
        .join(api_keys, api_keys.c.id == s.key_id)
        .join(agencies, agencies.c.id == k.agency_id)
        .where(s.id_hash == hash_session(session_id))
    )
    row = conn.execute(query).first()
    if row is None:
        return Ended("unknown")
    ended = (
        "revoked" if row.revoked_at is not None else "idle" if now - row.last_seen > idle else None
    )
    if ended is not None:
        conn.execute(console_sessions.delete().where(s.id_hash == row.id_hash))
        return Ended(ended)
    if touch:
        conn.execute(
            console_sessions.update().where(s.id_hash == row.id_hash).values(last_seen=now)
        )
    principal = Principal(
        key_id=row.id, agency_id=int(row.agency_id), agency=row.name, role=row.role
    )
    return Session(principal, row.csrf_token, now if touch else row.last_seen)


def touch(conn: sa.Connection, session_id: str, now: datetime) -> None:
    """A page view: the session's idle time starts again."""
    conn.execute(
        console_sessions.update()
        .where(console_sessions.c.id_hash == hash_session(session_id))
        .values(last_seen=now)
    )


def end(conn: sa.Connection, session_id: str) -> bool:
    """Sign out: the session's row deleted. Whether there was one."""
    gone = conn.execute(
        console_sessions.delete().where(console_sessions.c.id_hash == hash_session(session_id))
    )
    return gone.rowcount > 0


def end_expired(conn: sa.Connection, now: datetime, idle: timedelta) -> int:
    """Delete every session idle past ``idle`` (done at each sign-in); how many went."""
    gone = conn.execute(console_sessions.delete().where(console_sessions.c.last_seen < now - idle))
    return gone.rowcount


def csrf_matches(expected: str, sent: str | None) -> bool:
    """Whether a form sent the session's CSRF token (compared in constant time)."""
    return bool(sent) and secrets.compare_digest(expected.encode(), (sent or "").encode())
