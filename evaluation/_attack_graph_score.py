"""Candidate pairs and their scores for the partial-overlap graph attack.

Two kinds of evidence that a record ``x`` of the attacked side and a row ``y`` of the attacker's
side are the same person, neither comparing bits across keys:

* **feature distance**: L1 distance of the rank-normalised node features
  (:mod:`evaluation._attack_graph_sides`); candidates are each record's nearest rows in feature
  space and back, shortlisted by a k-d tree on the leading principal axes (never an n x n
  matrix);
* **value alignment through anchors**: the anchor pairs (records matched so far) fill, per
  segment, a contingency table of attacked-side value group against attacker-side value group.
  A pair's evidence in that segment is the log-likelihood ratio
  ``log P(g_y | g_x, match) / P(g_y)``, with ``P(g_y | g_x, match)`` smoothed towards the
  background ``P(g_y)``; a value group without anchors gives no evidence. Candidates are the
  pairs whose translated values (each attacked-side group mapped to its most frequent partner)
  agree on two segments at once, in blocks small enough to enumerate.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.spatial import cKDTree

from evaluation._attack_graph_sides import Side

__all__ = ["Alignment", "Pairs", "align", "best_pairs", "block_pairs", "feature_pairs", "score"]

_SMOOTHING = 1.0  # pseudo-anchors spread over the background in each contingency row
_BLOCK = 64  # most pairs one block of equal translated values may contribute


@dataclass(frozen=True)
class Pairs:
    """Candidate pairs ``(i, j)`` (attacked record, attacker row) with a score each."""

    i: np.ndarray  # int64
    j: np.ndarray  # int64
    s: np.ndarray  # float64


@dataclass(frozen=True)
class Alignment:
    """Per segment, the anchors' contingency of value groups; and who anchors whom.

    A pair is scored leaving out the anchors of its own record and row, so that an anchor
    pair never vouches for itself.
    """

    cells: tuple[np.ndarray, ...]  # sorted keys g_x * width + g_y of cells with anchors
    counts: tuple[np.ndarray, ...]  # anchors in each cell
    rows: tuple[np.ndarray, ...]  # per g_x: anchors in its row
    background: tuple[np.ndarray, ...]  # per g_y: share of the attacker's side holding it
    top: tuple[np.ndarray, ...]  # per g_x: its most frequent partner g_y, -1 if none
    partner_a: np.ndarray  # per record: its anchor row, -1 if none
    partner_b: np.ndarray  # per row: its anchor record, -1 if none
    width: int


def _unique_pairs(i: np.ndarray, j: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.unique(i * width + j)
    return keys // width, keys % width


def _nearest(i: np.ndarray, j: np.ndarray, d: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` smallest ``d`` of each ``i``."""
    order = np.lexsort((j, d, i))
    rank = np.empty(i.size, dtype=np.int64)
    rank[order] = np.arange(i.size) - np.searchsorted(i[order], i[order], side="left")
    return rank < k


def _principal(x: np.ndarray, y: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' features on the ``dims`` leading principal axes of the two together."""
    both = np.vstack([x, y])
    centre = both.mean(axis=0)
    _, _, axes = np.linalg.svd(both - centre, full_matrices=False)
    return (x - centre) @ axes[:dims].T, (y - centre) @ axes[:dims].T


def feature_pairs(a: Side, b: Side, k: int, *, dims: int = 6, shortlist: int = 32):
    """Each record's ``k`` nearest rows in feature space (L1), and each row's nearest records.

    Nearest among a shortlist: the ``shortlist`` nearest on the ``dims`` leading principal
    axes (a k-d tree, quick in few dimensions), re-ranked on all features.
    """
    pa, pb = _principal(a.features, b.features, min(dims, a.features.shape[1]))
    near_b = cKDTree(pb).query(pa, k=min(shortlist, b.size))[1].reshape(a.size, -1)
    near_a = cKDTree(pa).query(pb, k=min(shortlist, a.size))[1].reshape(b.size, -1)
    i, j = _unique_pairs(
        np.concatenate([np.repeat(np.arange(a.size), near_b.shape[1]), near_a.ravel()]),
        np.concatenate([near_b.ravel(), np.repeat(np.arange(b.size), near_a.shape[1])]),
        b.size,
    )
    d = np.abs(a.features[i] - b.features[j]).sum(axis=1)
    keep = _nearest(i, j, d, k) | _nearest(j, i, d, k)
    return i[keep], j[keep]


def align(a: Side, b: Side, anchor_a: np.ndarray, anchor_b: np.ndarray) -> Alignment:
    """Contingency tables of value groups over the anchor pairs, one per segment."""
    width = int(max(b.groups.max(), 0)) + 1
    cells, counts, rows, background, top = [], [], [], [], []
    for ga, gb in zip(a.groups, b.groups, strict=True):
        background.append(np.bincount(gb[gb >= 0], minlength=width) / max(int((gb >= 0).sum()), 1))
        x, y = ga[anchor_a], gb[anchor_b]
        both = (x >= 0) & (y >= 0)
        keys, count = np.unique(x[both] * width + y[both], return_counts=True)
        cells.append(keys)
        counts.append(count.astype(np.float64))
        rows.append(np.bincount(x[both], minlength=int(max(ga.max(), 0)) + 1).astype(np.float64))
        gx, gy = keys // width, keys % width
        best = np.full(rows[-1].size, -1, dtype=np.int64)
        order = np.lexsort((-count, gx))
        # [: gx.size]: no anchor pair holds the segment on both sides (rekey's emptied key)
        first = np.r_[True, gx[order][1:] != gx[order][:-1]][: gx.size]
        best[gx[order][first]] = gy[order][first]
        top.append(best)
    partner_a = np.full(a.size, -1, dtype=np.int64)
    partner_b = np.full(b.size, -1, dtype=np.int64)
    partner_a[anchor_a], partner_b[anchor_b] = anchor_b, anchor_a
    return Alignment(
        tuple(cells),
        tuple(counts),
        tuple(rows),
        tuple(background),
        tuple(top),
        partner_a,
        partner_b,
        width,
    )


def _translated(a: Side, alignment: Alignment) -> np.ndarray:
    """``(segments, n)`` each record's value groups mapped to their top partner (-1: none)."""
    out = np.full(a.groups.shape, -1, dtype=np.int64)
    for s, (g, top) in enumerate(zip(a.groups, alignment.top, strict=True)):
        ok = g >= 0
        out[s, ok] = top[g[ok]]
    return out


def _join(ka: np.ndarray, kb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of equal keys (>= 0), skipping blocks of more than ``_BLOCK`` pairs."""
    ia, ib = np.flatnonzero(ka >= 0), np.flatnonzero(kb >= 0)
    ia, ib = ia[np.argsort(ka[ia], kind="stable")], ib[np.argsort(kb[ib], kind="stable")]
    ua, start_a, count_a = np.unique(ka[ia], return_index=True, return_counts=True)
    ub, start_b, count_b = np.unique(kb[ib], return_index=True, return_counts=True)
    _, at_a, at_b = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    size_a, size_b = count_a[at_a], count_b[at_b]
    keep = size_a * size_b <= _BLOCK
    at_a, at_b, size_a, size_b = at_a[keep], at_b[keep], size_a[keep], size_b[keep]
    per = size_a * size_b
    block = np.repeat(np.arange(per.size), per)
    offset = np.arange(block.size) - np.repeat(np.cumsum(per) - per, per)
    i = ia[start_a[at_a][block] + offset // size_b[block]]
    j = ib[start_b[at_b][block] + offset % size_b[block]]
    return i, j


def block_pairs(a: Side, b: Side, alignment: Alignment) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose translated value groups equal the row's on some two segments."""
    ta = _translated(a, alignment)
    pieces_i, pieces_j = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for s, t in combinations(range(len(ta)), 2):
        stacked = np.concatenate(
            [np.stack([ta[s], ta[t]], 1), np.stack([b.groups[s], b.groups[t]], 1)]
        )
        _, key = np.unique(stacked, axis=0, return_inverse=True)
        key = np.where((stacked < 0).any(axis=1), -1, key.ravel())
        i, j = _join(key[: a.size], key[a.size :])
        pieces_i.append(i)
        pieces_j.append(j)
    return _unique_pairs(np.concatenate(pieces_i), np.concatenate(pieces_j), b.size)


def _lookup(cells: np.ndarray, values: np.ndarray, key: np.ndarray) -> np.ndarray:
    if not cells.size:
        return np.zeros(key.size)
    at = np.minimum(np.searchsorted(cells, key), cells.size - 1)
    return np.where(cells[at] == key, values[at], 0.0)


def _segment_ratio(
    alignment: Alignment, seg: int, gx: np.ndarray, gy: np.ndarray, own: tuple
) -> np.ndarray:
    """Log-likelihood ratio of value ``gy`` given ``gx``, the pair's own anchors left out.

    ``own``: for each pair, the attacker-side value of its record's anchor partner and the
    attacked-side value of its row's anchor partner (-1: no partner, or the pair itself).
    """
    width, back = alignment.width, alignment.background[seg]
    count = _lookup(alignment.cells[seg], alignment.counts[seg], gx * width + gy)
    row = alignment.rows[seg][gx].copy()
    partner_y, partner_x = own
    row -= (partner_y >= 0).astype(np.float64) + (partner_x == gx)
    count -= (partner_y == gy).astype(np.float64) + (partner_x == gx)
    p_match = (np.maximum(count, 0) + _SMOOTHING * back[gy]) / (np.maximum(row, 0) + _SMOOTHING)
    return np.log(p_match / back[gy])


def score(
    a: Side, b: Side, i: np.ndarray, j: np.ndarray, alignment: Alignment | None, feature: float
) -> Pairs:
    """Sum of the segments' value-alignment ratios, minus ``feature`` x the feature distance."""
    s = np.zeros(i.size)
    if feature:
        s -= feature * np.abs(a.features[i] - b.features[j]).sum(axis=1)
    if alignment is None:
        return Pairs(i, j, s)
    pa, pb = alignment.partner_a[i], alignment.partner_b[j]
    pa = np.where(pa == j, -1, pa)  # the pair is itself an anchor: left out once, below
    self_anchor = alignment.partner_a[i] == j
    for seg, (ga, gb) in enumerate(zip(a.groups, b.groups, strict=True)):
        x, y = ga[i], gb[j]
        ok = (x >= 0) & (y >= 0)
        partner_y = np.where(pa >= 0, gb[np.maximum(pa, 0)], -1)
        partner_x = np.where(pb >= 0, ga[np.maximum(pb, 0)], -1)
        partner_y = np.where(self_anchor, y, partner_y)  # its own anchor: its own cell
        partner_x = np.where(self_anchor, -1, partner_x)
        own = (partner_y[ok], partner_x[ok])
        s[ok] += _segment_ratio(alignment, seg, x[ok], y[ok], own)
    return Pairs(i, j, s)


def _best_two(key: np.ndarray, other: np.ndarray, s: np.ndarray, n: int):
    """Per key value: the best ``other``, its score and the runner-up score (-inf if none)."""
    order = np.lexsort((other, -s, key))
    key, other, s = key[order], other[order], s[order]
    first = np.r_[True, key[1:] != key[:-1]]
    best = np.full(n, -1, dtype=np.int64)
    top = np.full(n, -np.inf)
    second = np.full(n, -np.inf)
    best[key[first]], top[key[first]] = other[first], s[first]
    follow = np.flatnonzero(~first & np.r_[False, first[:-1]])
    second[key[follow]] = s[follow]
    return best, top, second


def best_pairs(pairs: Pairs, n_a: int, n_b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mutual best pairs ``(i, j)`` and their margins over the runner-up of either side."""
    best_j, top, second_i = _best_two(pairs.i, pairs.j, pairs.s, n_a)
    best_i, _, second_j = _best_two(pairs.j, pairs.i, pairs.s, n_b)
    i = np.flatnonzero(best_j >= 0)
    i = i[best_i[best_j[i]] == i]
    j = best_j[i]
    runner_up = np.maximum(second_i[i], second_j[j])
    floor = pairs.s.min() if pairs.s.size else 0.0
    margin = top[i] - np.where(np.isfinite(runner_up), runner_up, floor)
    return i, j, margin
