"""Clustering scored links into cases, keeping issued case ids stable.

Existing cases enter as fixed components; links are taken strongest first (ties broken by
record position, so the result is deterministic) and join two components when the link is at
or above the threshold and — unless duplicates within an agency are allowed — the two
components hold no record of the same agency. With two agencies this is greedy one-to-one
assignment. Each final component keeps the case id of its oldest existing case; a component
that joined several existing cases records the others as merged into it.

The joining runs in a compiled union-find (``linkage._unionfind``); case assignment works on
whole arrays: no Python loop per link, per record or per case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from linkage._caseid import new_case_ids
from linkage._constraints import PositionConstraints
from linkage._types import LinkageError
from linkage._unionfind import (
    absorb_members,
    agency_masks,
    component_labels,
    join_links,
    record_confidence,
)

__all__ = ["CaseAssignment", "assign_cases", "cluster"]


def _existing_parents(existing: np.ndarray) -> np.ndarray:
    """Parent array where every record of an existing case points at the case's first."""
    parent = np.arange(len(existing), dtype=np.int64)
    pos = np.flatnonzero(existing >= 0)
    if len(pos):
        _, first, inverse = np.unique(existing[pos], return_index=True, return_inverse=True)
        parent[pos] = pos[first][inverse]
    return parent


def _check_ends(n: int, edge_a: np.ndarray, edge_b: np.ndarray) -> None:
    bad = [
        f"{name} holds positions outside 0..{n - 1}"
        for name, ends in (("edge_a", edge_a), ("edge_b", edge_b))
        if len(ends) and (int(ends.min()) < 0 or int(ends.max()) >= n)
    ]
    if bad:
        raise LinkageError(bad)


def _strongest_first(
    n: int, edge_a: np.ndarray, edge_b: np.ndarray, edge_p: np.ndarray, threshold: float
) -> np.ndarray:
    """Indices of the links at or above ``threshold`` in ``np.lexsort((b, a, -p))`` order.

    Two stable sorts, by (a, b) as one int64 key and then by -p, give that very order in
    about a third of lexsort's time.
    """
    keep = np.flatnonzero(edge_p >= threshold)
    pair = edge_a[keep].astype(np.int64) * n + edge_b[keep].astype(np.int64)
    keep = keep[np.argsort(pair, kind="stable")]
    return keep[np.argsort(-edge_p[keep], kind="stable")]


def cluster(
    agency_codes: np.ndarray,
    existing: np.ndarray,
    edge_a: np.ndarray,
    edge_b: np.ndarray,
    edge_p: np.ndarray,
    threshold: float,
    *,
    allow_duplicates_within_agency: bool = False,
    constraints: PositionConstraints | None = None,
) -> np.ndarray:
    """Component label (its smallest record position) for every record.

    ``existing`` holds each record's current case label (-1 for new records); records sharing
    a label start in one component. ``constraints``: must-link pairs joined before any link,
    cannot-link pairs never in one component (:mod:`linkage._constraints`).
    """
    n = len(agency_codes)
    edge_a, edge_b, edge_p = np.asarray(edge_a), np.asarray(edge_b), np.asarray(edge_p)
    _check_ends(n, edge_a, edge_b)
    parent = _existing_parents(np.asarray(existing))
    exclusive = not allow_duplicates_within_agency
    masks = agency_masks(agency_codes) if exclusive else np.zeros((n, 0), dtype=np.uint64)
    if constraints is not None:  # cannot-link pairs: one mask bit each
        masks, exclusive = constraints.masks(masks), exclusive or constraints.separates
    absorb_members(parent, masks)
    if constraints is not None:  # must-link pairs: joined before any scored link
        constraints.join_must(parent, masks, exclusive)
    order = _strongest_first(n, edge_a, edge_b, edge_p, threshold)
    a = np.ascontiguousarray(edge_a[order], dtype=np.int64)
    b = np.ascontiguousarray(edge_b[order], dtype=np.int64)
    join_links(parent, masks, a, b, exclusive)
    return component_labels(parent)


@dataclass(frozen=True)
class CaseAssignment:
    case_ids: np.ndarray  # per record
    confidence: np.ndarray  # per record
    case_confidence: dict[str, float]
    new_cases: list[str]
    merges: dict[str, str]  # absorbed -> survivor


def _key_ranks(ids: np.ndarray, case_seq: dict[str, int]) -> np.ndarray:
    """Rank of each distinct case id by (case_seq.get(id, 0), id): rank 0 is the oldest."""
    seq = pd.Series(case_seq, dtype=np.int64).reindex(ids, fill_value=0).to_numpy()
    by_text = np.empty(len(ids), dtype=np.int64)
    by_text[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[np.lexsort((by_text, seq))] = np.arange(len(ids))
    return ranks


def _firsts(*keys: np.ndarray) -> np.ndarray:
    """True where a row of the sorted ``keys`` differs from the row before (and at row 0)."""
    out = np.zeros(len(keys[0]), dtype=bool)
    out[:1] = True
    for k in keys:
        out[1:] |= k[1:] != k[:-1]
    return out


def _survivors(
    group: np.ndarray, n_groups: int, old_case_ids: np.ndarray, case_seq: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Surviving old case id per group, which groups have one, and the merges dict."""
    old = np.asarray(old_case_ids, dtype=object)
    held = np.flatnonzero(old.astype(bool))  # the truthy ids, as `if c` reads them
    codes, ids = pd.factorize(old[held])
    ids = np.asarray(ids, dtype=object)
    ranks = _key_ranks(ids, case_seq)
    by_rank = np.empty(len(ids), dtype=object)
    by_rank[ranks] = ids
    g, r = group[held], ranks[codes]
    order = np.lexsort((r, g))
    g, r = g[order], r[order]
    distinct = _firsts(g, r)
    g, r = g[distinct], r[distinct]
    head = _firsts(g)  # each group's oldest id survives; the others merge into it
    survivor = np.full(n_groups, None, dtype=object)
    survivor[g[head]] = by_rank[r[head]]
    has_old = np.zeros(n_groups, dtype=bool)
    has_old[g] = True
    merges = dict(zip(by_rank[r[~head]].tolist(), survivor[g[~head]].tolist(), strict=True))
    return survivor, has_old, merges


def _draw_ids(
    n: int,
    new_id: Callable[[], str] | None,
    new_ids: Callable[[int], Sequence[str] | np.ndarray] | None,
) -> list[str]:
    if new_ids is not None:
        drawn = list(new_ids(n))
        if len(drawn) != n:
            raise LinkageError(f"new_ids({n}) returned {len(drawn)} case ids, not {n}")
        return drawn
    if new_id is not None:
        return [new_id() for _ in range(n)]  # the caller's drawer: one call per new case
    return cast(list[str], new_case_ids(n).tolist())


def _case_minimum(case_ids: np.ndarray, conf: np.ndarray) -> dict[str, float]:
    """Each case's least record confidence (at most 1.0), cases by first record."""
    codes, cases = pd.factorize(case_ids)
    lowest = np.ones(len(cases))
    np.minimum.at(lowest, codes, conf)
    return dict(zip(np.asarray(cases, dtype=object).tolist(), lowest.tolist(), strict=True))


def assign_cases(
    labels: np.ndarray,
    old_case_ids: np.ndarray,
    case_seq: dict[str, int],
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    new_id: Callable[[], str] | None = None,
    *,
    new_ids: Callable[[int], Sequence[str] | np.ndarray] | None = None,
) -> CaseAssignment:
    """Case id per component: the oldest existing id survives, new components get new ids.

    New ids come from ``new_ids(n)`` (one call for every new case, in label order) if given,
    else from ``new_id()`` once per new case, else from :func:`linkage._caseid.new_case_ids`.
    """
    _, group = np.unique(labels, return_inverse=True)
    group = group.reshape(-1).astype(np.int64)
    n_groups = int(group.max()) + 1 if len(group) else 0
    survivor, has_old, merges = _survivors(group, n_groups, old_case_ids, case_seq)
    fresh = np.flatnonzero(~has_old)
    fill = np.empty(len(fresh), dtype=object)
    fill[:] = _draw_ids(len(fresh), new_id, new_ids)
    survivor[fresh] = fill
    case_ids = survivor[group]
    sizes = np.bincount(group, minlength=n_groups)[group]
    conf = record_confidence(group, sizes, *edges)
    new_cases = survivor[fresh].tolist()
    return CaseAssignment(case_ids, conf, _case_minimum(case_ids, conf), new_cases, merges)
