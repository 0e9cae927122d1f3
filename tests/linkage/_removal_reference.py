"""``linkage._removal`` as it was before the compiled kernels (a Python union-find per case,
a Python loop per link for confidence), kept as the reference the new module must match
(tests/linkage/test_cluster_vectorised.py). Verbatim but for this docstring; never call it
from library code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import sqlalchemy as sa

from linkage._caseid import new_case_id
from linkage._registry import cases_table, links_table, meta_table, records_table

__all__ = ["CaseRemainder", "Removal", "RemovalReport", "components", "confidence"]

_CHUNK = 900  # ids per IN list: under SQLite's bound-parameter limit everywhere


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


def components(
    members: np.ndarray, a: np.ndarray, b: np.ndarray, p: np.ndarray, threshold: float | None
) -> list[np.ndarray]:
    """Connected components of ``members`` (record ids) over the links (a, b, p).

    Links with an end outside ``members`` or below ``threshold`` are ignored. Components
    come sorted by their smallest id, so the first holds the oldest record.
    """
    members = np.sort(np.asarray(members, dtype=np.int64))
    parent = np.arange(len(members))
    pos_a = np.searchsorted(members, a)
    pos_b = np.searchsorted(members, b)
    inside = (pos_a < len(members)) & (pos_b < len(members))
    inside &= members[np.minimum(pos_a, len(members) - 1)] == a
    inside &= members[np.minimum(pos_b, len(members) - 1)] == b
    if threshold is not None:
        inside &= p >= threshold

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return int(x)

    for x, y in zip(pos_a[inside].tolist(), pos_b[inside].tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    roots = np.array([find(i) for i in range(len(members))], dtype=np.int64)
    return [members[roots == r] for r in np.unique(roots)]


def confidence(
    ids: np.ndarray,
    label_of: dict[int, str],
    size_of: dict[str, int],
    links: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Confidence of each record in ``ids``, given every remaining link touching them.

    ``label_of`` maps record ids to their case id (an end not in it is in another case);
    ``size_of`` gives each case's number of records.
    """
    a, b, p = links
    best_in = dict.fromkeys(ids.tolist(), 0.0)
    best_out = dict.fromkeys(ids.tolist(), 0.0)
    for x, y, q in zip(a.tolist(), b.tolist(), p.tolist(), strict=True):
        same = x in label_of and y in label_of and label_of[x] == label_of[y]
        target = best_in if same else best_out
        for end in (x, y):
            if end in target:
                target[end] = max(target[end], q)
    out = [best_in[i] if size_of[label_of[i]] > 1 else 1.0 - best_out[i] for i in ids.tolist()]
    return np.array(out, dtype=np.float64)


class Removal:
    """One removal from one scope's registry, on the caller's connection."""

    def __init__(self, scope: str, connection: sa.Connection) -> None:
        self.scope, self.c = scope, connection

    def run(self, records: Sequence[tuple[str, str]], threshold: float | None) -> RemovalReport:
        return self._remove(self.c, records, threshold)

    def _remove(self, c: sa.Connection, records, threshold: float | None) -> RemovalReport:
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
        near = np.setdiff1d(np.r_[a[cut], b[cut]], members["id"].to_numpy(np.int64))
        links = (a[~cut], b[~cut], p[~cut])
        remaining = members[~members["id"].isin(gone)]
        labels, sizes = self._reform(c, remaining, links, threshold, report)
        report.updated = self._reconfirm(c, remaining, labels, sizes, links)
        report.updated += self._reconfirm_singletons(c, near)
        return report

    def _find(self, c: sa.Connection, records) -> pd.DataFrame:
        r = records_table.c
        wanted = pd.DataFrame(list(records), columns=["agency", "record_ref"]).drop_duplicates()
        rows: list = []
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
        rows: list = []
        for part in _chunks(case_ids):
            rows += c.execute(
                sa.select(r.id, r.agency, r.case_id, r.confidence).where(
                    r.scope == self.scope, r.case_id.in_(part)
                )
            ).all()
        df = pd.DataFrame(rows, columns=["id", "agency", "case_id", "confidence"])
        return df.sort_values("id", ignore_index=True)

    def _links_touching(self, c: sa.Connection, ids: np.ndarray):
        """(a, b, p) of every stored link with an end in ``ids``."""
        lk = links_table.c
        q = sa.select(lk.rec_a, lk.rec_b, lk.probability).where(lk.scope == self.scope)
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

    def _reform(self, c, remaining: pd.DataFrame, links, threshold, report: RemovalReport):
        """Split each former case into components; returns record -> case id, case sizes."""
        labels: dict[int, str] = {}
        sizes: dict[str, int] = {}
        groups = _groups(remaining)
        per_case = _links_by_case(remaining, links)
        empty = (np.zeros(0, np.int64), np.zeros(0, dtype=object))
        split: list[tuple[str, np.ndarray]] = []  # parts that need a new case id
        for case_id in sorted(set(report.removed["case_id"])):
            ids, agencies = groups.get(case_id, empty)
            parts = components(ids, *per_case.get(case_id, _NO_LINKS), threshold)
            kept = parts[0] if parts else ids
            labels.update(dict.fromkeys(kept.tolist(), case_id))
            sizes[case_id] = len(kept)
            held = tuple(sorted(set(agencies[np.isin(ids, kept)].tolist())))
            report.cases[case_id] = CaseRemainder(case_id, len(kept), held)
            split += [(case_id, part) for part in parts[1:]]
        for (case_id, part), cid in zip(split, self._issue_cases(c, len(split)), strict=True):
            labels.update(dict.fromkeys(part.tolist(), cid))
            sizes[cid] = len(part)
            was = report.cases[case_id]
            report.cases[case_id] = replace(was, split_off=(*was.split_off, cid))
        return labels, sizes

    def _issue_cases(self, c: sa.Connection, n: int) -> list[str]:
        """``n`` new case ids, in issue order after every id of this scope."""
        if not n:
            return []
        k, m = cases_table.c, meta_table.c
        fresh: list[str] = []
        while len(fresh) < n:  # case ids are unique across every scope of the database
            draw = [
                x
                for x in dict.fromkeys(new_case_id() for _ in range(n - len(fresh)))
                if x not in fresh
            ]
            taken = set()
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

    def _reconfirm(self, c, remaining: pd.DataFrame, labels, sizes, links) -> int:
        """Store the re-formed case ids and recomputed confidence; returns records changed."""
        if remaining.empty:
            return 0
        ids = remaining["id"].to_numpy(np.int64)
        conf = confidence(ids, labels, sizes, links)
        cases = np.array([labels[int(i)] for i in ids], dtype=object)
        changed = (cases != remaining["case_id"].to_numpy()) | (
            conf != remaining["confidence"].to_numpy()
        )
        self._store(c, ids[changed], cases[changed], conf[changed])
        self._case_confidence(c, cases, conf)
        return int(changed.sum())

    def _reconfirm_singletons(self, c: sa.Connection, ids: np.ndarray) -> int:
        """Records alone in their case that lost a link: confidence is 1 - best link left."""
        r = records_table.c
        rows: list = []
        for part in _chunks([int(i) for i in ids]):
            rows += c.execute(
                sa.select(r.id, r.case_id).where(r.scope == self.scope, r.id.in_(part))
            ).all()
        sizes: dict[str, int] = {}
        for part in _chunks(sorted({x.case_id for x in rows})):
            sizes.update(
                c.execute(
                    sa.select(r.case_id, sa.func.count())
                    .where(r.scope == self.scope, r.case_id.in_(part))
                    .group_by(r.case_id)
                ).all()
            )
        label_of = {int(x.id): x.case_id for x in rows if sizes[x.case_id] == 1}
        if not label_of:
            return 0
        single = np.array(sorted(label_of), dtype=np.int64)
        conf = confidence(single, label_of, sizes, self._links_touching(c, single))
        cases = np.array([label_of[int(i)] for i in single], dtype=object)
        self._store(c, single, cases, conf)
        self._case_confidence(c, cases, conf)
        return len(single)

    def _store(self, c, ids: np.ndarray, cases: np.ndarray, conf: np.ndarray) -> None:
        r = records_table.c
        stmt = (
            records_table.update()
            .where(r.id == sa.bindparam("rid"))
            .values(case_id=sa.bindparam("cid"), confidence=sa.bindparam("conf"))
        )
        rows = [
            {"rid": int(i), "cid": cid, "conf": float(x)}
            for i, cid, x in zip(ids, cases, conf, strict=True)
        ]
        if rows:
            c.execute(stmt, rows)

    def _case_confidence(self, c, cases: np.ndarray, conf: np.ndarray) -> None:
        """A case's confidence is its least confident record's (as clustering sets it)."""
        k = cases_table.c
        lowest = pd.Series(conf).groupby(pd.Series(cases)).min()
        stmt = (
            cases_table.update()
            .where(k.case_id == sa.bindparam("cid"))
            .values(confidence=sa.bindparam("conf"))
        )
        c.execute(stmt, [{"cid": cid, "conf": float(x)} for cid, x in lowest.items()])


_NO_LINKS = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))


def _groups(remaining: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Record ids and agencies of each case of ``remaining`` (ids ascending)."""
    codes, cases = pd.factorize(remaining["case_id"])
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    ids = np.split(remaining["id"].to_numpy(np.int64)[order], bounds)
    agencies = np.split(remaining["agency"].to_numpy(dtype=object)[order], bounds)
    return dict(zip(cases, zip(ids, agencies, strict=True), strict=False))


def _links_by_case(remaining: pd.DataFrame, links) -> dict[str, tuple]:
    """The links with both ends in one case of ``remaining``, grouped by that case."""
    a, b, p = links
    case_of = pd.Series(remaining["case_id"].to_numpy(), index=remaining["id"].to_numpy())
    ca = case_of.reindex(a).to_numpy()
    cb = case_of.reindex(b).to_numpy()
    same = pd.notna(ca) & (ca == cb)
    out: dict[str, tuple] = {}
    if same.any():
        idx = pd.Series(np.flatnonzero(same)).groupby(ca[same]).agg(list)
        out = {cid: (a[k], b[k], p[k]) for cid, k in idx.items()}
    return out


def _chunks(values: Sequence) -> list:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]
