"""A registry in memory, searched by tracing queries: :class:`QueryIndex`.

A query index holds one scope's registered filters sorted by popcount
(:mod:`linkage._query_kernel`), each record's case and agency as small integer codes, the
records of each case (to name the agencies holding it) and the calibration fitted on the
registry (:mod:`linkage._query_fit`). It never holds a ``record_ref``: a search can only
ever answer case ids, probabilities and agency names.

A query's candidates come from :func:`linkage.search`, which chooses as for a run: the
exhaustive search when the query set is small — here the index's compiled popcount scan
(:class:`SortedScan`; one query against a million records: one pass over the admissible
popcount range) — and LSH blocking when all pairs would be too many. Their comparison levels
and weights are those of a linking run (:mod:`linkage._fellegi`), their probabilities the
calibration's at the index's ``lam``.

Each record's registry id rides along (never its ref), in the order a build gives — ascending
popcount, then id — so that a change can be applied in place (:meth:`QueryIndex.apply`,
:mod:`linkage._query_update`) and leave the index as a rebuild would. Nothing is changed in
memory: :meth:`~QueryIndex.add`, :meth:`~QueryIndex.remove`, :meth:`~QueryIndex.recase` and
:meth:`~QueryIndex.apply` return a new index and leave this one to the queries reading it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from blocking import SegmentPlan, TopKResult, lsh_top_k
from linkage._facts import RecordFacts
from linkage._features import segment_dice
from linkage._fellegi import comparison_levels
from linkage._query_fit import QueryModel, case_probabilities, fit_query_model
from linkage._query_kernel import SortedFilters, sort_filters, top_candidates
from linkage._query_update import (
    REBUILD_SHARE,
    CaseCodes,
    IndexChange,
    IndexRows,
    apply_delta,
    case_index,
    compare,
    consent_codes,
)
from linkage._search import search
from linkage._types import CandidatePairs

__all__ = ["CaseHit", "HouseholdTag", "QueryIndex"]

CANDIDATES_PER_AGENCY = 10  # candidate records per query row: this many per agency
FIT_CHUNK = 64  # pseudo-queries per scan while fitting

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class HouseholdTag:
    """A record of a case that its agency registered in a household: the agency, the
    household's pseudonym (per agency: :mod:`bloom._households`; for comparing hits with
    one another, never to be shown) and the record's relationship code (``-1``: not given)."""

    agency: str
    group: int
    relationship: int


@dataclass(frozen=True)
class CaseHit:
    """One candidate case of one query row: its id, confidence, the agencies holding a record
    of it, and which of those records sit in a household (two hits sharing a tag's agency and
    group are people registered together)."""

    case_id: str
    confidence: float
    agencies: tuple[str, ...]
    households: tuple[HouseholdTag, ...] = ()


def chunked_search(q: np.ndarray, prepared: SortedFilters, floor: float, k: int) -> Triple:
    """:func:`top_candidates` of many query rows, :data:`FIT_CHUNK` rows at a time: the scan
    reads a table of least intersections per (row, popcount), which for the fit's thousands
    of pseudo-queries outgrows the cache (measured at 120,000 records: 2.2x less CPU)."""
    parts = []
    for lo in range(0, len(q), FIT_CHUNK):
        i, j, s = top_candidates(q[lo : lo + FIT_CHUNK], prepared, floor, k)
        parts.append((i + lo, j, s))
    if not parts:
        return top_candidates(q, prepared, floor, k)
    i, j, s = (np.concatenate(col) for col in zip(*parts, strict=True))
    return i, j, s


@dataclass(frozen=True, eq=False)
class SortedScan:
    """A query index's exhaustive search for :func:`linkage.search` (a ``SearchExecutor``):
    the popcount scan of its sorted rows, which one query row costs one pass over its
    admissible range; the LSH walk stays :func:`blocking.lsh_top_k`'s. ``b`` is always the
    index's own sorted filters (positions are the index's)."""

    index: SortedFilters
    parts: int = 1
    pool: Executor | None = None

    def candidates(
        self, a: np.ndarray, b: np.ndarray, threshold: float, k: int | None
    ) -> CandidatePairs:
        if k is None:
            raise ValueError("a query index keeps the best k records per query row")
        i, j, s = top_candidates(a, self.index, threshold, k, parts=self.parts, pool=self.pool)
        return CandidatePairs(i, j, s)

    def top_k(
        self, a: np.ndarray, b: np.ndarray, plans: Sequence[SegmentPlan], k: int, floor: float
    ) -> TopKResult:
        return lsh_top_k(a, b, plans, k, floor)


def _per_query(agencies: int) -> int:
    return int(min(50, CANDIDATES_PER_AGENCY * max(1, agencies)))


@dataclass(frozen=True, eq=False)
class QueryIndex:
    """One scope's registry, ready for queries (arrays in popcount order)."""

    scope: str
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
    # per record, what its batch said (linkage._facts): household pseudonym (0: none),
    # relationship (-1: not given) and consent (a code into consent_texts; -1: nothing said)
    groups: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    relationships: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    consent_code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    consent_texts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.record_ids) != self.records:  # built from arrays alone: ids by position
            object.__setattr__(self, "record_ids", np.arange(self.records, dtype=np.int64))
        if self.codes is None:
            object.__setattr__(self, "codes", CaseCodes(self.case_ids))
        if len(self.groups) != self.records:  # nothing said of the records' households
            none = RecordFacts.none(self.records)
            object.__setattr__(self, "groups", none.groups)
            object.__setattr__(self, "relationships", none.relationships)
            object.__setattr__(self, "consent_code", np.full(self.records, -1, np.int64))

    @classmethod
    def build(
        cls,
        scope: str,
        filters: np.ndarray,
        agencies: np.ndarray,
        case_ids: np.ndarray,
        bounds: np.ndarray,
        *,
        seed: int = 0,
        record_ids: np.ndarray | None = None,
        model: QueryModel | None = None,
        groups: np.ndarray | None = None,
        relationships: np.ndarray | None = None,
        consent: np.ndarray | None = None,
    ) -> QueryIndex:
        """An index of these records (in ascending ``record_ids``, by default their
        positions); fits the calibration on them unless given a ``model``. ``groups``,
        ``relationships`` and ``consent``: what the records' batches said of their household
        and consent (:class:`IndexRows`; ``None``: nothing)."""
        started = time.perf_counter()
        facts = RecordFacts.of(len(filters), groups, relationships, consent)
        prepared = sort_filters(np.ascontiguousarray(filters, dtype=np.uint64))
        ids = np.arange(len(filters)) if record_ids is None else np.asarray(record_ids, np.int64)
        codes, uniques = pd.factorize(np.asarray(case_ids, dtype=object)[prepared.order])
        ag_codes, ag_names = pd.factorize(np.asarray(agencies, dtype=object)[prepared.order])
        case_code = codes.astype(np.int64)
        case_ptr, case_rows = case_index(case_code, len(uniques))
        per_query = _per_query(len(ag_names))

        def own_search(q: np.ndarray, floor: float, k: int) -> Triple:
            return chunked_search(q, prepared, floor, k)

        if model is None:
            model = fit_query_model(prepared, case_code, bounds, own_search, per_query, seed=seed)
        facts = facts.take(prepared.order)
        texts, consent_code = consent_codes((), facts.consent)
        return cls(
            scope=scope,
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
            groups=facts.groups,
            relationships=facts.relationships,
            consent_code=consent_code,
            consent_texts=texts,
        )

    @classmethod
    def from_rows(
        cls,
        scope: str,
        rows: IndexRows,
        bounds: np.ndarray,
        *,
        seed: int = 0,
        model: QueryModel | None = None,
    ) -> QueryIndex:
        """:meth:`build` of registry records as :meth:`linkage.Registry.index_rows` reads
        them (their ids, households and consent included)."""
        return cls.build(
            scope,
            rows.filters,
            rows.agencies,
            rows.case_ids,
            bounds,
            seed=seed,
            record_ids=rows.ids,
            model=model,
            groups=rows.groups,
            relationships=rows.relationships,
            consent=rows.consent,
        )

    @property
    def records(self) -> int:
        return self.filters.rows

    @property
    def words(self) -> int:
        return int(self.filters.filters.shape[1])

    @property
    def needs_refit(self) -> bool:
        """Records changed in place since the fit exceed :data:`REBUILD_SHARE` of those it
        was fitted on: time for a rebuild that refits the calibration."""
        return self._refit_due(self.changed_since_fit)

    def needs_refit_after(self, change: IndexChange) -> bool:
        """Whether :meth:`apply` of ``change`` would leave an index that :attr:`needs_refit`
        (a holder rebuilds instead of applying a change that large)."""
        return self._refit_due(self.changed_since_fit + change.records)

    def _refit_due(self, changed: int) -> bool:
        return changed > REBUILD_SHARE * max(self.fitted_records, 1)

    # -- searching ------------------------------------------------------------------------
    def candidates(
        self,
        q: np.ndarray,
        threshold: float,
        k: int,
        *,
        parts: int = 1,
        pool: Executor | None = None,
    ) -> Triple:
        """Best ``k`` records per query row at Dice >= threshold: (row, position, Dice).

        :func:`linkage.search` chooses, as for a run: exhaustive for a few query rows — here
        the index's own popcount scan (:class:`SortedScan`, ``parts`` pieces on ``pool``) — or
        LSH blocking when all pairs would be too many."""
        if self.records == 0 or len(q) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        scan = SortedScan(self.filters, parts, pool)
        found = search(q, self.filters.filters, threshold, k, executor=scan)
        return found.i, found.j, found.score

    def allowed(self, rows: np.ndarray, scope: str | None) -> np.ndarray:
        """Whether each of these records may serve a purpose needing consent ``scope``: every
        record when ``scope`` is None; else those whose batch said nothing of consent, and
        those whose consent holds ``scope``."""
        rows = np.asarray(rows, np.int64)
        if scope is None:
            return np.ones(len(rows), bool)
        covers = np.array([scope in t.split(" ") for t in self.consent_texts] + [True], bool)
        return cast(np.ndarray, covers[self.consent_code[rows]])  # code -1: the last, True

    def agencies_of(self, case: int, scope: str | None = None) -> tuple[str, ...]:
        """The agencies holding a record of ``case`` (whose consent covers ``scope``)."""
        rows = self._rows_of(case, scope)
        return tuple(sorted({self.agency_names[a] for a in self.agency_code[rows]}))

    def households_of(self, case: int, scope: str | None = None) -> tuple[HouseholdTag, ...]:
        """The records of ``case`` (whose consent covers ``scope``) registered in a household."""
        rows = self._rows_of(case, scope)
        rows = rows[self.groups[rows] != 0]
        tags = {
            HouseholdTag(self.agency_names[a], int(g), int(r))
            for a, g, r in zip(
                self.agency_code[rows].tolist(),
                self.groups[rows].tolist(),
                self.relationships[rows].tolist(),
                strict=True,
            )
        }
        return tuple(sorted(tags, key=lambda t: (t.agency, t.group, t.relationship)))

    def _rows_of(self, case: int, scope: str | None) -> np.ndarray:
        rows = self.case_rows[self.case_ptr[case] : self.case_ptr[case + 1]]
        return rows[self.allowed(rows, scope)] if scope is not None else rows

    def search(
        self,
        q: np.ndarray,
        top_k: int,
        min_confidence: float = 0.0,
        *,
        scope: str | None = None,
        parts: int = 1,
        pool: Executor | None = None,
    ) -> list[list[CaseHit]]:
        """Per query row, up to ``top_k`` cases with confidence >= ``min_confidence``.

        ``scope``: the consent the purpose needs (``tracing``...). A record whose consent
        does not cover it is as if it were not held: it is never a candidate (a case reached
        only through such records is not answered), and its agency and household are not
        named. ``None``: every record, as before consent existed."""
        out: list[list[CaseHit]] = [[] for _ in range(len(q))]
        if self.model is None or self.records == 0:
            return out
        m = self.model
        i, j, _ = self.candidates(q, m.floor, m.per_query, parts=parts, pool=pool)
        if scope is not None:
            ok = self.allowed(j, scope)
            i, j = i[ok], j[ok]
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
                hit = CaseHit(
                    str(self.case_ids[c]),
                    round(conf, 6),
                    self.agencies_of(c, scope),
                    self.households_of(c, scope),
                )
                out[r].append(hit)
        return out

    # -- changing (copy on write) -----------------------------------------------------------
    def apply(self, change: IndexChange) -> QueryIndex:
        """A new index: this one with ``change`` applied, positions as a rebuild gives them."""
        return apply_delta(self, change)

    def add(self, rows: IndexRows) -> QueryIndex:
        """A new index with these records entered (records of ids held already enter again)."""
        return self.apply(IndexChange.reread(rows, rows.ids))

    def remove(self, ids: np.ndarray) -> QueryIndex:
        """A new index without the records of these registry ids (ids not held are ignored)."""
        return self.apply(IndexChange.dropping(ids, self.words))

    def recase(self, ids: np.ndarray, case_ids: np.ndarray) -> QueryIndex:
        """A new index with the records of these ids under these cases (filters unmoved)."""
        return self.apply(IndexChange.recasing(ids, case_ids, self.words))

    def compare(
        self, ids: np.ndarray, agencies: np.ndarray, case_ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The registry's records (ids ascending, their agencies and case ids) against this
        index: ``(drop, enter, recase_ids, recase_cases)`` (:func:`linkage._query_update.
        compare`); the ids to enter are to be read whole, then given to
        :class:`IndexChange`."""
        return compare(self, ids, agencies, case_ids)
