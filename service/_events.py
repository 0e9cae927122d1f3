"""Change notifications inside the service: who must hear that an agreement's registry changed.

Runs, withdrawals and retention purges :meth:`ChangeFeed.publish` the agreement id after
their transaction committed — a withdrawal with the registry ids it touched, so that a view
can read those again instead of everything; in-memory views (the tracing index)
:meth:`subscribe` with a callback ``(agreement_id, records)``, ``records`` None when the
publisher names none. A subscriber that fails is logged and does not stop the others or the
publisher — the database stays the source of truth, and a view can always be rebuilt from it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait

__all__ = ["ChangeFeed"]

logger = logging.getLogger(__name__)

Subscriber = Callable[[str, Sequence[int] | None], object]


class ChangeFeed:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def publish(self, agreement_id: str, wait: float | None = None, *,
                records: Sequence[int] | None = None) -> None:  # fmt: skip
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
                logger.warning("a view of %s failed to update: %s", agreement_id,
                               type(f.exception()).__name__)  # fmt: skip
