"""Compiled union-find over record positions, and the record-confidence rule.

Both clustering (``linkage._cluster``) and re-forming cases after a removal
(``linkage._removal``) use these kernels, so the rules live here once:

- **Joining.** ``parent`` is an int64 array over record positions; a component's root is always
  its smallest position (a join keeps the smaller root), so labels come out as the smallest
  position of each component whatever the order of path compression. Links are taken in the
  order given; with ``exclusive`` a link joins only components that hold no record of the same
  agency. Agencies are bitmasks in a ``(records, words)`` uint64 array, so any number works;
  only a root's row is kept up to date.
- **Confidence.** A record in a case of several records: its best link inside the case; a
  record alone: one minus its best link to any other record.

Nothing here loops in Python per link or per record.
"""

from __future__ import annotations

import numpy as np

from bloom._arrays import F64, I64, U64, Int, Ints
from bloom._jit import njit

__all__ = [
    "absorb_members",
    "agency_masks",
    "component_labels",
    "join_links",
    "record_confidence",
]

_ONE = np.uint64(1)


@njit(nogil=True)
def _root(parent: Ints, x: Int) -> Int:  # pragma: no cover - compiled
    """Root of ``x``, compressing the path behind it."""
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(nogil=True)
def _share_agency(masks: U64, ra: Int, rb: Int) -> bool:  # pragma: no cover - compiled
    for w in range(masks.shape[1]):  # noqa: SIM110 - a plain loop compiles; any(genexpr) not
        if masks[ra, w] & masks[rb, w]:
            return True
    return False


@njit(nogil=True)
def join_links(
    parent: Ints, masks: U64, a: Ints, b: Ints, exclusive: bool
) -> int:  # pragma: no cover - compiled
    """Take the links (a[k], b[k]) in order; returns how many joined two components.

    With ``exclusive``, components that share an agency (``masks``) stay apart; without it
    ``masks`` may have no columns.
    """
    joined = 0
    for k in range(a.shape[0]):
        ra = _root(parent, a[k])
        rb = _root(parent, b[k])
        if ra == rb or (exclusive and _share_agency(masks, ra, rb)):
            continue
        keep, drop = (ra, rb) if ra < rb else (rb, ra)
        parent[drop] = keep
        for w in range(masks.shape[1]):
            masks[keep, w] |= masks[drop, w]
        joined += 1
    return joined


@njit(nogil=True)
def absorb_members(parent: Ints, masks: U64) -> None:  # pragma: no cover - compiled
    """Give each root the agencies of the records pointing straight at it."""
    for i in range(parent.shape[0]):
        r = parent[i]
        if r != i:
            for w in range(masks.shape[1]):
                masks[r, w] |= masks[i, w]


@njit(nogil=True)
def component_labels(parent: Ints) -> I64:  # pragma: no cover - compiled
    """The root (smallest position) of every record's component."""
    out = np.empty(parent.shape[0], dtype=np.int64)
    for i in range(parent.shape[0]):
        out[i] = _root(parent, i)
    return out


def agency_masks(agency_codes: np.ndarray) -> np.ndarray:
    """``(records, words)`` uint64 bitmask of each record's agency (codes compacted first)."""
    codes = np.unique(np.asarray(agency_codes), return_inverse=True)[1].astype(np.int64)
    words = (int(codes.max()) // 64 + 1) if len(codes) else 0
    masks = np.zeros((len(codes), words), dtype=np.uint64)
    masks[np.arange(len(codes)), codes // 64] = _ONE << (codes % 64).astype(np.uint64)
    return masks


@njit(nogil=True)
def _best_links(
    labels: Ints, a: Ints, b: Ints, p: F64, inside: F64, outside: F64
) -> None:  # pragma: no cover - compiled
    for k in range(a.shape[0]):
        x, y, q = a[k], b[k], p[k]
        same = x >= 0 and y >= 0 and labels[x] == labels[y]
        best = inside if same else outside
        if x >= 0 and q > best[x]:
            best[x] = q
        if y >= 0 and q > best[y]:
            best[y] = q


def record_confidence(
    labels: np.ndarray, sizes: np.ndarray, a: np.ndarray, b: np.ndarray, p: np.ndarray
) -> np.ndarray:
    """P(record belongs to its case): best link inside it; alone, 1 - best link outside.

    ``labels[i]`` is the case of record position ``i`` and ``sizes[i]`` that case's number of
    records; links (a, b, p) hold positions, -1 for an end outside the records considered (it
    is in another case). A record without a link counts a best link of 0.
    """
    n = len(labels)
    inside = np.zeros(n)
    outside = np.zeros(n)
    _best_links(
        np.ascontiguousarray(labels, dtype=np.int64),
        np.ascontiguousarray(a, dtype=np.int64),
        np.ascontiguousarray(b, dtype=np.int64),
        np.ascontiguousarray(p, dtype=np.float64),
        inside,
        outside,
    )
    return np.where(np.asarray(sizes) > 1, inside, 1.0 - outside)
