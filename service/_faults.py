"""Deterministic fault injection, for crash tests only: named points where the service dies.

The upload, run and withdrawal paths call :meth:`Faults.reach` at the moments a crash
matters. Normally that does nothing. With the test-only setting
``CASELINK_TEST_FAULTS_FILE``, each call reads that file; a line ``kill POINT`` makes the
service SIGKILL itself and its process group (its local Ray) right there — the crash a power
cut or ``kill -9`` would cause, at a known place instead of a lucky moment — and a line
``pause POINT`` holds the thread that reached the point until the service stops (a run held
that way stays active for as long as a test needs). A test writes the file, acts, sees the
server die, clears the file and starts the server again on the same database.

Points (:data:`POINTS`)::

    upload.received         the body is in the upload directory; nothing stored yet
    upload.committed        the batch and its audit entry are committed; no answer sent
    run.linked              the run's changes are computed; nothing of them stored
    run.filters_kept        the run is committed; its batches' filters not yet dropped
    run.committed           registry, batches, outcome and audit committed; index not told
    run.indexed             the tracing index holds the run; its final status not written
    withdraw.before_commit  the withdrawal's changes are made in its transaction, uncommitted
    withdraw.committed      the withdrawal is committed; index not told, no receipt sent
    lease.heartbeat         the replica is about to renew its run leases (``pause``: they
                            lapse while it lives on; :mod:`service._runlease`)

Never set the file on a service that holds real data.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

__all__ = ["POINTS", "Faults"]

logger = logging.getLogger(__name__)

POINTS = (
    "upload.received",
    "upload.committed",
    "run.linked",
    "run.filters_kept",
    "run.committed",
    "run.indexed",
    "withdraw.before_commit",
    "withdraw.committed",
    "lease.heartbeat",
)
ACTIONS = ("kill", "pause")


class Faults:
    """The fault points of one service; inert unless ``path`` (the test setting) is given."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._stopping = threading.Event()

    def armed(self) -> dict[str, str]:
        """``{point: action}`` as the file says now (empty when unset or absent)."""
        if self.path is None:
            return {}
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        armed = {}
        for line in text.splitlines():
            action, _, point = line.strip().partition(" ")
            if action in ACTIONS and point.strip() in POINTS:
                armed[point.strip()] = action
        return armed

    def reach(self, point: str) -> None:
        """Carry on, die, or wait here, as the faults file says for ``point``."""
        if point not in POINTS:
            raise ValueError(f"no fault point {point!r}; the points are {', '.join(POINTS)}")
        action = self.armed().get(point) if self.path is not None else None
        if action == "kill":
            logger.warning("fault point %s: killing the service and its process group", point)
            _kill_group()
        elif action == "pause":
            logger.warning("fault point %s: holding here until the service stops", point)
            self._stopping.wait()

    def release(self) -> None:
        """Let every paused thread go on (the service is stopping)."""
        self._stopping.set()


def _kill_group() -> None:
    """SIGKILL this process's group when this process leads it (``caselink serve`` started in
    its own session, as tests start it), else this process alone."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
