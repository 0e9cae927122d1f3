"""The tracing indexes of a running service, kept in step with the registry.

:class:`IndexStore` holds one :class:`linkage.QueryIndex` per agreement: built
for every agreement at start-up, then kept in step by the service's
:class:`~service._events.ChangeFeed` (:meth:`IndexStore.changed`):

* **a withdrawal** names the registry ids it touched (its record and the records of the
  case it left). They are read again from the database and applied in place
  (:meth:`linkage.QueryIndex.apply`) in the withdrawing request's own thread, before its
  receipt is issued: a query after the receipt cannot find the record. If that fails the
  index is taken out of service (queries wait for the rebuild, up to their timeout) and
  rebuilt — never served with the record.
* **a run, a purge** name nothing: on the builder thread the registry's ``(id, agency,
  case_id)`` are compared with the index and the difference applied in place — new records
  read whole, dropped ones removed, re-clustered ones re-coded. A run that would bring the
  records changed since the calibration was fitted past a quarter of those it was fitted
  on (:attr:`linkage.QueryIndex.needs_refit`; a registry's first runs, a large batch) is
  rebuilt instead, and refitted: the old index serves until the new one is complete.

Several replicas may serve one database, and the change feed reaches one process only. So
every change is also numbered in the database in its own transaction
(:func:`service._events.record_change`), and each index is installed with the number it
reflects. :meth:`IndexStore.get` — every tracing query — reads the agreement's number first
(one primary-key lookup; on one replica it is equal but for a moment after each change) and,
if it is newer, brings the index up to it before answering, synchronously: the registry ids
the changes logged are read again (another replica's withdrawal), or, when one named none
(a run, a purge), the registry is compared. A comparison too large to apply in place removes
what left the registry at once and rebuilds in the background for the new records; an index
with no calibration yet is rebuilt first. So no replica answers from an index older than a
withdrawal's receipt. This replica's own withdrawals keep their fast path: :meth:`changed`
applies them with the numbered changes since, and records the number reached.

Builds are full reloads: in a worker process (:mod:`service._index_process`) from
:data:`~service._index.PROCESS_FROM` records, so that their seconds never hold the GIL the
request threads need; in the builder thread below that and for in-memory databases. A
failed build keeps the old index.

Thread safety: an index is never changed once made. A change makes a new one (copy on
write: new arrays) and swaps the reference under ``_lock``; a query takes the reference once
and reads that index to its end. Changes are applied one at a time (``_apply``). A build
reads the database for seconds while changes go on: each withdrawal's ids are also noted in
the journal of every build under way, and a build reads those ids again and applies them
before it serves (under ``_apply``), so a build begun before a withdrawal never brings the
record back.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa

from linkage import IndexChange, QueryIndex, Registry
from linkage.sealing import FilterCodec
from service._db import reader_engine
from service._events import changes_since, current_version
from service._index import PROCESS_FROM, load_index, read_change, reread
from service._index_process import NICENESS, BuildProcess, BuildProcessError, shareable_url
from service._tables import agreements

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["IndexStore"]

logger = logging.getLogger(__name__)


class _Journal:
    """Registry ids changed while one build reads the database (compared by identity)."""

    def __init__(self) -> None:
        self.ids: set[int] = set()


def _done(value: QueryIndex | None) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


class IndexStore:
    """One :class:`QueryIndex` per agreement, kept in step with the registry."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        codec: FilterCodec | None,
        threads: int = 2,
        process_from: int | None = PROCESS_FROM,
        niceness: int = NICENESS,
    ) -> None:
        self.engine = reader_engine(engine) if engine is not None else engine
        self.codec = codec
        self._own_engine = self.engine is not engine
        url = shareable_url(self.engine) if process_from is not None else None
        # the worker opens sealed filters from the same key file; a ring given only in memory
        # (CASELINK_DATA_KEYS) keeps builds in this process, so no key leaves it
        key_file = getattr(codec, "path", None) if codec is not None else None
        if codec is not None and key_file is None:
            url = None
        key_path = str(key_file) if key_file is not None else None
        self._process = BuildProcess(url, key_path, niceness) if url is not None else None
        self._process_from = process_from or 0
        self.parts = max(1, threads)
        self._indexes: dict[str, QueryIndex] = {}
        self._versions: dict[str, int] = {}  # the change number each index reflects
        self._queued: dict[str, Future] = {}  # full builds not started yet
        self._scans: dict[str, Future] = {}  # comparisons with the registry not started yet
        self._latest: dict[str, Future] = {}
        self._journals: dict[str, list[_Journal]] = {}
        self._lock = threading.Lock()  # the dictionaries above: held for moments
        self._apply = threading.Lock()  # one change (or a build's install) at a time
        self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caselink-index")
        self.pool = (
            ThreadPoolExecutor(max_workers=self.parts, thread_name_prefix="caselink-query")
            if self.parts > 1
            else None
        )

    # -- changes ------------------------------------------------------------------------
    def changed(self, agreement_id: str, records: Iterable[int] | None = None) -> Future:
        """The change feed's subscriber. ``records``: the registry ids a change touched,
        applied before this returns; None: compare the registry on the builder thread."""
        if records is not None:
            return self._take(agreement_id, np.fromiter(records, np.int64))
        with self._lock:
            pending = self._queued.get(agreement_id) or self._scans.get(agreement_id)
            if pending is not None:  # not started: it will read this change too
                return pending
            future = self._builder.submit(self._scan, agreement_id)
            self._scans[agreement_id] = self._latest[agreement_id] = future
            return future

    def _take(self, agreement_id: str, ids: np.ndarray) -> Future:
        """Read ``ids`` again and apply them to the index now (the withdrawal's receipt
        waits for this); on failure the index leaves service until rebuilt."""
        with self._apply:
            with self._lock:
                for journal in self._journals.get(agreement_id, ()):
                    journal.ids.update(ids.tolist())
                current = self._indexes.get(agreement_id)
            if current is None or not len(ids):  # a build under way reads it (journal)
                return _done(current)
            if current.model is None:  # answers nothing; small: rebuild it
                return self.refresh(agreement_id)
            started = time.perf_counter()
            try:
                index, version = self._reread_since(current, ids)
            except Exception:
                logger.exception(
                    "could not update the tracing index of %s in place; it "
                    "answers again once rebuilt",
                    agreement_id,
                )
                self._out_of_service(agreement_id)
                return self.refresh(agreement_id)
            self._install(index, version)
        logger.info(
            "tracing index of %s: %s records read again and applied in %.3f s",
            agreement_id,
            len(ids),
            time.perf_counter() - started,
        )
        if index.needs_refit:
            self.refresh(agreement_id)  # in the background; this one serves meanwhile
        return _done(index)

    def _reread_since(
        self, index: QueryIndex, ids: Iterable[int], have: int | None = None
    ) -> tuple[QueryIndex, int]:
        """``ids`` read again with those of the changes numbered since ``have`` (default: the
        installed index's number; other replicas' withdrawals), and the number reached; a
        change that named no ids (a run elsewhere) leaves it: the next query compares."""
        agreement_id = index.scope
        if have is None:
            with self._lock:
                have = self._versions.get(agreement_id, 0)
        ids = np.fromiter(ids, np.int64)
        if self.engine is None:  # a store without a database (tests of the swapping)
            return index, have
        with self.engine.connect() as conn:
            now, logged = changes_since(conn, agreement_id, have)
            if logged is None:
                now, logged = have, []
            ids = np.union1d(ids, np.asarray(logged, np.int64))
            change = reread(conn, agreement_id, ids, index.words, self.codec)
        return index.apply(change), now

    def _install(self, index: QueryIndex, version: int) -> None:
        with self._lock:
            self._indexes[index.scope] = index
            self._versions[index.scope] = version

    def _out_of_service(self, agreement_id: str) -> None:
        with self._lock:
            self._indexes.pop(agreement_id, None)
            self._versions.pop(agreement_id, None)

    def _delta(
        self, conn: sa.Connection, current: QueryIndex, logged: list[int] | None
    ) -> tuple[IndexChange, bool]:
        """The changes since ``current``: the ``logged`` ids read again, or (None) the
        registry compared; and whether that difference is too large (rebuild instead)."""
        if logged is not None:
            ids = np.asarray(logged, np.int64)
            return reread(conn, current.scope, ids, current.words, self.codec), False
        change = read_change(conn, current, self.codec)
        return change, current.needs_refit_after(change)

    def _catch_up(self, agreement_id: str) -> QueryIndex | None:
        """Under ``_apply``: the index brought up to the agreement's change number (the
        changes other replicas made); None: it must be rebuilt first (out of service if
        the update failed)."""
        with self._lock:
            current, have = self._indexes.get(agreement_id), self._versions.get(agreement_id, 0)
        if current is None or current.model is None:
            return None
        started = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                now, logged = changes_since(conn, agreement_id, have)
                if now <= have:
                    return current
                delta, large = self._delta(conn, current, logged)
            if large:  # what left the registry leaves now; new records with the rebuild
                delta = delta.without_new_rows()
            index = current.apply(delta)
        except Exception:
            logger.exception(
                "could not bring the tracing index of %s up to the registry's "
                "change %s; it answers again once rebuilt",
                agreement_id,
                have,
            )
            self._out_of_service(agreement_id)
            return None
        self._install(index, now)
        logger.info(
            "tracing index of %s: registry changes %s..%s applied in %.3f s",
            agreement_id,
            have + 1,
            now,
            time.perf_counter() - started,
        )
        if large or index.needs_refit or len(index.agency_names) > len(current.agency_names):
            self.refresh(agreement_id)  # in the background; this one serves meanwhile
        return index

    def _scan(self, agreement_id: str) -> QueryIndex:
        """Compare the registry with the index and apply the difference (builder thread);
        rebuild instead when there is no index yet or the difference is large."""
        with self._lock:
            self._scans.pop(agreement_id, None)
        started = time.perf_counter()
        with self._apply:
            current = self._indexes.get(agreement_id)
            index = None if current is None or current.model is None else current
            if index is not None:
                try:
                    index = self._apply_scan(index)
                except Exception:
                    logger.exception(
                        "could not compare the tracing index of %s with the "
                        "registry; rebuilding it",
                        agreement_id,
                    )
                    index = None
        if index is None:
            return self._build(agreement_id)
        logger.info(
            "tracing index of %s: compared with the registry and updated in %.2f s "
            "(%s records changed since its last build)",
            agreement_id,
            time.perf_counter() - started,
            index.changed_since_fit,
        )
        if len(index.agency_names) > len(current.agency_names):  # more candidates per query
            self.refresh(agreement_id)
        return index

    def _apply_scan(self, current: QueryIndex) -> QueryIndex | None:
        """The difference applied and installed (under ``_apply``); None: rebuild instead."""
        with self.engine.connect() as conn:
            version = current_version(conn, current.scope)  # read first: at most that
            delta, large = self._delta(conn, current, None)
        if large:
            return None
        index = current.apply(delta)
        self._install(index, version)
        return index

    # -- builds -------------------------------------------------------------------------
    def refresh(self, agreement_id: str) -> Future:
        """Queue a rebuild of one agreement's index (one queued rebuild per agreement)."""
        with self._lock:
            queued = self._queued.get(agreement_id)
            if queued is not None:
                return queued
            future = self._builder.submit(self._build, agreement_id)
            self._queued[agreement_id] = self._latest[agreement_id] = future
            return future

    def refresh_all(self) -> list[Future]:
        """Queue a build of every agreement's index (at start-up)."""
        with self.engine.connect() as conn:
            ids = conn.execute(sa.select(agreements.c.id).order_by(agreements.c.id)).scalars()
            return [self.refresh(a) for a in ids.all()]

    def _build(self, agreement_id: str) -> QueryIndex:
        journal = _Journal()
        with self._lock:
            self._queued.pop(agreement_id, None)  # a change from now on queues another build
            self._journals.setdefault(agreement_id, []).append(journal)
        try:
            version = self._version(agreement_id)  # before it reads: it reads at least that
            index = self._load(agreement_id)
            with self._apply:  # what changed while it read, read again
                index, version = self._reread_since(index, journal.ids, version)
                self._install(index, version)
        except Exception:
            logger.exception("could not build the tracing index of %s", agreement_id)
            raise
        finally:
            with self._lock:
                journals = self._journals[agreement_id]
                journals[:] = [j for j in journals if j is not journal]
        index.codes.warm()  # here, not in the first withdrawal's request
        return index

    def _load(self, agreement_id: str) -> QueryIndex:
        """In the worker process when the registry is large enough, else in this thread."""
        if self._process is not None and self._size(agreement_id) >= self._process_from:
            try:
                return self._process.build(agreement_id)
            except BuildProcessError:
                logger.warning("the index builder process stopped; building %s here", agreement_id)
        return load_index(self.engine, agreement_id, codec=self.codec)

    def _size(self, agreement_id: str) -> int:
        with self.engine.connect() as conn:
            return Registry(self.engine, agreement_id, create_tables=False).records(connection=conn)

    def _version(self, agreement_id: str) -> int:
        if self.engine is None:
            return 0
        with self.engine.connect() as conn:
            return current_version(conn, agreement_id)

    def get(self, agreement_id: str, timeout: float = 30.0) -> QueryIndex | None:
        """The agreement's index, holding every change the database has numbered (those of
        other replicas applied first, here); waits for a build it needs up to ``timeout``
        (None after, or when the build failed)."""
        deadline, waited = time.monotonic() + timeout, set()
        while True:
            with self._lock:
                index, have = self._indexes.get(agreement_id), self._versions.get(agreement_id)
                future = self._latest.get(agreement_id)
            if index is not None:
                if self._version(agreement_id) <= (have or 0):  # one primary-key lookup
                    return index
                with self._apply:
                    index = self._catch_up(agreement_id)
                if index is not None:
                    return index
                future = self.refresh(agreement_id)  # the old index is not served meanwhile
            future = future or self.refresh(agreement_id)
            if future in waited:  # its index left service since: no busy wait
                return None
            waited.add(future)
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # timed out, or the build failed
                return None

    def shutdown(self) -> None:
        # a build under way ends first: it holds a database connection, which must go back to
        # its engine before the engine is disposed, not be left to the garbage collector
        self._builder.shutdown(wait=True, cancel_futures=True)
        if self._process is not None:
            self._process.shutdown()
        if self.pool is not None:
            self.pool.shutdown(wait=False)
        if self._own_engine:
            self.engine.dispose()
