"""The tracing index: each agreement's registry in memory, searched by tracing queries.

An :class:`AgreementIndex` holds one agreement's registered filters sorted by popcount
(:mod:`service._index_kernel`), each record's case and agency as small integer codes, the
records of each case (to name the agencies holding it) and the calibration fitted on the
registry (:mod:`service._index_fit`). It never holds a ``record_ref``: a query can only
ever answer case ids, probabilities and agency names. The registry's filters are sealed at
rest; the index opens them with the service's cipher as it loads them (each seal is bound to
its record's ref, read for that and dropped).

A query's candidates come from the compiled popcount scan when the query set is small (one
query against a million records: one pass over the admissible popcount range), and from the
engine's :func:`linkage.find_candidates` with LSH blocking when ``blocking.choose_method``
says all pairs would be too many.

:class:`IndexStore` keeps one index per agreement in step with the registry: built for every
agreement at start-up, and rebuilt on a background thread whenever the service's
:class:`~service._events.ChangeFeed` publishes the agreement (runs, withdrawals, purges).
A rebuild makes a new index object and swaps the reference under a lock, so queries keep
using the old one until the new one is complete; a failed rebuild keeps the old one. A
registry of :data:`PROCESS_FROM` records or more is rebuilt in a worker process
(:mod:`service._index_process`), so that its seconds of Python and numpy never hold the GIL
that the request threads answering queries need; smaller ones, and in-memory databases, in
the store's own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from blocking import choose_method
from linkage import find_candidates
from linkage._features import segment_dice
from linkage._fellegi import comparison_levels
from linkage._registry import records_table, registry_aad
from linkage._sealing import FilterCodec, open_rows
from service._db import reader_engine
from service._index_fit import QueryModel, case_probabilities, fit_query_model
from service._index_kernel import SortedFilters, sort_filters, top_candidates
from service._index_process import NICENESS, BuildProcess, BuildProcessError, shareable_url
from service._tables import agreements, batches

__all__ = ["PROCESS_FROM", "AgreementIndex", "CaseHit", "IndexStore", "build_index", "load_index"]

logger = logging.getLogger(__name__)

CANDIDATES_PER_AGENCY = 10  # candidate records per query row: this many per agency
_LOAD_ROWS = 5_000  # rows per fetch: the GIL is held while a fetch makes its row objects
PROCESS_FROM = 20_000  # registries this large are built in the worker process
_FIT_CHUNK = 64  # pseudo-queries per scan while fitting


@dataclass(frozen=True)
class CaseHit:
    """One candidate case of one query row."""

    case_id: str
    confidence: float
    agencies: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class AgreementIndex:
    """One agreement's registry, ready for queries (arrays in popcount order)."""

    agreement_id: str
    filters: SortedFilters
    bounds: np.ndarray  # (segments, 2) word ranges
    case_code: np.ndarray  # int64 per record
    agency_code: np.ndarray  # int64 per record
    case_ids: np.ndarray  # object: case id of each code
    agency_names: tuple[str, ...]
    case_ptr: np.ndarray  # records of case c: case_rows[case_ptr[c]:case_ptr[c + 1]]
    case_rows: np.ndarray
    model: QueryModel | None
    build_seconds: float = 0.0

    @property
    def records(self) -> int:
        return self.filters.rows

    @property
    def words(self) -> int:
        return int(self.filters.filters.shape[1])

    def candidates(self, q: np.ndarray, threshold: float, k: int, *, parts: int = 1,
                   pool=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Best ``k`` records per query row at Dice >= threshold: (row, position, Dice)."""
        if self.records == 0 or len(q) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        if choose_method(len(q), self.records) == "exhaustive":
            return top_candidates(q, self.filters, threshold, k, parts=parts, pool=pool)
        found = find_candidates(q, self.filters.filters, threshold, k, method="lsh")
        return found.i, found.j, found.score

    def agencies_of(self, case: int) -> tuple[str, ...]:
        rows = self.case_rows[self.case_ptr[case] : self.case_ptr[case + 1]]
        return tuple(sorted({self.agency_names[a] for a in self.agency_code[rows]}))

    def search(self, q: np.ndarray, top_k: int, min_confidence: float = 0.0, *,
               parts: int = 1, pool=None) -> list[list[CaseHit]]:  # fmt: skip
        """Per query row, up to ``top_k`` cases with confidence >= ``min_confidence``."""
        out: list[list[CaseHit]] = [[] for _ in range(len(q))]
        if self.model is None or self.records == 0:
            return out
        m = self.model
        i, j, _ = self.candidates(q, m.floor, m.per_query, parts=parts, pool=pool)
        if i.size == 0:
            return out
        levels = comparison_levels(segment_dice(q, self.filters.filters, i, j, self.bounds))
        rows, cases, p = case_probabilities(i, self.case_code[j], m.fs.weights(levels),
                                            m.matched_share)  # fmt: skip
        o = np.lexsort((cases, -p, rows))
        for r, c, conf in zip(rows[o].tolist(), cases[o].tolist(), p[o].tolist(), strict=True):
            if conf >= min_confidence and len(out[r]) < top_k:
                hit = CaseHit(str(self.case_ids[c]), round(conf, 6), self.agencies_of(c))
                out[r].append(hit)
        return out


def _chunked_search(q: np.ndarray, prepared: SortedFilters, floor: float, k: int):
    """:func:`top_candidates` of many query rows, :data:`_FIT_CHUNK` rows at a time: the scan
    reads a table of least intersections per (row, popcount), which for the fit's thousands
    of pseudo-queries outgrows the cache (measured at 120,000 records: 2.2x less CPU)."""
    parts = []
    for lo in range(0, len(q), _FIT_CHUNK):
        i, j, s = top_candidates(q[lo : lo + _FIT_CHUNK], prepared, floor, k)
        parts.append((i + lo, j, s))
    if not parts:
        return top_candidates(q, prepared, floor, k)
    return tuple(np.concatenate(col) for col in zip(*parts, strict=True))


def _per_query(agencies: int) -> int:
    return int(min(50, CANDIDATES_PER_AGENCY * max(1, agencies)))


def build_index(
    agreement_id: str,
    filters: np.ndarray,
    agencies: np.ndarray,
    case_ids: np.ndarray,
    bounds: np.ndarray,
    *,
    seed: int = 0,
) -> AgreementIndex:
    """An index of these records (any order); fits the calibration on them."""
    started = time.perf_counter()
    prepared = sort_filters(np.ascontiguousarray(filters, dtype=np.uint64))
    codes, uniques = pd.factorize(np.asarray(case_ids, dtype=object)[prepared.order])
    ag_codes, ag_names = pd.factorize(np.asarray(agencies, dtype=object)[prepared.order])
    case_code = codes.astype(np.int64)
    case_rows = np.argsort(case_code, kind="stable").astype(np.int64)
    case_ptr = np.searchsorted(case_code[case_rows], np.arange(len(uniques) + 1))
    per_query = _per_query(len(ag_names))

    def search(q: np.ndarray, floor: float, k: int):
        return _chunked_search(q, prepared, floor, k)

    model = fit_query_model(prepared.filters, case_code, bounds, search, per_query, seed=seed)
    return AgreementIndex(
        agreement_id=agreement_id,
        filters=prepared,
        bounds=np.asarray(bounds, dtype=np.int64),
        case_code=case_code,
        agency_code=ag_codes.astype(np.int64),
        case_ids=np.asarray(uniques, dtype=object),
        agency_names=tuple(str(a) for a in ag_names),
        case_ptr=case_ptr.astype(np.int64),
        case_rows=case_rows,
        model=model,
        build_seconds=time.perf_counter() - started,
    )


def segment_bounds(segments: list, words: int) -> np.ndarray:
    """Word ranges of ``[[name, bits], ...]``; the whole filter when the layout is unknown."""
    if not segments:
        return np.array([[0, words]], dtype=np.int64)
    bounds, lo = [], 0
    for _, bits in segments:
        bounds.append((lo, lo + int(bits) // 64))
        lo += int(bits) // 64
    return np.array(bounds, dtype=np.int64)


def _open_part(part, scope: str, words: int, codec: FilterCodec | None) -> bytes:
    """The plain filters of one partition of registry rows (their refs only bind the seal)."""
    return open_rows(
        codec, [x.bloom for x in part], lambda k: registry_aad(scope, part[k].agency,
        part[k].record_ref), words * 8, lambda k: f"registry record {part[k].id}",
    )  # fmt: skip


def _read_records(conn: sa.Connection, scope: str, words: int, codec: FilterCodec | None):
    r = records_table.c
    n = int(conn.execute(sa.select(sa.func.count()).where(r.scope == scope)).scalar_one())
    filters = np.zeros((n, words), np.uint64)
    agencies, case_ids, at = np.empty(n, object), np.empty(n, object), 0
    result = conn.execution_options(yield_per=_LOAD_ROWS).execute(
        sa.select(r.id, r.agency, r.record_ref, r.case_id, r.bloom)
        .where(r.scope == scope)
        .order_by(r.id)
    )
    for part in result.partitions():
        k = min(len(part), n - at)  # rows committed after the count wait for the next build
        part = part[:k]
        plain = _open_part(part, scope, words, codec)
        filters[at : at + k] = np.frombuffer(plain, "<u8").reshape(k, words)
        agencies[at : at + k] = [x.agency for x in part]
        case_ids[at : at + k] = [x.case_id for x in part]
        at += k
    return filters[:at], agencies[:at], case_ids[:at]


def load_index(
    engine: sa.Engine, agreement_id: str, *, codec: FilterCodec | None, seed: int = 0
) -> AgreementIndex:
    """The index of an agreement's registry as the database holds it now."""
    started = time.perf_counter()
    with engine.connect() as conn:
        bits = conn.execute(
            sa.select(agreements.c.filter_bits).where(agreements.c.id == agreement_id)
        ).scalar_one()
        segments = conn.execute(
            sa.select(batches.c.segments).where(batches.c.agreement_id == agreement_id).limit(1)
        ).scalar()
        filters, agencies, case_ids = _read_records(conn, agreement_id, int(bits) // 64, codec)
    loaded = time.perf_counter() - started
    bounds = segment_bounds(segments or [], int(bits) // 64)
    index = build_index(agreement_id, filters, agencies, case_ids, bounds, seed=seed)
    logger.info(
        "tracing index of %s: %s records, %s cases; loaded in %.1f s, built in %.1f s",
        agreement_id, index.records, len(index.case_ids), loaded, index.build_seconds,
    )  # fmt: skip
    return index


class IndexStore:
    """One :class:`AgreementIndex` per agreement, rebuilt in the background on changes."""

    def __init__(self, engine: sa.Engine, *, codec: FilterCodec | None, threads: int = 2,
                 process_from: int | None = PROCESS_FROM,
                 niceness: int = NICENESS) -> None:  # fmt: skip
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
        self._indexes: dict[str, AgreementIndex] = {}
        self._queued: dict[str, Future] = {}
        self._latest: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caselink-index")
        self.pool = (
            ThreadPoolExecutor(max_workers=self.parts, thread_name_prefix="caselink-query")
            if self.parts > 1
            else None
        )

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

    def _build(self, agreement_id: str) -> AgreementIndex:
        with self._lock:
            self._queued.pop(agreement_id, None)  # a change from now on queues another build
        try:
            index = self._load(agreement_id)
        except Exception:
            logger.exception("could not build the tracing index of %s", agreement_id)
            raise
        with self._lock:
            self._indexes[agreement_id] = index
        return index

    def _load(self, agreement_id: str) -> AgreementIndex:
        """In the worker process when the registry is large enough, else in this thread."""
        if self._process is not None and self._size(agreement_id) >= self._process_from:
            try:
                return self._process.build(agreement_id)
            except BuildProcessError:
                logger.warning("the index builder process stopped; building %s here",
                               agreement_id)  # fmt: skip
        return load_index(self.engine, agreement_id, codec=self.codec)

    def _size(self, agreement_id: str) -> int:
        with self.engine.connect() as conn:
            count = sa.select(sa.func.count()).where(records_table.c.scope == agreement_id)
            return int(conn.execute(count).scalar_one())

    def get(self, agreement_id: str, timeout: float = 30.0) -> AgreementIndex | None:
        """The agreement's index; waits for its first build up to ``timeout`` (None after)."""
        with self._lock:
            index = self._indexes.get(agreement_id)
            future = self._latest.get(agreement_id)
        if index is not None:
            return index
        future = future or self.refresh(agreement_id)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            return None
        except Exception:
            return None

    def shutdown(self) -> None:
        self._builder.shutdown(wait=False, cancel_futures=True)
        if self._process is not None:
            self._process.shutdown()
        if self.pool is not None:
            self.pool.shutdown(wait=False)
        if self._own_engine:
            self.engine.dispose()
