"""One side of the partial-overlap graph attack: what the attacker reads off a set of filters.

Everything here is computed from one side's filters alone, under whatever key encoded them, so
it can be compared across sides encoded under different keys:

* **value groups** per schema segment: records whose segment bits are identical (Dice 1 in that
  segment's similarity graph -- the per-segment similarities the service holds) share an id;
  an empty segment (the field missing) gets -1. Under BLIP, whose flips the attacker knows
  the rate of, records join the group of near-identical patterns instead (:func:`tolerances`);
* **node features** per record, rank-normalised within its part of the side: the popcount of
  each segment whose popcount varies (it follows the value's length, not the key), the share of
  the part holding the record's value in each segment, and the mean per-segment Dice over the
  record's top-k neighbours in the whole-filter similarity graph (found by the compiled
  popcount search of :func:`linkage.search` among a fixed-size sample of the part,
  so the cost grows linearly with the records and parts of different sizes compare).

A side may hold several parts (the attacker's register and its decoys); groups share one id
space across parts, while shares, neighbours and ranks are taken within each part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.stats import rankdata

import bloom
from linkage import search, segment_dice

__all__ = ["Side", "build_side", "segment_bounds", "tolerances", "varying_popcounts"]

_VARYING = 0.15  # a segment's popcount is a feature when its coefficient of variation is above
_NEAR = 0.85  # under BLIP, records share a value down to this share of the expected Dice


@dataclass(frozen=True)
class Side:
    """Value groups and node features of the records of one side, in filter order."""

    groups: np.ndarray  # (segments, n) int64 exact-pattern ids; -1 where the segment is empty
    features: np.ndarray  # (n, f) float64 in (0, 1), ranks within each part
    part: np.ndarray  # (n,) int64 part of each record (0, 1, ...)

    @property
    def size(self) -> int:
        return int(self.part.size)


def segment_bounds(schema: bloom.Schema) -> np.ndarray:
    """``(segments, 2)`` word ranges [lo, hi) of each segment of the schema's filters."""
    return np.array(
        [(s.out_offset // 64, (s.out_offset + s.out_bits) // 64) for s in schema.segments],
        dtype=np.int64,
    )


def _popcounts(filters: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``(n, segments)`` set bits of each segment of each filter."""
    counts = np.bitwise_count(filters).astype(np.int64)
    return np.stack([counts[:, lo:hi].sum(axis=1) for lo, hi in bounds], axis=1)


def varying_popcounts(filters: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Indices of the segments whose popcount varies enough to tell values apart."""
    counts = _popcounts(filters, bounds).astype(np.float64)
    keep = []
    for s in range(counts.shape[1]):
        present = counts[:, s][counts[:, s] > 0]
        if present.size > 1 and present.std() > _VARYING * present.mean():
            keep.append(s)
    return np.array(keep, dtype=np.int64)


def _exact_groups(words: np.ndarray) -> np.ndarray:
    rows = words.view(np.dtype((np.void, 8 * words.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].ravel()


def _near_groups(words: np.ndarray, tolerance: float, sample: int) -> np.ndarray:
    """Groups of near-identical patterns (Dice >= ``tolerance``) under noisy encodings.

    The patterns of a fixed-size sample are linked to their top-k neighbours at that Dice
    and split into connected components; every record joins the component of its nearest
    sample pattern, or stays alone when none is that close.
    """
    n = len(words)
    chosen = np.sort(np.random.default_rng(n).permutation(n)[: min(sample, n)])
    inner = search(words[chosen], words[chosen], tolerance, 10, method="exhaustive")
    graph = coo_matrix(
        (np.ones(inner.i.size), (inner.i, inner.j)), shape=(chosen.size, chosen.size)
    )
    count, label = connected_components(graph, directed=False)
    near = search(words, words[chosen], tolerance, 1, method="exhaustive")
    out = count + np.arange(n, dtype=np.int64)
    out[near.i] = label[near.j]
    return out


def _groups(
    filters: np.ndarray, bounds: np.ndarray, tolerance: np.ndarray, sample: int
) -> np.ndarray:
    """``(segments, n)`` value groups: identical patterns, or near-identical ones where the
    segment's ``tolerance`` is below 1; -1 where the segment is empty."""
    out = np.empty((len(bounds), len(filters)), dtype=np.int64)
    for s, (lo, hi) in enumerate(bounds):
        words = np.ascontiguousarray(filters[:, lo:hi])
        if tolerance[s] >= 1:
            groups = _exact_groups(words)
        else:
            groups = _near_groups(words, float(tolerance[s]), sample)
        out[s] = np.where((words == 0).all(axis=1), -1, groups)
    return out


def tolerances(filters: np.ndarray, schema: bloom.Schema) -> np.ndarray:
    """Per segment, the Dice at which two records are taken to share a value.

    1 for deterministic encodings. Under BLIP (flip probability ``f``, known from the schema)
    two noisy copies of a pattern of ``c`` of ``L`` bits keep ``c(1-f)^2 + (L-c)f^2`` bits in
    common out of ``c' = c(1-f) + (L-c)f`` each; ``c`` follows from the mean observed ``c'``.
    The tolerance is ``_NEAR`` times that expected Dice.
    """
    epsilon = schema.hardening.blip_epsilon
    bounds = segment_bounds(schema)
    if epsilon is None:
        return np.ones(len(bounds))
    f = bloom.blip_flip_probability(epsilon)
    out = np.empty(len(bounds))
    for s, (lo, hi) in enumerate(bounds):
        length = 64.0 * (hi - lo)
        observed = float(_popcounts(filters, bounds[s : s + 1]).mean())
        c = np.clip((observed - length * f) / max(1 - 2 * f, 1e-9), 0.0, length)
        shared = c * (1 - f) ** 2 + (length - c) * f**2
        out[s] = _NEAR * shared / max(observed, 1e-9)
    return out


def _shares(groups: np.ndarray, part: np.ndarray) -> np.ndarray:
    """``(n, segments)`` log share of the record's part holding its value (missing: a value)."""
    out = np.empty((part.size, len(groups)))
    for p in np.unique(part):
        rows = np.flatnonzero(part == p)
        for s, g in enumerate(groups):
            _, inverse, counts = np.unique(g[rows], return_inverse=True, return_counts=True)
            out[rows, s] = np.log(counts[inverse.ravel()] / rows.size)
    return out


def _neighbour_means(
    filters: np.ndarray, bounds: np.ndarray, neighbours: int, threshold: float, sample: int
) -> np.ndarray:
    """``(n, segments)`` mean per-segment Dice over each record's top-k graph neighbours.

    Neighbours are sought among a fixed-size random sample of the part (all of it when
    smaller), with the compiled exhaustive search: the cost is ``n x sample``, and parts of
    different sizes give comparable neighbourhoods.
    """
    n = len(filters)
    chosen = np.sort(np.random.default_rng(n).permutation(n)[: min(sample, n)])
    pairs = search(filters, filters[chosen], threshold, neighbours + 1, method="exhaustive")
    j = chosen[pairs.j]
    other = pairs.i != j
    i, j = pairs.i[other], j[other]
    dice = np.nan_to_num(segment_dice(filters, filters, i, j, bounds), nan=0.0)
    degree = np.maximum(np.bincount(i, minlength=n), 1)
    return (
        np.stack([np.bincount(i, dice[:, s], minlength=n) for s in range(len(bounds))], 1)
        / (degree[:, None])
    )


def _ranks(columns: np.ndarray) -> np.ndarray:
    return np.column_stack([(rankdata(c) - 0.5) / len(c) for c in columns.T])


def build_side(
    filters: np.ndarray,
    schema: bloom.Schema,
    part: np.ndarray,
    popcount_segments: np.ndarray,
    tolerance: np.ndarray,
    *,
    neighbours: int,
    threshold: float,
    sample: int,
) -> Side:
    """Groups and rank-normalised features of ``filters``, parts given by ``part``."""
    bounds = segment_bounds(schema)
    filters = np.ascontiguousarray(filters)
    groups = _groups(filters, bounds, tolerance, sample)
    shares = _shares(groups, part)
    pops = _popcounts(filters, bounds)[:, popcount_segments]
    features = np.empty((len(filters), pops.shape[1] + 2 * len(bounds)))
    for p in np.unique(part):
        rows = np.flatnonzero(part == p)
        near = _neighbour_means(filters[rows], bounds, neighbours, threshold, sample)
        features[rows] = _ranks(np.hstack([pops[rows], shares[rows], near]))
    return Side(groups=groups, features=features, part=np.asarray(part, dtype=np.int64))
