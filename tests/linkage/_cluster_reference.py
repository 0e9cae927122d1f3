"""The Python clustering code as it was before the compiled kernels, kept as the
reference the vectorised code must match (tests/linkage/test_cluster_vectorised.py).

A verbatim copy of ``linkage._cluster`` (union-find with a dict of agency bitmasks, one call
per link, a loop per component and per record; docstrings dropped); the removal code's copy
is ``_removal_reference.py``. Slow on purpose: never call it from library code.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from linkage._cluster import CaseAssignment


class _Components:
    def __init__(self, agency_codes: np.ndarray) -> None:
        self.parent = np.arange(len(agency_codes))
        self.masks: dict[int, int] = {i: 1 << int(a) for i, a in enumerate(agency_codes)}

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return int(root)

    def union(self, a: int, b: int, allow_shared_agency: bool) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if not allow_shared_agency and self.masks[ra] & self.masks[rb]:
            return False
        keep, drop = (ra, rb) if ra < rb else (rb, ra)
        self.parent[drop] = keep
        self.masks[keep] |= self.masks.pop(drop)
        return True


def cluster(
    agency_codes: np.ndarray,
    existing: np.ndarray,
    edge_a: np.ndarray,
    edge_b: np.ndarray,
    edge_p: np.ndarray,
    threshold: float,
    *,
    allow_duplicates_within_agency: bool = False,
) -> np.ndarray:
    comps = _Components(agency_codes)
    first_of: dict[int, int] = {}
    for pos, label in enumerate(existing.tolist()):
        if label >= 0:
            root = first_of.setdefault(label, pos)
            if root != pos:
                comps.union(root, pos, True)
    order = np.lexsort((edge_b, edge_a, -edge_p))
    for k in order[edge_p[order] >= threshold]:
        comps.union(int(edge_a[k]), int(edge_b[k]), allow_duplicates_within_agency)
    return np.array([comps.find(i) for i in range(len(agency_codes))], dtype=np.int64)


def _confidence(labels: np.ndarray, edge_a, edge_b, edge_p) -> np.ndarray:
    n = len(labels)
    inside = np.zeros(n)
    outside = np.zeros(n)
    same = labels[edge_a] == labels[edge_b]
    for arr, mask in ((inside, same), (outside, ~same)):
        np.maximum.at(arr, edge_a[mask], edge_p[mask])
        np.maximum.at(arr, edge_b[mask], edge_p[mask])
    sizes = np.bincount(labels, minlength=n)[labels]
    return np.where(sizes > 1, inside, 1.0 - outside)


def assign_cases(
    labels: np.ndarray,
    old_case_ids: np.ndarray,
    case_seq: dict[str, int],
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    new_id: Callable[[], str],
) -> CaseAssignment:
    case_ids = np.empty(len(labels), dtype=object)
    merges: dict[str, str] = {}
    new_cases: list[str] = []
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        members = order[lo:hi]
        olds = sorted(
            {c for c in old_case_ids[members] if c}, key=lambda c: (case_seq.get(c, 0), c)
        )
        if olds:
            survivor = olds[0]
            merges.update({c: survivor for c in olds[1:]})
        else:
            survivor = new_id()
            new_cases.append(survivor)
        case_ids[members] = survivor
    conf = _confidence(labels, *edges)
    case_conf: dict[str, float] = {}
    for cid, c in zip(case_ids, conf, strict=True):
        case_conf[cid] = min(case_conf.get(cid, 1.0), float(c))
    return CaseAssignment(case_ids, conf, case_conf, new_cases, merges)
