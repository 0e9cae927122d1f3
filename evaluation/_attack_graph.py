"""Similarity-graph matching attack on encoded batches, after Vidanage et al. (CIKM 2020).

The adversary holds an agency's encoded batch and a plaintext list of people, knows the
schema but not the secret. It encodes the plaintext itself -- same schema, its *own* secret,
so no filter can be compared with the agency's bit for bit -- and builds one similarity
graph per side (Dice between filters, per schema segment and over the whole filter). Records
are then matched across the graphs by what the graphs say about them, never by their bits:

1. **Node features** per segment: the ``neighbours`` highest similarities of the node, the
   mean and spread of all its similarities; over the whole filter, the degree above several
   high quantiles of that side's similarities and the mean degree of those neighbours.
2. **Match** the standardised feature vectors (each side standardised on its own) by a
   minimum-cost assignment (Hungarian).
3. **Anchor rounds**: the most confident matches (largest gap to the runner-up) become
   anchors; a node's similarities to the anchors, compared by correlation, give a new
   assignment; each round doubles the anchors.

The attacker keeps whichever assignment makes the two graphs agree best (the correlation of
matched edge weights), a yardstick it can compute without the truth.

This is the attack's strongest, unrealistic setting: the plaintext is the same people, all of
them, and every record is matched; it needs n x n matrices. The realistic setting -- another
source's register covering about half of the people, records left unmatched when in doubt,
hundreds of thousands of records in bounded memory -- is
:func:`evaluation._attack_graph_overlap.overlap_graph_attack`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

import bloom
from evaluation._attack_names import filters_fit

__all__ = ["GraphAttack", "graph_attack"]

_QUANTILES = (0.99, 0.995, 0.999, 0.9995)


@dataclass(frozen=True)
class GraphAttack:
    """Per encoded record, the plaintext row it was matched to, and how."""

    match: np.ndarray  # int64, one plaintext row index per encoded record
    stage: str  # "features" or "anchors": the assignment kept
    agreement: float  # correlation of matched edge similarities, for the kept assignment

    def rate(self, truth: np.ndarray) -> float:
        """Share of encoded records matched to their own plaintext row ``truth[i]``."""
        return float(np.mean(self.match == np.asarray(truth)))


def _dice(bits: np.ndarray) -> np.ndarray:
    """All-pairs Dice of the rows of a 0/1 float32 matrix; the diagonal is NaN."""
    inter = bits @ bits.T
    count = bits.sum(axis=1)
    total = count[:, None] + count[None, :]
    out = np.divide(2 * inter, total, out=np.zeros_like(inter), where=total > 0)
    np.fill_diagonal(out, np.nan)
    return out


def _graphs(filters: np.ndarray, schema: bloom.Schema) -> list[np.ndarray]:
    """Dice matrices per segment, then over the whole filter (last)."""
    bits = np.unpackbits(
        np.ascontiguousarray(filters).view(np.uint8), axis=1, bitorder="little"
    ).astype(np.float32)
    graphs = [_dice(bits[:, s.out_offset : s.out_offset + s.out_bits]) for s in schema.segments]
    return [*graphs, _dice(bits)]


def _features(graphs: list[np.ndarray], neighbours: int) -> np.ndarray:
    """Per node: for each graph its top ``neighbours`` similarities (sorted), their mean and
    spread; in the whole-filter graph, the degree and mean neighbour degree above several
    high quantiles of that side's similarities."""
    cols = []
    k = min(neighbours, graphs[-1].shape[0] - 1)
    for sim in graphs:
        filled = np.nan_to_num(sim, nan=-1.0)
        top = -np.partition(-filled, k - 1, axis=1)[:, :k]
        cols += [
            -np.sort(-top, axis=1),
            np.nanmean(sim, axis=1)[:, None],
            np.nanstd(sim, axis=1)[:, None],
        ]
    whole = np.nan_to_num(graphs[-1], nan=0.0)
    for q in np.quantile(graphs[-1][~np.isnan(graphs[-1])], _QUANTILES):
        adjacent = whole > q
        degree = adjacent.sum(axis=1).astype(np.float64)
        cols += [degree[:, None], ((adjacent @ degree) / np.maximum(degree, 1))[:, None]]
    return np.hstack(cols)


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)


def _assign(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment, and per row the gap between its runner-up and its pick."""
    rows, cols = linear_sum_assignment(cost)
    match = cols[np.argsort(rows)]
    picked = cost[np.arange(len(match)), match]
    runner_up = np.partition(cost, 1, axis=1)[:, :2]
    other = np.where(np.isclose(runner_up[:, 0], picked), runner_up[:, 1], runner_up[:, 0])
    return match, other - picked


def _agreement(a: np.ndarray, b: np.ndarray, match: np.ndarray) -> float:
    """Correlation of the similarity of (i, j) and of their matches, over all pairs i < j."""
    iu = np.triu_indices(len(match), 1)
    x, y = a[iu], b[match[iu[0]], match[iu[1]]]
    return float(np.corrcoef(x, y)[0, 1]) if x.size > 1 and x.std() and y.std() else 0.0


def _check(filters, plaintext, schema, neighbours, anchors, rounds) -> None:
    problems = []
    if not filters_fit(filters, schema, 3):
        problems.append(f"filters must be an (n, {schema.filter_words}) uint64 array, n >= 3")
    elif not isinstance(plaintext, pd.DataFrame) or len(plaintext) != len(filters):
        problems.append("plaintext must be a DataFrame with one row per encoded record")
    else:
        missing = [c for c in schema.columns if c not in plaintext.columns]
        if missing:
            problems.append(f"plaintext lacks the schema's columns {missing}")
    for param, value, low in (
        ("neighbours", neighbours, 1),
        ("anchors", anchors, 2),
        ("rounds", rounds, 0),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            problems.append(f"{param} must be an integer of {low} or more")
    if problems:
        raise ValueError("bad parameters for graph_attack: " + "; ".join(problems))


def graph_attack(
    filters: np.ndarray,
    plaintext: pd.DataFrame,
    schema: bloom.Schema,
    attacker_secret: bloom.Secret,
    *,
    neighbours: int = 10,
    anchors: int = 100,
    rounds: int = 3,
) -> GraphAttack:
    """Match each encoded record to a row of ``plaintext`` through similarity graphs.

    ``filters``: ``(n, schema.filter_words)`` uint64, the agency's batch. ``plaintext``: ``n``
    rows with the schema's columns, which the attacker encodes with ``schema`` and its own
    ``attacker_secret``. ``neighbours``: top similarities per node and segment used as
    features. ``anchors``: anchors of the first anchor round (doubling each round);
    ``rounds``: anchor rounds (0: the feature assignment only).
    """
    _check(filters, plaintext, schema, neighbours, anchors, rounds)
    own = bloom.encode(plaintext.reset_index(drop=True), schema, attacker_secret).filters
    ga, gb = _graphs(filters, schema), _graphs(own, schema)
    fa, fb = _features(ga, neighbours), _features(gb, neighbours)
    match, gap = _assign(cdist(_standardise(fa), _standardise(fb)))
    best = GraphAttack(match, "features", _agreement(ga[-1], gb[-1], match))
    a, b = np.nan_to_num(ga[-1], nan=1.0), np.nan_to_num(gb[-1], nan=1.0)
    count = min(anchors, len(match))
    for _ in range(rounds):
        chosen = np.argsort(-gap, kind="stable")[:count]
        cost = cdist(a[:, chosen], b[:, match[chosen]], "correlation")
        match, gap = _assign(np.nan_to_num(cost, nan=2.0))
        score = _agreement(ga[-1], gb[-1], match)
        if score > best.agreement:
            best = GraphAttack(match, "anchors", score)
        count = min(2 * count, len(match))
    return best
