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
engine's :func:`linkage.search` with LSH blocking when ``blocking.choose_method``
says all pairs would be too many.

Each record's registry id rides along (never its ref), in the order a build gives — ascending
popcount, then id — so that a change can be applied to the index in place
(:mod:`service._index_update`) and leave it as a rebuild would. :class:`service._index_store.
IndexStore` keeps one index per agreement in step with the registry.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from blocking import choose_method
from linkage import search
from linkage._features import segment_dice
from linkage._fellegi import comparison_levels
from linkage._registry import records_table
from linkage._sealing import FilterCodec
from service._index_fit import QueryModel, case_probabilities, fit_query_model
from service._index_kernel import SortedFilters, sort_filters, top_candidates
from service._index_update import CaseCodes, case_index, open_part
from service._tables import agreements, batches

__all__ = ["PROCESS_FROM", "AgreementIndex", "CaseHit", "build_index", "load_index"]

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
    record_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # registry
    codes: CaseCodes | None = None  # case id -> code, shared with the indexes made from this
    fitted_records: int = 0  # records the model was fitted on
    changed_since_fit: int = 0  # records changed in place since

    def __post_init__(self) -> None:
        if len(self.record_ids) != self.records:  # built from arrays alone: ids by position
            object.__setattr__(self, "record_ids", np.arange(self.records, dtype=np.int64))
        if self.codes is None:
            object.__setattr__(self, "codes", CaseCodes(self.case_ids))

    @property
    def records(self) -> int:
        return self.filters.rows

    @property
    def words(self) -> int:
        return int(self.filters.filters.shape[1])

    def candidates(
        self, q: np.ndarray, threshold: float, k: int, *, parts: int = 1, pool=None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best ``k`` records per query row at Dice >= threshold: (row, position, Dice)."""
        if self.records == 0 or len(q) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        if choose_method(len(q), self.records) == "exhaustive":
            return top_candidates(q, self.filters, threshold, k, parts=parts, pool=pool)
        found = search(q, self.filters.filters, threshold, k, method="lsh")
        return found.i, found.j, found.score

    def agencies_of(self, case: int) -> tuple[str, ...]:
        rows = self.case_rows[self.case_ptr[case] : self.case_ptr[case + 1]]
        return tuple(sorted({self.agency_names[a] for a in self.agency_code[rows]}))

    def search(
        self, q: np.ndarray, top_k: int, min_confidence: float = 0.0, *, parts: int = 1, pool=None
    ) -> list[list[CaseHit]]:
        """Per query row, up to ``top_k`` cases with confidence >= ``min_confidence``."""
        out: list[list[CaseHit]] = [[] for _ in range(len(q))]
        if self.model is None or self.records == 0:
            return out
        m = self.model
        i, j, _ = self.candidates(q, m.floor, m.per_query, parts=parts, pool=pool)
        if i.size == 0:
            return out
        levels = comparison_levels(segment_dice(q, self.filters.filters, i, j, self.bounds))
        rows, cases, p = case_probabilities(
            i, self.case_code[j], m.fs.weights(levels), m.matched_share
        )
        # ties between cases go to the lower case id (codes differ between a changed index
        # and a rebuild; the ids do not)
        _, by_id = np.unique(np.asarray(self.case_ids[cases], dtype=str), return_inverse=True)
        o = np.lexsort((by_id, -p, rows))
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
    record_ids: np.ndarray | None = None,
    model: QueryModel | None = None,
) -> AgreementIndex:
    """An index of these records (in ascending ``record_ids``, by default their positions);
    fits the calibration on them unless given a ``model``."""
    started = time.perf_counter()
    prepared = sort_filters(np.ascontiguousarray(filters, dtype=np.uint64))
    ids = np.arange(len(filters)) if record_ids is None else np.asarray(record_ids, np.int64)
    codes, uniques = pd.factorize(np.asarray(case_ids, dtype=object)[prepared.order])
    ag_codes, ag_names = pd.factorize(np.asarray(agencies, dtype=object)[prepared.order])
    case_code = codes.astype(np.int64)
    case_ptr, case_rows = case_index(case_code, len(uniques))
    per_query = _per_query(len(ag_names))

    def search(q: np.ndarray, floor: float, k: int):
        return _chunked_search(q, prepared, floor, k)

    if model is None:
        model = fit_query_model(prepared.filters, case_code, bounds, search, per_query, seed=seed)
    return AgreementIndex(
        agreement_id=agreement_id,
        filters=prepared,
        bounds=np.asarray(bounds, dtype=np.int64),
        case_code=case_code,
        agency_code=ag_codes.astype(np.int64),
        case_ids=np.asarray(uniques, dtype=object),
        agency_names=tuple(str(a) for a in ag_names),
        case_ptr=case_ptr,
        case_rows=case_rows,
        model=model,
        build_seconds=time.perf_counter() - started,
        record_ids=ids[prepared.order].astype(np.int64),
        fitted_records=len(ids),
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


def _read_records(conn: sa.Connection, scope: str, words: int, codec: FilterCodec | None):
    r = records_table.c
    n = int(conn.execute(sa.select(sa.func.count()).where(r.scope == scope)).scalar_one())
    filters, ids = np.zeros((n, words), np.uint64), np.zeros(n, np.int64)
    agencies, case_ids, at = np.empty(n, object), np.empty(n, object), 0
    query = (
        sa.select(r.id, r.agency, r.record_ref, r.case_id, r.bloom)
        .where(r.scope == scope)
        .order_by(r.id)
    )
    # closed however the read ends (a filter that cannot be opened: PostgreSQL's server cursor)
    with conn.execution_options(yield_per=_LOAD_ROWS).execute(query) as result:
        for part in result.partitions():
            k = min(len(part), n - at)  # rows committed after the count wait for the next build
            part = part[:k]
            plain = open_part(part, scope, words, codec)
            filters[at : at + k] = np.frombuffer(plain, "<u8").reshape(k, words)
            ids[at : at + k] = [x.id for x in part]
            agencies[at : at + k] = [x.agency for x in part]
            case_ids[at : at + k] = [x.case_id for x in part]
            at += k
    return filters[:at], agencies[:at], case_ids[:at], ids[:at]


def load_index(
    engine: sa.Engine,
    agreement_id: str,
    *,
    codec: FilterCodec | None,
    seed: int = 0,
    model: QueryModel | None = None,
) -> AgreementIndex:
    """The index of an agreement's registry as the database holds it now (calibration fitted
    on it, unless given a ``model``)."""
    started = time.perf_counter()
    with engine.connect() as conn:
        bits = conn.execute(
            sa.select(agreements.c.filter_bits).where(agreements.c.id == agreement_id)
        ).scalar_one()
        segments = conn.execute(
            sa.select(batches.c.segments).where(batches.c.agreement_id == agreement_id).limit(1)
        ).scalar()
        filters, agencies, case_ids, ids = _read_records(conn, agreement_id, int(bits) // 64, codec)
    loaded = time.perf_counter() - started
    bounds = segment_bounds(segments or [], int(bits) // 64)
    index = build_index(
        agreement_id, filters, agencies, case_ids, bounds, seed=seed, record_ids=ids, model=model
    )
    logger.info(
        "tracing index of %s: %s records, %s cases; loaded in %.1f s, built in %.1f s",
        agreement_id,
        index.records,
        len(index.case_ids),
        loaded,
        index.build_seconds,
    )
    return index
