"""A run's clustering under the registry's constraints: what :func:`linkage.plan_link` hands
:func:`linkage.cluster` and :func:`linkage.assign_cases` when it is given ``constraints``.

Existing cases enter clustering as fixed components. A case that holds both records of a
cannot-link pair (the pair was linked before people said they are two people) is *released*:
its records enter as new ones would, with the stored links touching them as edges beside the
run's own, and are clustered again under the constraints (so the pair ends apart, and each
record may join where its links lead). The part of a released case that holds its oldest
record keeps the case id; every other part gets a new id, as when a withdrawal splits a case
(:mod:`linkage._removal`). Must-link pairs are joined before any scored link
(:mod:`linkage._constraints`). Confidence then counts a must-link pair as a link of
probability 1 and a cannot-link pair as no link at all.

A must-link pair left apart is said, never forced: :class:`ConstraintOutcome` names each
(registry ids, no ref) with the reason — ``agency`` (one case would hold two records of one
agency) or ``cannot`` (a cannot-link pair stands between them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from linkage._constraints import Constraints, PositionConstraints, constrained_links

__all__ = ["ConstraintOutcome", "Held", "hold"]

_Edges = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ConstraintOutcome:
    """What a run did with the registry's constraints (ids are registry record ids)."""

    must: int = 0  # must-link pairs among the run's records
    cannot: int = 0  # cannot-link pairs among them
    cases_released: int = 0  # existing cases holding a cannot-link pair, clustered again
    cases_split: int = 0  # of them, those that ended in more than one case
    must_apart: tuple[tuple[int, int, str], ...] = field(default=())  # (id, id, reason)

    def summary(self) -> dict[str, int]:
        """Counts only, for a run's figures and its audit entry."""
        reasons = [r for _, _, r in self.must_apart]
        return {
            "must_links": self.must,
            "cannot_links": self.cannot,
            "cases_split": self.cases_split,
            "must_links_apart_agency": reasons.count("agency"),
            "must_links_apart_cannot": reasons.count("cannot"),
        }


def _positions(rec_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each registry id of ``ids`` among ``rec_ids`` (-1: not there)."""
    held = np.flatnonzero(rec_ids >= 0)
    order = held[np.argsort(rec_ids[held], kind="stable")]
    sorted_ids = rec_ids[order]
    if not len(sorted_ids):
        return np.full(ids.shape, -1, np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[at] == ids, order[at], -1).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Held:
    """Clustering's inputs under the constraints, and how to read its result."""

    existing: np.ndarray  # each record's case label; -1 for new and released records
    edges: _Edges  # the run's links, and the stored links touching a released record
    cluster: PositionConstraints | None  # None: no constraint among these records
    released: np.ndarray  # bool per record: its existing case is clustered again
    old_labels: np.ndarray
    rec_ids: np.ndarray

    def old_case_ids(self, labels: np.ndarray, old_case_ids: np.ndarray) -> np.ndarray:
        """``old_case_ids`` with the id of each released case kept only on the part that
        holds its oldest record (the smallest position): the other parts get new ids."""
        if not self.released.any():
            return old_case_ids
        out = np.array(old_case_ids, dtype=object, copy=True)
        rel = np.flatnonzero(self.released)
        case = self.old_labels[rel]
        first = pd.Series(rel).groupby(case).transform("min").to_numpy()
        out[rel[labels[rel] != labels[first]]] = None
        return out

    def confidence_edges(self, edges: _Edges) -> _Edges:
        """``edges`` for record confidence: cannot-link pairs count as no link, must-link
        pairs as links of probability 1 (:func:`linkage._constraints.constrained_links`)."""
        if self.cluster is None:
            return edges
        c = self.cluster
        must, cannot = np.c_[c.must_a, c.must_b], np.c_[c.cannot_a, c.cannot_b]
        return constrained_links(must, cannot, edges)

    def outcome(
        self, labels: np.ndarray, agency_codes: np.ndarray, *, exclusive: bool = True
    ) -> ConstraintOutcome | None:
        """What the clustering (``labels``) did with the constraints; ``exclusive``: one case
        holds one record of each agency at most."""
        if self.cluster is None:
            return None
        c = self.cluster
        apart = np.flatnonzero(labels[c.must_a] != labels[c.must_b])
        x, y = c.must_a[apart], c.must_b[apart]
        comps = pd.DataFrame({"comp": labels, "agency": agency_codes}).drop_duplicates()
        pairs = pd.DataFrame({"k": np.arange(len(x)), "cx": labels[x], "cy": labels[y]})
        left = pairs.merge(comps, left_on="cx", right_on="comp")[["k", "agency"]]
        right = pairs.merge(comps, left_on="cy", right_on="comp")[["k", "agency"]]
        clash = np.zeros(len(x), bool)
        if exclusive:
            clash[left.merge(right, on=["k", "agency"])["k"].to_numpy()] = True
        ids = self.rec_ids
        must_apart = tuple(
            (int(i), int(j), "agency" if k else "cannot")
            for i, j, k in zip(ids[x].tolist(), ids[y].tolist(), clash.tolist(), strict=True)
        )
        rel = np.flatnonzero(self.released)
        parts = pd.Series(labels[rel]).groupby(self.old_labels[rel]).nunique()
        return ConstraintOutcome(
            must=len(c.must_a),
            cannot=len(c.cannot_a),
            cases_released=len(parts),
            cases_split=int((parts > 1).sum()),
            must_apart=must_apart,
        )


def hold(
    constraints: Constraints | None,
    rec_ids: np.ndarray,
    old_labels: np.ndarray,
    old_links: _Edges,
    edges: _Edges,
) -> Held:
    """Clustering's inputs for records whose registry ids are ``rec_ids`` (-1: new), current
    case labels ``old_labels`` (-1: new), stored links ``old_links`` and the run's ``edges``
    (positions), under ``constraints`` (None or none among these records: unchanged)."""
    rec_ids = np.asarray(rec_ids, np.int64)
    none = np.zeros(len(rec_ids), bool)
    plain = Held(old_labels, edges, None, none, old_labels, rec_ids)
    if constraints is None or not len(constraints):
        return plain
    must = _positions(rec_ids, constraints.must.reshape(-1))
    cannot = _positions(rec_ids, constraints.cannot.reshape(-1))
    must = must.reshape(-1, 2)[(must.reshape(-1, 2) >= 0).all(axis=1)]
    cannot = cannot.reshape(-1, 2)[(cannot.reshape(-1, 2) >= 0).all(axis=1)]
    if not len(must) and not len(cannot):
        return plain
    pc = PositionConstraints(must[:, 0], must[:, 1], cannot[:, 0], cannot[:, 1])
    la, lb = old_labels[cannot[:, 0]], old_labels[cannot[:, 1]]
    split = np.unique(la[(la == lb) & (la >= 0)])
    released = np.isin(old_labels, split) & (old_labels >= 0)
    existing = np.where(released, -1, old_labels)
    oa, ob, op = (np.asarray(x) for x in old_links)
    touch = (oa >= 0) & (ob >= 0)
    touch &= released[np.maximum(oa, 0)] | released[np.maximum(ob, 0)]
    ea, eb, ep = edges
    more = (np.r_[ea, oa[touch]], np.r_[eb, ob[touch]], np.r_[ep, op[touch]])
    return Held(existing, more, pc, released, old_labels, rec_ids)
