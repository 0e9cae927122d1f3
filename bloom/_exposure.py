"""Exposure of a batch: how far whoever holds its filters can group the records, without the secret.

Each schema field hashes into a segment of the filter. When a segment holds a low-cardinality
field (sex, birth year, place), records with the same value get the same bits there, so the
service -- which knows the segment layout -- can sort the records by that value without ever
learning which value it is. This module measures that, on the filters alone.

**Near-identical.** Two records are near-identical in a run of bits (a segment, or the whole
filter) when both have at least one bit set there and the Dice coefficient of those bits is at
least ``dice`` (default 0.9)::

    2·|a ∧ b| / (|a| + |b|) ≥ dice   ⇔   hamming(a, b) ≤ (1 − dice)·(|a| + |b|)

-- they differ in at most 10% of the bits they set together. Identical bits are always
near-identical, and so are encodings that a few flipped bits set apart. A **group** is a
connected component of that relation (single linkage, as an attacker clusters): records
chained by near-identical steps share a group. A record with no bit set in the run (its fields
missing) is in no group (label -1).

**How groups are found** (in bounded memory, for hundreds of thousands of records):

1. exact duplicates collapse into distinct patterns (``np.unique`` over rows, so the patterns
   come in content order and every result is independent of the order of the records);
2. pairs of patterns are checked with a compiled popcount kernel, and each near-identical
   pair unites two components of a union-find whose root is the component's first pattern:
   every pair when there are at most :data:`ALL_PAIRS_LIMIT` patterns (pairs already in one
   component are skipped, so one dense group costs little); above that, MinHash LSH over the
   set bits proposes pairs -- the patterns are sorted by each band's key, and inside each run
   of equal keys every pattern is checked against the run's first pattern and its
   predecessor. LSH may miss a pair (it is tuned for 99.9% per pair at the Dice bound); it
   never joins two patterns that are not near-identical.

**Per-record noise.** BLIP flips each bit of each record on its own; at epsilon 2 two
encodings of one value in a 64-bit segment differ in about 13 bits, beyond any useful Dice
bound. The flip probability is in the schema, so an attacker knows it: with ``noise`` > 0 each
segment is first denoised by majority votes (:mod:`bloom._denoise`), then grouped as above.
:func:`schema_noise` reads it from a schema.

:func:`near_identical_groups_reference` computes the same groups with plain numpy over every
pair and ``scipy.sparse.csgraph.connected_components``, for tests (SciPy is imported there
only: the light install, the encoder alone, has no SciPy).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from bloom._arrays import Ints
from bloom._bitops import dice_array, popcount_rows
from bloom._denoise import denoise
from bloom._groupkernels import all_pairs_join, compress, lsh_join
from bloom._hardening import blip_flip_probability
from bloom._schema import Schema
from caselink_errors import ExposureError

__all__ = [
    "ALL_PAIRS_LIMIT",
    "BatchExposure",
    "DEFAULT_DICE",
    "DEFAULT_MIN_GROUP",
    "SegmentExposure",
    "WHOLE_FILTER",
    "batch_exposure",
    "near_identical_groups",
    "near_identical_groups_reference",
    "schema_noise",
]

DEFAULT_DICE = 0.9
DEFAULT_MIN_GROUP = 5
ALL_PAIRS_LIMIT = 4096  # distinct patterns up to which every pair is checked
WHOLE_FILTER = "(whole filter)"
METHODS = ("auto", "all_pairs", "lsh")


@dataclass(frozen=True, eq=False)
class SegmentExposure:
    """The near-identical groups of one run of bits, and how many records they hold."""

    segment: str  # a segment's name, or WHOLE_FILTER
    bits: int
    records: int
    empty: int  # records with no bit set in the run: in no group
    distinct_patterns: int  # distinct non-empty bit patterns
    labels: np.ndarray  # (records,) int64 group of each record, -1 where empty
    min_group: int
    grouped_share: float  # share of all records in groups of at least min_group
    largest_group_share: float  # share of all records in the largest group

    @property
    def group_sizes(self) -> np.ndarray:
        """Records in each group, indexed by label."""
        return np.bincount(self.labels[self.labels >= 0])


@dataclass(frozen=True, eq=False)
class BatchExposure:
    """Exposure of every segment of a batch, and of the whole filter."""

    segments: tuple[SegmentExposure, ...]
    whole: SegmentExposure
    dice: float
    min_group: int
    noise: float  # the per-bit flip probability undone before grouping (0: none)

    def segment(self, name: str) -> SegmentExposure:
        if name == WHOLE_FILTER:
            return self.whole
        for s in self.segments:
            if s.segment == name:
                return s
        raise KeyError(name)

    @property
    def worst(self) -> SegmentExposure:
        """The segment whose groups of at least ``min_group`` hold the most records."""
        return max(self.segments, key=lambda s: s.grouped_share)


def _patterns(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows in content order, and each record's pattern index."""
    if bits.shape[1] == 1:
        uniq, inverse = np.unique(bits[:, 0], return_inverse=True)
        return uniq.reshape(-1, 1), inverse.reshape(-1)
    uniq, inverse = np.unique(bits, axis=0, return_inverse=True)
    return np.ascontiguousarray(uniq), inverse.reshape(-1)


def _labels(pattern_root: np.ndarray, inverse: Ints, empty_pattern: int) -> np.ndarray:
    """Group label per record: roots renumbered 0.. in content order; -1 for the empty pattern."""
    _, label_of_pattern = np.unique(pattern_root, return_inverse=True)
    label_of_pattern = label_of_pattern.astype(np.int64)
    if empty_pattern >= 0:
        label_of_pattern[label_of_pattern > label_of_pattern[empty_pattern]] -= 1
        label_of_pattern[empty_pattern] = -1
    return label_of_pattern[inverse]


def near_identical_groups(
    bits: np.ndarray, *, dice: float = DEFAULT_DICE, method: str = "auto", noise: float = 0.0
) -> np.ndarray:
    """Group label of each row of ``bits`` (rows, words) uint64; -1 for rows with no bit set.

    Rows share a label when a chain of near-identical rows joins them (Dice ≥ ``dice``).
    ``method``: ``all_pairs``, ``lsh`` or ``auto`` (all pairs up to :data:`ALL_PAIRS_LIMIT`
    distinct patterns). ``noise``: the per-bit flip probability of per-record noise (BLIP),
    undone first by :func:`bloom._denoise.denoise`. Labels are numbered in the content order of
    the patterns, so the same rows in another order get the same labels.
    """
    problems = _bits_problems(bits) + _param_problems(dice, DEFAULT_MIN_GROUP, method, noise)
    if problems:
        raise ExposureError(problems)
    bits = np.ascontiguousarray(bits, dtype=np.uint64)
    return _group(_denoised(bits, dice, method, noise), dice, method)[0]


def _denoised(bits: np.ndarray, dice: float, method: str, noise: float) -> np.ndarray:
    return denoise(bits, noise, lambda u: _group(u, dice, method)[0]) if noise > 0 else bits


def schema_noise(schema: Schema) -> float:
    """The per-bit flip probability of the schema's per-record noise (BLIP), 0 without."""
    eps = schema.hardening.blip_epsilon
    return blip_flip_probability(eps) if eps is not None else 0.0


def _group(bits: np.ndarray, dice: float, method: str) -> tuple[np.ndarray, int]:
    """Labels per record and the number of distinct non-empty patterns."""
    if bits.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), 0
    uniq, inverse = _patterns(bits)
    counts = popcount_rows(uniq, 0, uniq.shape[1])
    empty = np.flatnonzero(counts == 0)
    empty_pattern = int(empty[0]) if empty.size else -1
    parent = np.arange(len(uniq), dtype=np.int64)
    live = np.flatnonzero(counts > 0)
    x, c = np.ascontiguousarray(uniq[live]), counts[live]
    sub = np.arange(len(live), dtype=np.int64)
    if method == "all_pairs" or (method == "auto" and len(live) <= ALL_PAIRS_LIMIT):
        all_pairs_join(x, c, sub, dice)
    elif len(live) > 1:
        lsh_join(x, c, sub, dice)
    compress(sub)
    parent[live] = live[sub]
    return _labels(parent, inverse, empty_pattern), len(live)


def near_identical_groups_reference(bits: np.ndarray, *, dice: float = DEFAULT_DICE) -> np.ndarray:
    """The same groups by plain numpy over every pair of rows (small inputs only; SciPy, of
    ``caselink[evaluation]``, finds the components: the encoder itself never needs it)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    bits = np.asarray(bits, dtype=np.uint64)
    counts = np.bitwise_count(bits).sum(axis=1).astype(np.int64)
    inter = np.bitwise_count(bits[:, None, :] & bits[None, :, :]).sum(axis=2)
    total = counts[:, None] + counts[None, :]
    near = dice_array(inter, total) >= dice
    live = counts > 0
    near &= live[:, None] & live[None, :]
    i, j = np.nonzero(near)
    n = len(bits)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    labels = np.full(n, -1, dtype=np.int64)
    _, labels[live] = np.unique(comp[live], return_inverse=True)
    return labels


# -- a batch --------------------------------------------------------------------------------


def _bits_problems(bits: object) -> list[str]:
    if not isinstance(bits, np.ndarray) or bits.ndim != 2 or bits.dtype != np.uint64:
        return ["filters must be a 2-d numpy array of uint64 words (rows, words)"]
    return []


def _param_problems(
    dice: object, min_group: object, method: object, noise: object = 0.0
) -> list[str]:
    problems = []
    if (
        not isinstance(noise, numbers.Real)
        or isinstance(noise, bool)
        or not 0 <= cast(float, noise) < 0.5
    ):
        problems.append("noise must be a flip probability in [0, 0.5)")
    if (
        not isinstance(dice, numbers.Real)
        or isinstance(dice, bool)
        or not 0 < cast(float, dice) <= 1
    ):
        problems.append("dice must be a number in (0, 1]")
    if not isinstance(min_group, numbers.Integral) or isinstance(min_group, bool) or min_group < 2:
        problems.append("min_group must be an integer of 2 or more")
    if method not in METHODS:
        problems.append(f"method must be one of {', '.join(METHODS)}")
    return problems


def _layout(layout: Schema | Sequence[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    if isinstance(layout, Schema):
        return layout.layout
    return tuple((str(name), int(bits)) for name, bits in layout)


def _segment_exposure(
    name: str, bits: np.ndarray, dice: float, min_group: int, method: str, noise: float
) -> SegmentExposure:
    bits = np.ascontiguousarray(bits)
    labels, distinct = _group(_denoised(bits, dice, method, noise), dice, method)
    if noise > 0:
        distinct = len(_patterns(bits[np.bitwise_count(bits).sum(axis=1) > 0])[0])
    n = len(labels)
    sizes = np.bincount(labels[labels >= 0]) if n else np.zeros(0, dtype=np.int64)
    big = sizes >= min_group
    return SegmentExposure(
        segment=name,
        bits=bits.shape[1] * 64,
        records=n,
        empty=int(np.count_nonzero(labels < 0)),
        distinct_patterns=distinct,
        labels=labels,
        min_group=min_group,
        grouped_share=float(sizes[big].sum() / n) if n else 0.0,
        largest_group_share=float(sizes.max() / n) if sizes.size else 0.0,
    )


def batch_exposure(
    filters: np.ndarray,
    layout: Schema | Sequence[tuple[str, int]],
    *,
    dice: float = DEFAULT_DICE,
    min_group: int = DEFAULT_MIN_GROUP,
    method: str = "auto",
    noise: float | None = None,
) -> BatchExposure:
    """Near-identical groups in each segment of ``filters`` and in the whole filter.

    ``layout``: the schema, or its ``(name, bits)`` segments as a batch carries them
    (``batch.metadata.segments``). ``noise``: the per-bit flip probability of per-record
    noise, undone in each segment before grouping (the whole filter is grouped as it is);
    default: the schema's BLIP, 0 for a bare layout. Raises :class:`ExposureError` naming
    every bad input.
    """
    if noise is None:
        noise = schema_noise(layout) if isinstance(layout, Schema) else 0.0
    problems = _bits_problems(filters) + _param_problems(dice, min_group, method, noise)
    segs = _layout(layout)
    if not _bits_problems(filters) and sum(b for _, b in segs) != filters.shape[1] * 64:
        problems.append(
            f"the layout has {sum(b for _, b in segs)} bits; the filters have "
            f"{filters.shape[1] * 64}"
        )
    if any(b <= 0 or b % 64 for _, b in segs):
        problems.append("every segment of the layout needs a positive multiple of 64 bits")
    if problems:
        raise ExposureError(problems)
    out, word = [], 0
    for name, nbits in segs:
        part = filters[:, word : word + nbits // 64]
        out.append(_segment_exposure(name, part, dice, min_group, method, noise))
        word += nbits // 64
    whole = _segment_exposure(WHOLE_FILTER, filters, dice, min_group, method, 0.0)
    return BatchExposure(
        segments=tuple(out), whole=whole, dice=float(dice), min_group=min_group, noise=noise
    )
