"""Large tracing indexes are built in a process of their own, off the service's GIL.

Rebuilding an index is seconds of work: reading every record of the registry (row objects
made while holding the GIL), factorising case ids, fitting the calibration on pseudo-queries.
In the service process every request thread shares one GIL with that work, and tracing
queries answered during a rebuild waited for it. :class:`BuildProcess` runs the build in one
long-lived worker process instead (spawned on first use, kept for the next builds, replaced
if it dies): the worker opens the database itself and sends back the finished index — numpy
arrays only, case ids as a fixed-width string array — which the service takes in with a few
copies and swaps in as before.

The worker runs at a lower CPU priority (nice value :data:`NICENESS` unless the service
sets ``CASELINK_BACKGROUND_NICENESS``): on a machine short of cores the
rebuild takes what the request threads leave, and a run waits a little longer for its index.

Only a database that another process can open qualifies (:func:`shareable_url`): an
in-memory SQLite database is built in the calling thread, as are small registries, where
starting a worker (seconds of imports) would cost more than it saves.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

import sqlalchemy as sa

from caselink_errors import BuildProcessError

if TYPE_CHECKING:
    from linkage import QueryIndex

__all__ = ["BuildProcess", "BuildProcessError", "shareable_url"]

logger = logging.getLogger(__name__)

NICENESS = 10  # the worker's nice value (POSIX): queries first, rebuilds after


def shareable_url(engine: sa.Engine | None) -> str | None:
    """The engine's URL (with its password) if another process can open the same database."""
    if engine is None:
        return None
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    if url.get_backend_name() == "sqlite" and "mode=memory" in str(url.query):
        return None
    return url.render_as_string(hide_password=False)


def _lower_priority(niceness: int) -> None:
    from linkage import lower_priority

    lower_priority(niceness)


@functools.cache
def _reader(url: str) -> sa.Engine:
    from service._db import make_engine, reader_engine

    return reader_engine(make_engine(url))


@functools.cache
def _cipher(key_file: str | None):
    from linkage import FilterCipher

    return FilterCipher.from_file(key_file) if key_file is not None else None


def build_in_worker(url: str, agreement_id: str, key_file: str | None) -> QueryIndex:
    """Run inside the worker: load and build the index, case ids as a fixed-width array.
    Sealed filters are opened with the data-key file the service uses (its path travels, never
    a key)."""
    from dataclasses import replace

    import numpy as np

    from service._index import load_index

    index = load_index(_reader(url), agreement_id, codec=_cipher(key_file))
    return replace(index, case_ids=np.asarray(index.case_ids, dtype=str))


class BuildProcess:
    """One worker process that builds indexes from the database at ``url``, one at a time."""

    def __init__(self, url: str, key_file: str | None = None, niceness: int = NICENESS) -> None:
        self._url, self._key_file, self._niceness = url, key_file, niceness
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise BuildProcessError("the index builder is shut down")
            if self._pool is None:  # spawn: the service holds threads and Ray; never fork it
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_lower_priority,
                    initargs=(self._niceness,),
                )
            return self._pool

    def build(self, agreement_id: str) -> QueryIndex:
        """The agreement's index, built by the worker (which is started if need be)."""
        pool = self._executor()
        try:
            return pool.submit(build_in_worker, self._url, agreement_id, self._key_file).result()
        except BrokenProcessPool as e:
            with self._lock:
                if self._pool is pool:
                    self._pool = None  # the next build starts a new worker
            pool.shutdown(wait=False, cancel_futures=True)
            raise BuildProcessError("the index builder process stopped during a build") from e

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
