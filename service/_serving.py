"""Whether a service is running on a SQLite database: a lock beside the file.

Every ``caselink serve`` on a SQLite database holds a shared ``flock`` on ``<database>.serving``
for as long as it runs (replicas on one machine share it); the kernel drops it when the process
ends, however it ends, so it never goes stale. ``caselink admin restore`` takes the lock
exclusively, without waiting: while any service holds it the restore is refused — restoring
under a running service would silently discard what it stores afterwards — and while a
restore holds it, a service refuses to start. PostgreSQL has no such file: its restores go
through its own tools, with the service stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from caselink_errors import BackupError, ConfigurationError

__all__ = ["ServingLock", "lock_path", "no_service_running"]


def lock_path(url: str) -> Path | None:
    """``<database>.serving`` of a SQLite file URL; None for anything else."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database) + ".serving")


def _open(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return os.fdopen(fd, "rb+")


class ServingLock:
    """The shared lock a running service holds on its SQLite database (nothing elsewhere)."""

    def __init__(self, url: str) -> None:
        self._file: IO[bytes] | None = None
        path = lock_path(url)
        if path is None or not path.parent.is_dir():
            return
        handle = _open(path)
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigurationError(
                f"a restore of {path.with_suffix('').name} is under way "
                "(caselink admin restore); start the service once it is done"
            ) from None
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None


@contextlib.contextmanager
def no_service_running(url: str) -> Iterator[None]:
    """Hold the database's lock exclusively for a restore; refused while a service runs."""
    path = lock_path(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                "a caselink service is running on this database: stop it (every replica "
                "on it) first, then restore — a restore under a running service would "
                "discard what it stores afterwards"
            ) from None
        yield
