"""Changing a tracing index in place: a withdrawal or a run touches a few records, not all.

Rebuilding an index reads, opens and sorts every record and refits the calibration —
seconds at a million records. A change touches far fewer: a withdrawal its record and the
case it leaves, a run its new records and the existing ones it re-clustered. So the holder
of an index (the service's ``IndexStore``) reads a change from the registry (the source of
truth; never from what the change's author believes it wrote) as an :class:`IndexChange`,
and :func:`apply_delta` (:meth:`linkage.QueryIndex.apply`) makes a new index from the old
one and the change:

* rows of records gone, and of records read again, leave the sorted arrays (a mask);
* records read again or new enter at their place in the order a fresh build gives —
  ascending popcount, then registry id — so positions, and with them the scan's
  tie-break (the lower position), are those of a rebuild;
* records whose case changed get the case's code: codes come from :class:`CaseCodes`, which
  only grows (a code is never given to another case id), so indexes sharing it agree.

Two ways to find the change:

* :func:`reread` — named registry ids read again (a withdrawal names its record and its
  former case's records): ids no longer stored are dropped, the others enter again whole.
* :func:`compare` — every record's ``(id, agency, case_id)`` against the index (a run, a
  purge: nothing named): ids gone are dropped, new ids to be read whole, changed cases
  re-coded. One pass over three small columns, no filter opened but the new ones.

The new index keeps the old one's calibration (``model``): a few records in a million do not
move it; its holder refits once the records changed since the fit reach
:data:`REBUILD_SHARE` of those it was fitted on. Nothing is changed in place in memory:
every array is new, so a query holding the old index reads it undisturbed (copy on write).
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from linkage._facts import RecordFacts
from linkage._query_kernel import SortedFilters

if TYPE_CHECKING:
    from linkage._query_index import QueryIndex

__all__ = [
    "REBUILD_SHARE",
    "CaseCodes",
    "IndexChange",
    "IndexRows",
    "apply_delta",
    "case_index",
    "compare",
    "consent_codes",
]

REBUILD_SHARE = 0.25  # records changed since the fit, as a share of those it was fitted on
_ID_BITS = 40  # the order key packs (popcount, id) as popcount << 40 | id


class CaseCodes:
    """Case id -> small integer code, shared by an index and the indexes made from it.

    Only grows, under its own lock; the dictionary is made on first use (a rebuilt index
    warms it in the background, so a withdrawal does not wait for it) and not pickled."""

    def __init__(self, case_ids: np.ndarray) -> None:
        self._seed: np.ndarray | None = case_ids
        self._ids: list[str] = []
        self._code: dict[str, int] = {}
        self._array: np.ndarray | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            seed = self._seed if self._seed is not None else np.asarray(self._ids, dtype=object)
        return {"seed": seed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        CaseCodes.__init__(self, state["seed"])

    def _warm(self) -> None:  # under the lock
        if self._seed is not None:
            self._ids = [str(x) for x in self._seed.tolist()]
            self._code = {c: k for k, c in enumerate(self._ids)}
            self._seed = None

    def warm(self) -> None:
        with self._lock:
            self._warm()

    def codes(self, case_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """The code of each case id, new ids given the next codes."""
        with self._lock:
            self._warm()
            out, new = np.empty(len(case_ids), np.int64), []
            for k, c in enumerate(case_ids):
                code = self._code.get(c)
                if code is None:
                    code = self._code[c] = len(self._ids)
                    self._ids.append(c)
                    new.append(c)
                out[k] = code
            if new and self._array is not None:  # a copy of the references, not a new list
                self._array = np.concatenate([self._array, np.asarray(new, dtype=object)])
            return out

    def array(self) -> np.ndarray:
        """Every case id so far, by code (object array)."""
        with self._lock:
            self._warm()
            if self._array is None:
                self._array = np.asarray(self._ids, dtype=object)
            return self._array


@dataclass(frozen=True)
class IndexRows:
    """Registry records as the database holds them now (any order), with what their batches
    said of their household and consent (:mod:`linkage._facts`; ``None``: nothing)."""

    ids: np.ndarray  # int64
    filters: np.ndarray  # (m, words) uint64
    agencies: np.ndarray  # object
    case_ids: np.ndarray  # object
    groups: np.ndarray | None = None  # uint64 household pseudonym, 0 = no group
    relationships: np.ndarray | None = None  # int8, -1 = not given
    consent: np.ndarray | None = None  # object: str, or None = nothing said (every purpose)

    @classmethod
    def empty(cls, words: int) -> IndexRows:
        none = np.empty(0, object)
        return cls(np.zeros(0, np.int64), np.zeros((0, words), np.uint64), none, none)

    def facts(self) -> RecordFacts:
        return RecordFacts.of(len(self.ids), self.groups, self.relationships, self.consent)

    def take(self, rows: np.ndarray) -> IndexRows:
        """These records' rows ``rows`` (a mask or positions)."""
        f = self.facts().take(rows)
        return IndexRows(
            self.ids[rows],
            self.filters[rows],
            self.agencies[rows],
            self.case_ids[rows],
            f.groups,
            f.relationships,
            f.consent,
        )


@dataclass(frozen=True)
class IndexChange:
    """What turns an index into the registry's present state."""

    drop: np.ndarray  # ids whose rows leave (gone, or about to enter again from ``add``)
    add: IndexRows  # records that enter
    recase_ids: np.ndarray  # ids that stay where they are under another case
    recase_cases: np.ndarray  # object: their case ids

    @classmethod
    def reread(cls, rows: IndexRows, ids: np.ndarray) -> IndexChange:
        """Records ``ids`` as read again into ``rows``: each leaves, those still stored (in
        ``rows``) enter again."""
        none = np.empty(0, object)
        return cls(np.unique(np.asarray(ids, np.int64)), rows, np.zeros(0, np.int64), none)

    @classmethod
    def dropping(cls, ids: np.ndarray, words: int) -> IndexChange:
        """Records ``ids`` leave."""
        return cls.reread(IndexRows.empty(words), ids)

    @classmethod
    def recasing(cls, ids: np.ndarray, case_ids: np.ndarray, words: int) -> IndexChange:
        """Records ``ids`` stay where they are, each under its case of ``case_ids``."""
        return cls(
            np.zeros(0, np.int64),
            IndexRows.empty(words),
            np.asarray(ids, np.int64),
            np.asarray(case_ids, object),
        )

    def without_new_rows(self) -> IndexChange:
        """This change without the records it would enter (their ids still leave)."""
        return IndexChange(
            self.drop,
            IndexRows.empty(self.add.filters.shape[1]),
            self.recase_ids,
            self.recase_cases,
        )

    @property
    def records(self) -> int:
        """Records this change touches (a record dropped and added again counts once)."""
        return len(np.union1d(self.drop, self.add.ids)) + len(self.recase_ids)

    @property
    def empty(self) -> bool:
        return not (len(self.drop) or len(self.add.ids) or len(self.recase_ids))


def _locate(sorted_ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``wanted`` is in ``sorted_ids`` and whether it is there at all."""
    at = np.searchsorted(sorted_ids, wanted)
    hit = at < len(sorted_ids)
    hit[hit] = sorted_ids[at[hit]] == wanted[hit]
    return at, hit


def compare(
    index: QueryIndex, ids: np.ndarray, agencies: np.ndarray, cases: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The registry's records (ids ascending, their agencies and case ids) against ``index``:
    ``(drop, enter, recase_ids, recase_cases)`` — ids to drop, ids to read whole (new, or
    held for another agency's record: SQLite reuses a withdrawn maximum id), ids re-cased."""
    order = np.argsort(index.record_ids, kind="stable")
    held = index.record_ids[order]
    at, known = _locate(held, ids)
    _, still = _locate(ids, held)
    pos = order[at[known]]
    names = np.asarray(index.agency_names, object)
    other = np.zeros(len(ids), bool)
    other[np.flatnonzero(known)[names[index.agency_code[pos]] != agencies[known]]] = True
    recase = np.zeros(len(ids), bool)
    recase[np.flatnonzero(known)] = index.case_ids[index.case_code[pos]] != cases[known]
    recase &= ~other
    enter = ~known | other
    return np.union1d(held[~still], ids[other]), ids[enter], ids[recase], cases[recase]


def case_index(case_code: np.ndarray, cases: int) -> tuple[np.ndarray, np.ndarray]:
    """``(case_ptr, case_rows)``: the rows of case c are case_rows[case_ptr[c]:case_ptr[c+1]]."""
    case_rows = np.argsort(case_code, kind="stable").astype(np.int64)
    case_ptr = np.searchsorted(case_code[case_rows], np.arange(cases + 1)).astype(np.int64)
    return case_ptr, case_rows


def _order_key(popcounts: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if len(ids) and (ids.min() < 0 or ids.max() >= 1 << _ID_BITS):
        raise ValueError("a registry id outside the index's order key; rebuild the index")
    return (popcounts.astype(np.uint64) << np.uint64(_ID_BITS)) | ids.astype(np.uint64)


def _agency_codes(
    names: tuple[str, ...], agencies: np.ndarray
) -> tuple[tuple[str, ...], np.ndarray]:
    known = {a: k for k, a in enumerate(names)}
    out = np.empty(len(agencies), np.int64)
    for k, a in enumerate(agencies.tolist()):
        out[k] = known.setdefault(a, len(known))
    return tuple(known), out


def consent_codes(
    texts: tuple[str, ...], consent: np.ndarray
) -> tuple[tuple[str, ...], np.ndarray]:
    """Codes of consent values (``-1``: nothing said), new values appended to ``texts``."""
    known = {t: k for k, t in enumerate(texts)}
    out = np.full(len(consent), -1, np.int64)
    for k, c in enumerate(consent.tolist()):
        if c is not None:
            out[k] = known.setdefault(c, len(known))
    return tuple(known), out


def _settle(index: QueryIndex, delta: IndexChange) -> IndexChange:
    """Records read again that are as the index holds them (same id, agency, filter,
    household and consent) are re-cased where they are instead of dropped and added: a
    withdrawal moves no filter; a consent changed later makes its record enter again."""
    add = delta.add
    if not len(add.ids):
        return delta
    o = np.argsort(add.ids)
    at, hit = _locate(add.ids[o], index.record_ids)
    pos, k = np.flatnonzero(hit), o[at[hit]]
    names = np.asarray(index.agency_names, object)
    same = (index.filters.filters[pos] == add.filters[k]).all(axis=1)
    same &= names[index.agency_code[pos]] == add.agencies[k]
    facts = add.facts().take(k)
    held = np.asarray((*index.consent_texts, None), dtype=object)[index.consent_code[pos]]
    same &= (index.groups[pos] == facts.groups) & (index.relationships[pos] == facts.relationships)
    same &= np.fromiter(map(operator.eq, held.tolist(), facts.consent.tolist()), bool, len(k))
    if not same.any():
        return delta
    stay, moved = k[same], np.ones(len(add.ids), bool)
    moved[stay] = False
    rest = add.take(moved)
    return IndexChange(
        np.setdiff1d(delta.drop, add.ids[stay]),
        rest,
        np.concatenate([delta.recase_ids, add.ids[stay]]),
        np.concatenate([delta.recase_cases, add.case_ids[stay]]),
    )


def _splice(
    columns: list[np.ndarray], keep: np.ndarray, at: np.ndarray, values: list[np.ndarray]
) -> list[np.ndarray]:
    """Each column without its rows where ``keep`` is False and with ``values`` inserted before
    kept row ``at`` (ascending), as :func:`numpy.insert` would: one copy of each column, a
    slice per run of rows that stay together (a few for a withdrawal)."""
    kept = np.flatnonzero(keep)
    cuts = np.union1d(np.flatnonzero(np.diff(kept) != 1) + 1, at)
    cuts = cuts[(cuts > 0) & (cuts < len(kept))]
    starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(kept)]])
    shifts = np.searchsorted(at, starts, side="right")  # values inserted before each run
    outs = [np.empty((len(kept) + len(at), *c.shape[1:]), c.dtype) for c in columns]
    if len(kept):
        for a, b, shift in zip(starts.tolist(), ends.tolist(), shifts.tolist(), strict=True):
            first = int(kept[a])
            for out, column in zip(outs, columns, strict=True):
                out[a + shift : b + shift] = column[first : first + b - a]
    placed = at + np.arange(len(at))
    for out, v in zip(outs, values, strict=True):
        out[placed] = v
    return outs


def apply_delta(index: QueryIndex, delta: IndexChange) -> QueryIndex:
    """A new index: ``index`` with ``delta`` applied (``index`` itself is not touched)."""
    if delta.empty:
        return index
    counted, delta = delta.records, _settle(index, delta)
    ids, codes, case_code = index.record_ids, cast(CaseCodes, index.codes), index.case_code
    if len(delta.recase_ids):
        order = np.argsort(delta.recase_ids)
        at, hit = _locate(delta.recase_ids[order], ids)
        case_code = case_code.copy()
        case_code[hit] = codes.codes(delta.recase_cases[order][at[hit]].tolist())
    _, leaving = _locate(np.union1d(delta.drop, delta.add.ids), ids)
    keep, add, names = ~leaving, delta.add, index.agency_names
    o = np.zeros(0, np.int64)
    at, pc = o, np.bitwise_count(add.filters).sum(axis=1, dtype=np.int64)
    if len(add.ids):
        new_key = _order_key(pc, add.ids)
        o = np.argsort(new_key, kind="stable")
        at = np.searchsorted(_order_key(index.filters.popcounts[keep], ids[keep]), new_key[o])
    names, add_agency = _agency_codes(names, add.agencies[o])
    facts = add.facts().take(o)
    texts, add_consent = consent_codes(index.consent_texts, facts.consent)
    filters, popcounts, ids, case_code, agency_code, groups, relationships, consent = _splice(
        [
            index.filters.filters,
            index.filters.popcounts,
            ids,
            case_code,
            index.agency_code,
            index.groups,
            index.relationships,
            index.consent_code,
        ],
        keep,
        at,
        [
            add.filters[o],
            pc[o],
            add.ids[o],
            codes.codes(add.case_ids[o].tolist()),
            add_agency,
            facts.groups,
            facts.relationships,
            add_consent,
        ],
    )
    case_ids = codes.array()
    case_ptr, case_rows = case_index(case_code, len(case_ids))
    sorted_filters = SortedFilters(filters, popcounts, np.arange(len(ids), dtype=np.int64))
    return replace(
        index,
        filters=sorted_filters,
        case_code=case_code,
        agency_code=agency_code,
        case_ids=case_ids,
        agency_names=names,
        case_ptr=case_ptr,
        case_rows=case_rows,
        record_ids=ids,
        changed_since_fit=index.changed_since_fit + counted,
        groups=groups,
        relationships=relationships,
        consent_code=consent,
        consent_texts=texts,
    )
