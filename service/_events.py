"""Change notifications inside the service: who must hear that an agreement's registry changed.

Runs, withdrawals and retention purges :meth:`ChangeFeed.publish` the agreement id after
their transaction committed — a withdrawal with the registry ids it touched, so that a view
can read those again instead of everything; in-memory views (the tracing index)
:meth:`subscribe` with a callback ``(agreement_id, records)``, ``records`` None when the
publisher names none. A subscriber that fails is logged and does not stop the others or the
publisher — the database stays the source of truth, and a view can always be rebuilt from it.

The feed reaches this process only. Several replicas may serve one database, so every change
is also numbered in the database, in its own transaction (:func:`record_change`: it bumps
``agreements.index_version`` — a row lock, so changes of one agreement commit in the order
of their numbers — and logs the registry ids it touched in ``index_changes``). A view notes
the number it reflects; before it answers it reads the agreement's number
(:func:`current_version`, one primary-key lookup) and, if newer, takes the changes since
(:func:`changes_since`): the union of their ids, or None when one named none (a run, a
purge) or is no longer logged — then the view compares itself with the whole registry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from datetime import UTC, datetime

import sqlalchemy as sa

from service._tables import agreements, index_changes

__all__ = ["KEEP_CHANGES", "ChangeFeed", "changes_since", "current_version", "record_change"]

logger = logging.getLogger(__name__)

Subscriber = Callable[[str, Sequence[int] | None], object]
KEEP_CHANGES = 1000  # logged changes kept per agreement; a view further behind compares all


def record_change(
    conn: sa.Connection, agreement_id: str, registry_ids: Sequence[int] | None = None
) -> int:
    """Number a change of the agreement's registry in the caller's transaction (call it
    before the change's writes: the agreement's row lock orders the changes); returns the
    number. ``registry_ids``: the ids it touched, None when not named."""
    a = agreements.c
    conn.execute(
        agreements.update().where(a.id == agreement_id).values(index_version=a.index_version + 1)
    )
    version = int(conn.execute(sa.select(a.index_version).where(a.id == agreement_id)).scalar_one())
    ids = None if registry_ids is None else sorted({int(i) for i in registry_ids})
    conn.execute(
        index_changes.insert().values(
            agreement_id=agreement_id,
            version=version,
            registry_ids=ids,
            changed_at=datetime.now(UTC),
        )
    )
    c = index_changes.c
    conn.execute(
        index_changes.delete().where(
            c.agreement_id == agreement_id, c.version <= version - KEEP_CHANGES
        )
    )
    return version


def current_version(conn: sa.Connection, agreement_id: str) -> int:
    """The number of the agreement's last change (0: none, or no such agreement)."""
    a = agreements.c
    found = conn.execute(sa.select(a.index_version).where(a.id == agreement_id)).scalar()
    return int(found or 0)


def changes_since(
    conn: sa.Connection, agreement_id: str, since: int
) -> tuple[int, list[int] | None]:
    """``(version, ids)``: the agreement's number now and the registry ids its changes after
    ``since`` touched — None when one of them named none or is no longer logged."""
    version = current_version(conn, agreement_id)
    if version <= since:
        return version, []
    c = index_changes.c
    rows = conn.execute(
        sa.select(c.version, c.registry_ids).where(
            c.agreement_id == agreement_id, c.version > since, c.version <= version
        )
    ).all()
    if len(rows) != version - since or any(r.registry_ids is None for r in rows):
        return version, None
    return version, sorted({int(i) for r in rows for i in r.registry_ids})


class ChangeFeed:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def publish(
        self, agreement_id: str, wait: float | None = None, *, records: Sequence[int] | None = None
    ) -> None:
        """Tell every subscriber (with ``records``, the registry ids the change touched, if
        known); with ``wait``, also wait (that many seconds at most) for the futures they
        return — e.g. until the tracing index holds the change."""
        with self._lock:
            subscribers = list(self._subscribers)
        pending = []
        for callback in subscribers:
            try:
                result = callback(agreement_id, records)
            except Exception:  # a view that cannot update must not fail the change itself
                logger.exception("a subscriber failed to take the change of %s", agreement_id)
                continue
            if isinstance(result, Future):
                pending.append(result)
        if wait is None or not pending:
            return
        done, late = futures_wait(pending, timeout=wait)
        if late:
            logger.warning("views of %s still updating after %.0f s", agreement_id, wait)
        for f in done:
            if f.exception() is not None:
                logger.warning(
                    "a view of %s failed to update: %s", agreement_id, type(f.exception()).__name__
                )
