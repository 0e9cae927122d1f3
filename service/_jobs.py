"""Background work of the service, behind one small interface.

A :class:`PeriodicJob` runs :meth:`~PeriodicJob.tick` on a daemon thread, waiting
:meth:`~PeriodicJob.wait_seconds` between ticks, logs (never raises) a tick that fails — the
database may be away for a while; the next tick tries again —, and on :meth:`~PeriodicJob.stop`
ends the thread and runs :meth:`~PeriodicJob.final` once. The retention sweeper, the audit
checkpoint writer and the rate-limit refusal counter are such jobs, so a second replica or an
external scheduler can take one over by calling ``tick`` itself.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["PeriodicJob"]

logger = logging.getLogger(__name__)


class PeriodicJob:
    """Subclasses give ``name``, ``tick`` and ``wait_seconds``; ``final`` is optional."""

    name = "caselink-job"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)

    def tick(self) -> None:
        raise NotImplementedError

    def wait_seconds(self) -> float:
        raise NotImplementedError

    def final(self) -> None:
        """What stop() does once the thread has ended (nothing by default)."""

    def start_thread(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.final()

    def _loop(self) -> None:
        while not self._stop.wait(self.wait_seconds()):
            try:
                self.tick()
            except Exception:
                logger.exception("%s failed; it runs again at its next tick", self.name)
