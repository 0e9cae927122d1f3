"""Attribute inference: what the service learns about sex, birth date, place and father's name
by grouping records, without the secret.

The figure (issue 12): for a field, the share of records whose value is known that sit in a
group of at least ``min_group`` (5) records where at least ``purity`` (90%) of the members whose
value is known share the record's own value. Whoever holds such a group learns nothing of the
value's name, but learns that these records share it; with one public fact about one member
(a birth year, say) it learns it for all. Values are taken from the register as the ``person``
schema normalises them (sex and place as text, the year of birth, the unordered day and month
of birth -- missing for a year-only date -- and the father's name).

Two attackers, both knowing the schema (its segment layout and hardening):

* :func:`attribute_exposure` holds a batch's filters. Groups are those of
  :func:`bloom.batch_exposure`: near-identical bits (Dice ≥ 0.9) in one segment, or in the whole
  filter, chained (single linkage); per-record noise (BLIP) is undone first by majority votes.
* :func:`similarity_exposure` holds only what a linkage run computes for the pairs it scores:
  the per-segment Dice of each candidate pair (``linkage.plan_link``'s pairs, scored as its
  field-aware comparison scores them) and of the random pairs its baseline draws (20,000 per
  pair of agencies). Groups are the connected components of the pairs whose Dice in the
  segment is at least 0.9 -- identical values give 1.0. :func:`service_similarities` builds
  those pairs from encoded batches.

Each result is an :class:`AttributeExposure`: per segment (and the whole filter) and field, the
share; per field, the largest over the segments and which segment it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import bloom
from bloom._exposure import DEFAULT_DICE, DEFAULT_MIN_GROUP, WHOLE_FILTER, batch_exposure
from bloom._schema import Field
from bloom._tokens import parse_value

__all__ = [
    "ATTRIBUTE_FIELDS",
    "AttributeExposure",
    "PairSimilarities",
    "attribute_exposure",
    "attribute_truth",
    "exposed_share",
    "service_similarities",
    "similarity_exposure",
]

ATTRIBUTE_FIELDS = ("sex", "birth_year", "birth_day", "place_of_birth", "father_name")
DEFAULT_PURITY = 0.9
RANDOM_PAIRS = 20_000  # per pair of agencies, as linkage's baseline draws them


@dataclass(frozen=True, eq=False)
class AttributeExposure:
    """Exposure of each field in each segment (rows of ``shares``) and in the whole filter."""

    fields: tuple[str, ...]
    segments: tuple[str, ...]  # the schema's segments, then WHOLE_FILTER
    shares: np.ndarray  # (len(segments), len(fields)) float64
    source: str  # "filters" or "similarities"
    dice: float
    min_group: int
    purity: float

    def _column(self, field: str) -> np.ndarray:
        if field not in self.fields:
            raise KeyError(f"no exposure was measured for field '{field}'")
        return self.shares[:, self.fields.index(field)]

    def share(self, field: str) -> float:
        """The largest exposure of ``field`` over the schema's segments."""
        return float(self._column(field)[:-1].max(initial=0.0))

    def segment(self, field: str) -> str:
        """The segment where ``field`` is most exposed."""
        return self.segments[int(np.argmax(self._column(field)[:-1]))]

    def whole_filter(self, field: str) -> float:
        """The exposure of ``field`` when records are grouped on their whole filters."""
        return float(self._column(field)[-1])

    def table(self) -> pd.DataFrame:
        """Segments as rows (the whole filter last), fields as columns."""
        return pd.DataFrame(self.shares, index=list(self.segments), columns=list(self.fields))

    def columns(self, prefix: str = "attr") -> dict[str, float]:
        """``{prefix}_{field}``: the largest exposure over segments and the whole filter."""
        return {f"{prefix}_{f}": float(self._column(f).max(initial=0.0)) for f in self.fields}


@dataclass(frozen=True, eq=False)
class PairSimilarities:
    """Pairs of records (positions in the batches taken in order) and their Dice per segment."""

    i: np.ndarray  # int64
    j: np.ndarray  # int64
    similarities: np.ndarray  # (pairs, len(segments)) float64, NaN where a side is empty
    whole: np.ndarray  # (pairs,) Dice of the whole filters
    segments: tuple[str, ...]
    records: int


# -- the truth ------------------------------------------------------------------------------


def _parsed(values: pd.Series, field: Field) -> list:
    """Each value as ``field`` parses it, each distinct value parsed once; None if missing."""
    raw = values.to_numpy(dtype=object)
    known = ~pd.isna(raw)
    table = {v: parse_value(str(v), field)[0] for v in pd.unique(raw[known])}
    return [table[v] if k else None for v, k in zip(raw, known, strict=True)]


def attribute_truth(
    register: pd.DataFrame, schema: bloom.Schema | None = None
) -> dict[str, np.ndarray]:
    """Each of :data:`ATTRIBUTE_FIELDS` per record, as ``schema`` normalises it (default
    ``person-v1``, which encodes every one of them); ``None`` where missing. Dates give the
    year, and the (month, day) pair."""
    schema = schema or bloom.Schema.load("person-v1")
    out = {}
    for name in ATTRIBUTE_FIELDS:
        field = schema.field(name)
        parsed = _parsed(pd.Series(register[field.column], dtype=object), field)
        if name == "birth_year":
            parsed = [None if p is None else p[0] for p in parsed]
        elif name == "birth_day":
            parsed = [None if p is None or p[2] is None else (p[1], p[2]) for p in parsed]
        column = np.empty(len(parsed), dtype=object)
        column[:] = parsed
        out[name] = column
    return out


# -- the figure -----------------------------------------------------------------------------


def exposed_share(
    labels: np.ndarray,
    values: np.ndarray,
    *,
    min_group: int = DEFAULT_MIN_GROUP,
    purity: float = DEFAULT_PURITY,
) -> float:
    """Share of records with a known value in a group of >= ``min_group`` (all members
    counted) where >= ``purity`` of the members with a known value share theirs.

    ``labels``: group per record, -1 for none; ``values``: one per record, ``None`` unknown.
    """
    codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    known = codes >= 0
    if not known.any():
        return 0.0
    grouped = labels >= 0
    size = np.bincount(labels[grouped])
    keep = grouped & known
    keep[grouped] &= size[labels[grouped]] >= min_group
    lab, code = labels[keep], codes[keep]
    if lab.size == 0:
        return 0.0
    key = lab * (int(codes.max()) + 1) + code
    pairs, counts = np.unique(key, return_counts=True)
    pair_label = pairs // (int(codes.max()) + 1)
    known_in = np.bincount(lab, minlength=len(size))
    dominant = np.zeros(len(size), dtype=np.int64)
    np.maximum.at(dominant, pair_label, counts)
    pure = dominant >= purity * known_in - 1e-9
    return float(dominant[pure & (known_in > 0)].sum() / np.count_nonzero(known))


def _check_truth(truth: Mapping[str, np.ndarray], records: int) -> dict[str, np.ndarray]:
    problems = [
        f"truth['{f}'] has {len(v)} values for {records} records"
        for f, v in truth.items()
        if len(v) != records
    ]
    if not truth:
        problems.append("truth must map at least one field to its values")
    if problems:
        raise ValueError("bad truth: " + "; ".join(problems))
    return {f: np.asarray(v, dtype=object) for f, v in truth.items()}


def _exposure(
    labels: Sequence[np.ndarray],
    names: tuple[str, ...],
    truth: dict[str, np.ndarray],
    source: str,
    dice: float,
    min_group: int,
    purity: float,
) -> AttributeExposure:
    fields = tuple(truth)
    shares = np.array(
        [
            [exposed_share(lab, truth[f], min_group=min_group, purity=purity) for f in fields]
            for lab in labels
        ]
    )
    return AttributeExposure(fields, names, shares, source, dice, min_group, purity)


def attribute_exposure(
    filters: np.ndarray,
    schema: bloom.Schema,
    truth: Mapping[str, np.ndarray],
    *,
    dice: float = DEFAULT_DICE,
    min_group: int = DEFAULT_MIN_GROUP,
    purity: float = DEFAULT_PURITY,
) -> AttributeExposure:
    """Exposure of each field of ``truth`` to whoever holds ``filters`` (one row per record,
    in the order of ``truth``'s values) and knows ``schema``."""
    values = _check_truth(truth, len(filters))
    e = batch_exposure(filters, schema, dice=dice, min_group=min_group)
    labels = [s.labels for s in e.segments] + [e.whole.labels]
    names = (*(s.segment for s in e.segments), WHOLE_FILTER)
    return _exposure(labels, names, values, "filters", dice, min_group, purity)


# -- from the similarities of scored pairs --------------------------------------------------


def _segment_dice(filters: np.ndarray, layout, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    from linkage import segment_dice

    bounds, lo = [], 0
    for _, bits in layout:
        bounds.append((lo, lo + bits // 64))
        lo += bits // 64
    return segment_dice(filters, filters, i, j, np.array(bounds, dtype=np.int64))


def _random_pairs(
    offsets: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    parts_i, parts_j = [], []
    for x in range(len(offsets) - 1):
        for y in range(x + 1, len(offsets) - 1):
            parts_i.append(rng.integers(offsets[x], offsets[x + 1], count))
            parts_j.append(rng.integers(offsets[y], offsets[y + 1], count))
    if not parts_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(parts_i), np.concatenate(parts_j)


def service_similarities(
    batches: Sequence[bloom.EncodedBatch], *, random_pairs: int = RANDOM_PAIRS, seed: int = 0
) -> PairSimilarities:
    """The pairs a linkage run of ``batches`` scores, with their per-segment Dice.

    Candidate pairs come from ``linkage.plan_link`` itself; ``random_pairs`` random pairs per
    pair of agencies stand for the ones its baseline draws. Records are numbered through the
    batches in order (the first batch's records first).
    """
    from linkage import dice_pairs, plan_link

    report = plan_link(batches, keep_pairs=True, seed=seed)
    assert report.pairs is not None
    sizes = [len(b) for b in batches]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    where = pd.DataFrame(
        {
            "agency": np.repeat([b.metadata.agency for b in batches], sizes),
            "record_ref": np.concatenate([b.record_refs for b in batches]),
            "row": np.arange(offsets[-1], dtype=np.int64),
        }
    ).set_index(["agency", "record_ref"])["row"]
    pairs = report.pairs
    ci = where.loc[list(zip(pairs["agency_a"], pairs["record_ref_a"], strict=True))].to_numpy()
    cj = where.loc[list(zip(pairs["agency_b"], pairs["record_ref_b"], strict=True))].to_numpy()
    ri, rj = _random_pairs(offsets, random_pairs, np.random.default_rng(seed))
    i, j = np.concatenate([ci, ri]).astype(np.int64), np.concatenate([cj, rj]).astype(np.int64)
    filters = np.ascontiguousarray(np.vstack([b.filters for b in batches]))
    layout = batches[0].metadata.segments
    return PairSimilarities(
        i=i,
        j=j,
        similarities=_segment_dice(filters, layout, i, j),
        whole=dice_pairs(filters, filters, i, j),
        segments=tuple(name for name, _ in layout),
        records=int(offsets[-1]),
    )


def _components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def similarity_exposure(
    pairs: PairSimilarities,
    truth: Mapping[str, np.ndarray],
    *,
    dice: float = DEFAULT_DICE,
    min_group: int = DEFAULT_MIN_GROUP,
    purity: float = DEFAULT_PURITY,
) -> AttributeExposure:
    """Exposure of each field of ``truth`` (one value per record of ``pairs``) to whoever
    holds only the pairs and their similarities: groups are the connected components of the
    pairs at Dice >= ``dice`` in a segment (or in the whole filter)."""
    values = _check_truth(truth, pairs.records)
    with np.errstate(invalid="ignore"):
        edges = [pairs.similarities[:, s] >= dice for s in range(len(pairs.segments))]
    edges.append(pairs.whole >= dice)
    labels = [_components(pairs.records, pairs.i[e], pairs.j[e]) for e in edges]
    names = (*pairs.segments, WHOLE_FILTER)
    return _exposure(labels, names, values, "similarities", dice, min_group, purity)
