"""Taking records out of the case registry (withdrawal, retention) and re-forming their cases.

A case that loses a record keeps its id on what remains, unless the remaining records no
longer hang together. They hang together through the stored links between them whose
probability is at or above ``threshold`` — the threshold clustering used (``None``: every
stored link counts). Each connected component becomes a case: the component holding the
case's oldest remaining record (smallest registry id) keeps the id, each other component gets
a new id (issued like any other, never an alias). A case left with no record keeps its row,
so its id is never issued again.

Confidence follows clustering's rule (one function for both,
``linkage._unionfind.record_confidence``): in a case of several records, a record's best
stored link inside its case; alone, one minus its best link to any other record.
It is recomputed for every remaining record of a re-formed case and for the records alone in
their case that had a link to a removed record. A case's confidence is its least confident
record's. Everything happens on the caller's connection, inside its transaction. Components
come from the compiled union-find of ``linkage._unionfind``: all affected cases at once, no
Python loop per link or per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa

from linkage._caseid import new_case_ids
from linkage._constraints import constrained_links, drop_constraints, read_constraints
from linkage._registry import cases_table, links_table, meta_table, records_table
from linkage._registry_write import update_rows
from linkage._unionfind import component_labels, join_links, record_confidence

__all__ = ["CaseRemainder", "Removal", "RemovalReport", "components", "confidence"]

_CHUNK = 900  # ids per IN list: under SQLite's bound-parameter limit everywhere

_T = TypeVar("_T")
_Links: TypeAlias = tuple[np.ndarray, np.ndarray, np.ndarray]  # (a, b, p)


@dataclass(frozen=True)
class CaseRemainder:
    """What is left of a case that lost records."""

    case_id: str
    records: int  # records still under case_id
    agencies: tuple[str, ...]  # their agencies
    split_off: tuple[str, ...] = ()  # new case ids of remaining records no longer connected


@dataclass
class RemovalReport:
    """The result of :meth:`Registry.remove`."""

    removed: pd.DataFrame  # agency, record_ref, case_id (the case each record was in)
    missing: list[tuple[str, str]]  # (agency, record_ref) not in the registry
    cases: dict[str, CaseRemainder]  # former case id -> what remains of it
    updated: int = 0  # remaining records whose case id or confidence changed


def _positions(ids: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Position of each of ``ends`` in the sorted ``ids``; -1 for an end not among them."""
    if not len(ids):
        return np.full(len(ends), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(ids, ends), len(ids) - 1)
    return np.where(ids[at] == ends, at, -1).astype(np.int64)


def _component_roots(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest position of each of ``n`` records' component over the links (a, b)."""
    parent = np.arange(n, dtype=np.int64)
    join_links(parent, np.zeros((n, 0), np.uint64), a.astype(np.int64), b.astype(np.int64), False)
    return component_labels(parent)


def components(
    members: np.ndarray, a: np.ndarray, b: np.ndarray, p: np.ndarray, threshold: float | None
) -> list[np.ndarray]:
    """Connected components of ``members`` (record ids) over the links (a, b, p).

    Links with an end outside ``members`` or below ``threshold`` are ignored. Components
    come sorted by their smallest id, so the first holds the oldest record.
    """
    members = np.sort(np.asarray(members, dtype=np.int64))
    if not len(members):
        return []
    pos_a, pos_b = _positions(members, a), _positions(members, b)
    inside = (pos_a >= 0) & (pos_b >= 0)
    if threshold is not None:
        inside &= p >= threshold
    roots = _component_roots(len(members), pos_a[inside], pos_b[inside])
    order = np.argsort(roots, kind="stable")
    return np.split(members[order], np.flatnonzero(np.diff(roots[order])) + 1)


def confidence(
    ids: np.ndarray,
    cases: np.ndarray,
    sizes: np.ndarray,
    links: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Confidence of each record ``ids[i]`` of case ``cases[i]`` (``sizes[i]`` records),
    given every remaining link touching them (``linkage._unionfind.record_confidence``).

    A link end not in ``ids`` is in another case.
    """
    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    labels = pd.factorize(np.asarray(cases, dtype=object)[order])[0]
    a, b, p = links
    pos_a, pos_b = _positions(ids[order], a), _positions(ids[order], b)
    conf = record_confidence(labels, np.asarray(sizes)[order], pos_a, pos_b, p)
    out = np.empty(len(ids))
    out[order] = conf
    return out


class Removal:
    """One removal from one scope's registry, on the caller's connection."""

    def __init__(self, scope: str, connection: sa.Connection) -> None:
        self.scope, self.c = scope, connection

    def run(self, records: Sequence[tuple[str, str]], threshold: float | None) -> RemovalReport:
        return self._remove(self.c, records, threshold)

    def _remove(
        self, c: sa.Connection, records: Sequence[tuple[str, str]], threshold: float | None
    ) -> RemovalReport:
        found = self._find(c, records)
        keys = set(zip(found["agency"], found["record_ref"], strict=True))
        missing = [(a, r) for a, r in records if (a, r) not in keys]
        removed = found[["agency", "record_ref", "case_id"]].reset_index(drop=True)
        report = RemovalReport(removed, missing, {})
        if found.empty:
            return report
        gone = found["id"].to_numpy(np.int64)
        members = self._members(c, sorted(set(found["case_id"])))
        a, b, p = self._links_touching(c, np.union1d(gone, members["id"].to_numpy(np.int64)))
        cut = np.isin(a, gone) | np.isin(b, gone)
        self._delete(c, gone, a[cut], b[cut])
        drop_constraints(c, self.scope, gone.tolist())  # a record's review decisions go with it
        near = np.setdiff1d(np.r_[a[cut], b[cut]], members["id"].to_numpy(np.int64))
        links = self._constrained(c, (a[~cut], b[~cut], p[~cut]))
        remaining = members[~members["id"].isin(gone)]
        cases, sizes = self._reform(c, remaining, links, threshold, report)
        report.updated = self._reconfirm(c, remaining, cases, sizes, links)
        report.updated += self._reconfirm_singletons(c, near)
        return report

    def _constrained(self, c: sa.Connection, links: _Links) -> _Links:
        """The links as cases are re-formed under the scope's constraints: a must-link pair
        holds together, a cannot-link pair's link counts as none (:mod:`linkage._constraints`)."""
        held = read_constraints(c, self.scope)
        return constrained_links(held.must, held.cannot, links) if len(held) else links

    def _find(self, c: sa.Connection, records: Sequence[tuple[str, str]]) -> pd.DataFrame:
        r = records_table.c
        wanted = pd.DataFrame(list(records), columns=["agency", "record_ref"]).drop_duplicates()
        rows: list[Any] = []
        for agency, group in wanted.groupby("agency"):
            for part in _chunks(group["record_ref"].tolist()):
                rows += c.execute(
                    sa.select(r.id, r.agency, r.record_ref, r.case_id).where(
                        r.scope == self.scope, r.agency == agency, r.record_ref.in_(part)
                    )
                ).all()
        return pd.DataFrame(rows, columns=["id", "agency", "record_ref", "case_id"])

    def _members(self, c: sa.Connection, case_ids: list[str]) -> pd.DataFrame:
        r = records_table.c
        rows: list[Any] = []
        for part in _chunks(case_ids):
            rows += c.execute(
                sa.select(r.id, r.agency, r.case_id, r.confidence).where(
                    r.scope == self.scope, r.case_id.in_(part)
                )
            ).all()
        df = pd.DataFrame(rows, columns=["id", "agency", "case_id", "confidence"])
        return df.sort_values("id", ignore_index=True)

    def _links_touching(self, c: sa.Connection, ids: np.ndarray) -> _Links:
        """(a, b, p) of every stored link with an end in ``ids``."""
        lk = links_table.c
        q = sa.select(lk.rec_a, lk.rec_b, lk.probability).where(lk.scope == self.scope)
        rows: set[Any] | list[tuple[Any, ...]]
        if len(ids) > 8 * _CHUNK:  # many ids: one scan of the scope beats many IN lists
            rows = set(c.execute(q).all())
        else:
            rows = set()
            for part in _chunks([int(i) for i in ids]):
                rows.update(c.execute(q.where(sa.or_(lk.rec_a.in_(part), lk.rec_b.in_(part)))))
        rows = sorted(tuple(x) for x in rows)
        a = np.array([x[0] for x in rows], dtype=np.int64)
        b = np.array([x[1] for x in rows], dtype=np.int64)
        p = np.array([x[2] for x in rows], dtype=np.float64)
        keep = np.isin(a, ids) | np.isin(b, ids)
        return a[keep], b[keep], p[keep]

    def _delete(self, c: sa.Connection, ids: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        """Delete the records ``ids`` and their links (a, b), each link by its primary key."""
        lk, r = links_table.c, records_table.c
        if len(a):
            c.execute(
                links_table.delete().where(
                    lk.scope == self.scope,
                    lk.rec_a == sa.bindparam("a"),
                    lk.rec_b == sa.bindparam("b"),
                ),
                [{"a": int(x), "b": int(y)} for x, y in zip(a, b, strict=True)],
            )
        for part in _chunks([int(i) for i in ids]):
            c.execute(records_table.delete().where(r.scope == self.scope, r.id.in_(part)))

    def _reform(
        self,
        c: sa.Connection,
        remaining: pd.DataFrame,
        links: _Links,
        threshold: float | None,
        report: RemovalReport,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Split each former case into components; returns each remaining record's case id
        and the size of that case (``remaining`` ascending by id)."""
        ids = remaining["id"].to_numpy(np.int64)
        cases = remaining["case_id"].to_numpy(dtype=object)
        roots = _case_components(ids, cases, links, threshold)
        codes, names = pd.factorize(cases)
        is_root = roots == np.arange(len(ids))
        is_root[np.unique(codes, return_index=True)[1]] = False  # the part each case keeps
        split = np.flatnonzero(is_root)  # the first record of each part that splits off
        split = split[np.lexsort((split, _text_ranks(names)[codes[split]]))]
        part_id = np.empty(len(ids), dtype=object)
        part_id[split] = self._issue_cases(c, len(split))
        moved = is_root[roots]
        now = np.where(moved, part_id[roots], cases)
        report.cases.update(
            _remainders(report.removed, remaining[~moved], cases[split], part_id[split])
        )
        return now, np.bincount(roots, minlength=len(ids))[roots]

    def _issue_cases(self, c: sa.Connection, n: int) -> list[str]:
        """``n`` new case ids, in issue order after every id of this scope."""
        if not n:
            return []
        k, m = cases_table.c, meta_table.c
        fresh: list[str] = []
        while len(fresh) < n:  # case ids are unique across every scope of the database
            draw = new_case_ids(n - len(fresh), avoid=fresh).tolist()
            taken: set[str] = set()
            for part in _chunks(draw):
                taken.update(c.execute(sa.select(k.case_id).where(k.case_id.in_(part))).scalars())
            fresh += [cid for cid in draw if cid not in taken]
        seq = int(c.execute(sa.select(m.next_case_seq).where(m.scope == self.scope)).scalar_one())
        rows = [
            {"case_id": cid, "scope": self.scope, "seq": seq + i, "confidence": 0.0}
            for i, cid in enumerate(fresh)
        ]
        c.execute(cases_table.insert(), rows)
        c.execute(meta_table.update().where(m.scope == self.scope).values(next_case_seq=seq + n))
        return fresh

    def _reconfirm(
        self,
        c: sa.Connection,
        remaining: pd.DataFrame,
        cases: np.ndarray,
        sizes: np.ndarray,
        links: _Links,
    ) -> int:
        """Store the re-formed case ids and recomputed confidence; returns records changed."""
        if remaining.empty:
            return 0
        ids = remaining["id"].to_numpy(np.int64)
        conf = confidence(ids, cases, sizes, links)
        changed = (cases != remaining["case_id"].to_numpy()) | (
            conf != remaining["confidence"].to_numpy()
        )
        self._store(c, ids[changed], cases[changed], conf[changed])
        self._case_confidence(c, cases, conf)
        return int(changed.sum())

    def _reconfirm_singletons(self, c: sa.Connection, ids: np.ndarray) -> int:
        """Records alone in their case that lost a link: confidence is 1 - best link left."""
        r = records_table.c
        rows: list[Any] = []
        for part in _chunks([int(i) for i in ids]):
            rows += c.execute(
                sa.select(r.id, r.case_id).where(r.scope == self.scope, r.id.in_(part))
            ).all()
        found = pd.DataFrame(rows, columns=["id", "case_id"])
        sizes: dict[str, int] = {}
        for part in _chunks(sorted(set(found["case_id"]))):
            sizes.update(
                c.execute(
                    sa.select(r.case_id, sa.func.count())
                    .where(r.scope == self.scope, r.case_id.in_(part))
                    .group_by(r.case_id)
                ).all()
            )
        alone = found[found["case_id"].map(sizes).eq(1)].sort_values("id")
        if alone.empty:
            return 0
        single = alone["id"].to_numpy(np.int64)
        cases = alone["case_id"].to_numpy(dtype=object)
        conf = confidence(
            single, cases, np.ones(len(single), np.int64), self._links_touching(c, single)
        )
        self._store(c, single, cases, conf)
        self._case_confidence(c, cases, conf)
        return len(single)

    def _store(
        self, c: sa.Connection, ids: np.ndarray, cases: np.ndarray, conf: np.ndarray
    ) -> None:
        rows = list(zip(cases.tolist(), conf.astype(float).tolist(), ids.tolist(), strict=True))
        update_rows(c, "registry_records", ("case_id", "confidence"), "id", rows)

    def _case_confidence(self, c: sa.Connection, cases: np.ndarray, conf: np.ndarray) -> None:
        """A case's confidence is its least confident record's (as clustering sets it)."""
        lowest = pd.Series(conf).groupby(pd.Series(cases)).min()
        rows = [(float(x), cid) for cid, x in lowest.items()]
        update_rows(c, "registry_cases", ("confidence",), "case_id", rows)


def _case_components(
    ids: np.ndarray, cases: np.ndarray, links: _Links, threshold: float | None
) -> np.ndarray:
    """Component root (smallest position) of each record of ``ids`` (ascending) over the
    links at or above ``threshold`` between two records of the same case."""
    a, b, p = links
    pos_a, pos_b = _positions(ids, a), _positions(ids, b)
    codes = pd.factorize(cases)[0]
    same = (pos_a >= 0) & (pos_b >= 0)
    same &= codes[np.where(same, pos_a, 0)] == codes[np.where(same, pos_b, 0)]
    if threshold is not None:
        same &= p >= threshold
    return _component_roots(len(ids), pos_a[same], pos_b[same])


def _text_ranks(names: np.ndarray) -> np.ndarray:
    """Rank of each string of ``names`` in sorted order."""
    ranks = np.empty(len(names), dtype=np.int64)
    ranks[np.argsort(np.asarray(names, dtype=object), kind="stable")] = np.arange(len(names))
    return ranks


def _remainders(
    removed: pd.DataFrame, kept: pd.DataFrame, split_from: np.ndarray, split_ids: np.ndarray
) -> dict[str, CaseRemainder]:
    """What is left of each case of ``removed`` (sorted by case id): the records it keeps
    (``kept``) and the new ids of its parts that split off (in order)."""
    counts = kept["case_id"].value_counts()
    held = (
        kept[["case_id", "agency"]]
        .drop_duplicates()
        .sort_values(["case_id", "agency"])
        .groupby("case_id", sort=False)["agency"]
        .agg(tuple)
    )
    splits = pd.Series(split_ids, dtype=object).groupby(split_from, sort=False).agg(tuple)
    return {
        cid: CaseRemainder(cid, int(counts.get(cid, 0)), held.get(cid, ()), splits.get(cid, ()))
        for cid in sorted(set(removed["case_id"]))
    }


def _chunks(values: Sequence[_T]) -> list[Sequence[_T]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]
