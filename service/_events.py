"""Change notifications inside the service: who must hear that an agreement's registry changed.

Runs, withdrawals and retention purges :meth:`ChangeFeed.publish` the agreement id after
their transaction committed; in-memory views (the tracing index) :meth:`subscribe`. A
subscriber that fails is logged and does not stop the others or the publisher — the database
stays the source of truth, and a view can always be rebuilt from it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["ChangeFeed"]

logger = logging.getLogger(__name__)


class ChangeFeed:
    def __init__(self) -> None:
        self._subscribers: list[Callable[[str], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[str], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def publish(self, agreement_id: str) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(agreement_id)
            except Exception:  # a view that cannot update must not fail the change itself
                logger.exception("a subscriber failed to take the change of %s", agreement_id)
