"""Similarity-graph matching with partial overlap: the realistic setting of the graph attack.

The adversary holds an agency's encoded batch and a plaintext register from *another source*:
other people's registrations of some of the same people (its own typos, transliterations and
missing fields), plus people the agency never saw. It knows the schema, not the secret. It
encodes its register under its *own* secret, so no bit can be compared across the two sides;
only what each side's similarity graphs say about a record can (:mod:`_attack_graph_sides`).
It must also decide which records to leave unmatched. The attack, in rounds:

1. **Seeds.** Match records to rows by their node features (nearest neighbours both ways in
   feature space, mutual best pairs); the pairs with the largest margin over the runner-up
   are the first anchors.
2. **Rounds.** The anchors align each segment's value groups across the sides (a contingency
   table, :func:`evaluation._attack_graph_score.align`); pairs are scored by the summed
   log-likelihood ratios of their values (their own anchors left out) plus a fading share of
   the feature distance; mutual best pairs by margin give the next, larger anchor set.
   Under BLIP the value groups are those of near-identical patterns.
3. **What to claim.** The attacker adds *decoys* to its side: its own register with the
   columns outside the largest segment (and other than low-cardinality columns) shuffled
   between rows -- people who are in nobody's batch. A record whose best row is a decoy is
   not claimed; decoys won above a margin estimate the false claims above it (target-decoy
   competition), and claims are kept down to an estimated false-discovery rate ``fdr``.

An attacker who already knows some people on both sides (``known``) anchors every round on
them instead of on the feature seeds: hardenings that flatten the node features (balance,
diffusion) stop the seeds, not the value alignment.

Memory stays bounded: top-k graphs against a fixed-size sample, a k-d tree on a few principal
axes, and blocked candidate pairs -- never an n x n matrix. Public API::

    attack = overlap_graph_attack(batch.filters, their_register, schema, own_secret)
    attack.score(truth)            # truth[i]: plaintext row of record i's person, -1 if none
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

import bloom
from evaluation._attack_graph_score import (
    align,
    best_pairs,
    block_pairs,
    feature_pairs,
    score,
)
from evaluation._attack_graph_sides import (
    Side,
    build_side,
    segment_bounds,
    tolerances,
    varying_popcounts,
)
from evaluation._attack_names import filters_fit

__all__ = ["OverlapGraphAttack", "OverlapScore", "decoys", "overlap_graph_attack"]

logger = logging.getLogger(__name__)

_FEATURE_WEIGHT = 4.0  # weight of the feature distance in round 1, halved each round
_GROWTH = 1.6  # the anchor set grows at least by this factor per round
_LOW_CARDINALITY = 5  # columns with this few values stay with the names in a decoy


@dataclass(frozen=True)
class OverlapScore:
    """How the claims of an :class:`OverlapGraphAttack` fare against the truth."""

    records: int  # records of the attacked batch
    rows: int  # rows of the attacker's plaintext
    overlap: float  # share of records whose person is in the plaintext
    claimed: float  # share of records the attacker matched to a row
    precision: float  # share of claims that are right (0 with no claim)
    recall: float  # share of all records matched to their own person's row
    top_precision: float  # precision of the ``top`` most confident claims
    top: float  # the share of claims ``top_precision`` is taken over
    random_precision: float  # a claim to a random row: overlap / rows
    outside_unmatched: float  # share of records without a counterpart left unclaimed
    estimated_precision: float  # what the attacker believes of its claims (1 - its FDR)


@dataclass(frozen=True)
class OverlapGraphAttack:
    """The attacker's claims, most confident first: record ``record[t]`` is row ``row[t]``."""

    record: np.ndarray  # int64 indices into the attacked filters
    row: np.ndarray  # int64 indices into the attacker's plaintext
    confidence: np.ndarray  # float64 margin of the pair over the runner-up of either side
    fdr: np.ndarray  # float64 estimated false-discovery rate down to this claim
    records: int  # records of the attacked batch
    rows: int  # rows of the attacker's plaintext
    anchors: int  # anchor pairs of the last round
    rounds: int

    def score(self, truth: np.ndarray, *, top: float = 0.1) -> OverlapScore:
        """Score against ``truth[i]``: the row of record ``i``'s person, or -1 if none."""
        truth = np.asarray(truth, dtype=np.int64)
        if truth.shape != (self.records,):
            raise ValueError("truth must hold one row index (or -1) per attacked record")
        if not 0 < top <= 1:
            raise ValueError("top must be a share in (0, 1]")
        right = self.row == truth[self.record]
        outside = truth < 0
        claimed = np.zeros(truth.size, dtype=bool)
        claimed[self.record] = True
        if truth.size and truth.max() >= self.rows:
            raise ValueError("truth names a row beyond the attacker's plaintext")
        rows = self.rows
        head = right[: max(1, int(np.ceil(top * right.size)))]
        n = max(truth.size, 1)
        return OverlapScore(
            records=int(truth.size),
            rows=rows,
            overlap=float((~outside).mean()) if truth.size else 0.0,
            claimed=float(claimed.sum() / n),
            precision=float(right.mean()) if right.size else 0.0,
            recall=float(right.sum() / n),
            top_precision=float(head.mean()) if right.size else 0.0,
            top=float(top),
            random_precision=float((~outside).mean() / max(rows, 1)) if truth.size else 0.0,
            outside_unmatched=float((~claimed[outside]).mean()) if outside.any() else 1.0,
            estimated_precision=float(1 - self.fdr[-1]) if self.fdr.size else 1.0,
        )


def decoys(plaintext: pd.DataFrame, schema: bloom.Schema, seed: int) -> pd.DataFrame:
    """The register with its non-name columns moved, together, to other rows.

    The columns of the largest segment's fields stay, and so do columns of at most
    ``_LOW_CARDINALITY`` values (sex, say, which a name predicts); the rest move as one block,
    so each decoy is a plausible person nobody registered. With one segment, the first half
    of the columns stays.
    """
    largest = max(schema.segments, key=lambda s: s.out_bits).name
    columns = list(schema.columns)
    stay = {f.column for f in schema.fields if f.segment == largest}
    if len(schema.segments) == 1:
        stay = set(columns[: max(1, len(columns) // 2)])
    stay |= {c for c in columns if plaintext[c].nunique() <= _LOW_CARDINALITY}
    moved = [c for c in columns if c not in stay]
    out = plaintext[columns].reset_index(drop=True).copy()
    if moved:
        order = np.random.default_rng([seed, 7]).permutation(len(out))
        out[moved] = out[moved].iloc[order].to_numpy()
    return out


def _fdr(decoy: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Target-decoy estimate of the false-discovery rate down to each claim (q-values)."""
    order = np.argsort(-margin, kind="stable")
    d = np.cumsum(decoy[order])
    t = np.cumsum(~decoy[order])
    q = np.minimum.accumulate(np.minimum((d + 1) / np.maximum(t, 1), 1.0)[::-1])[::-1]
    out = np.empty(margin.size)
    out[order] = q
    return out


@dataclass(frozen=True)
class _Round:
    """Mutual best pairs of one round: records, rows (decoys after the register), margins."""

    i: np.ndarray
    j: np.ndarray
    margin: np.ndarray
    decoy: np.ndarray
    fdr: np.ndarray


def _round(a: Side, b: Side, i: np.ndarray, j: np.ndarray, alignment, weight: float) -> _Round:
    pairs = score(a, b, i, j, alignment, weight)
    i, j, margin = best_pairs(pairs, a.size, b.size)
    decoy = b.part[j] == 1
    return _Round(i, j, margin, decoy, _fdr(decoy, margin))


def _anchors(result: _Round, count: int, anchor_fdr: float) -> tuple[np.ndarray, np.ndarray]:
    """The register's pairs with the largest margins: all within ``anchor_fdr``, at least
    ``count``."""
    target = np.flatnonzero(~result.decoy)
    target = target[np.argsort(-result.margin[target], kind="stable")]
    take = max(int((result.fdr[target] <= anchor_fdr).sum()), min(count, target.size))
    chosen = target[:take]
    return result.i[chosen], result.j[chosen]


def _sides(filters, plaintext, schema, secret, graph, seed) -> tuple[Side, Side]:
    """Both sides; ``graph``: the neighbour graph's (neighbours, threshold, sample)."""
    neighbours, threshold, sample = graph
    plain = plaintext[list(schema.columns)].reset_index(drop=True)
    both = pd.concat([plain, decoys(plain, schema, seed)], ignore_index=True)
    own = bloom.encode(both, schema, secret).filters
    pops = varying_popcounts(filters, segment_bounds(schema))
    part = np.repeat([0, 1], len(plain))
    a = build_side(
        filters,
        schema,
        np.zeros(len(filters), np.int64),
        pops,
        tolerances(filters, schema),
        neighbours=neighbours,
        threshold=threshold,
        sample=sample,
    )
    b = build_side(
        own,
        schema,
        part,
        pops,
        tolerances(own, schema),
        neighbours=neighbours,
        threshold=threshold,
        sample=sample,
    )
    return a, b


def _known(known: object, records: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The known pairs as two int64 arrays (empty without any); refused unless one-to-one."""
    if known is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    problem = "known must be two equal-length integer arrays: record indices and plaintext rows"
    try:
        i, j = (np.asarray(x) for x in known)  # type: ignore[union-attr]
    except (TypeError, ValueError) as e:
        raise ValueError(problem) from e
    if i.shape != j.shape or i.ndim != 1 or not (i.dtype.kind == j.dtype.kind == "i"):
        raise ValueError(problem)
    if i.size and (i.min() < 0 or i.max() >= records or j.min() < 0 or j.max() >= rows):
        raise ValueError("known names a record or row beyond the batch or the plaintext")
    if np.unique(i).size != i.size or np.unique(j).size != j.size:
        raise ValueError("known must pair each record and each row at most once")
    return i.astype(np.int64), j.astype(np.int64)


def _with_known(i: np.ndarray, j: np.ndarray, known_i: np.ndarray, known_j: np.ndarray):
    """The anchors with the known pairs in place of any anchor of a known record or row."""
    other = ~np.isin(i, known_i) & ~np.isin(j, known_j)
    return np.concatenate([known_i, i[other]]), np.concatenate([known_j, j[other]])


def _is_int(value: object, low: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def _check(filters, plaintext, schema, ints, shares) -> None:
    problems = []
    if not filters_fit(filters, schema, 3):
        problems.append(f"filters must be an (n, {schema.filter_words}) uint64 array, n >= 3")
    if not isinstance(plaintext, pd.DataFrame) or len(plaintext) < 3:
        problems.append("plaintext must be a DataFrame of 3 rows or more")
    else:
        missing = [c for c in schema.columns if c not in plaintext.columns]
        if missing:
            problems.append(f"plaintext lacks the schema's columns {missing}")
    for param, (value, low) in ints.items():
        if not _is_int(value, low):
            problems.append(f"{param} must be an integer of {low} or more")
    for param, value in shares.items():
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 < value <= 1:
            problems.append(f"{param} must be a number in (0, 1]")
    if problems:
        raise ValueError("bad parameters for overlap_graph_attack: " + "; ".join(problems))


def overlap_graph_attack(
    filters: np.ndarray,
    plaintext: pd.DataFrame,
    schema: bloom.Schema,
    attacker_secret: bloom.Secret,
    *,
    neighbours: int = 10,
    threshold: float = 0.5,
    graph_sample: int = 20_000,
    seeds: int = 250,
    rounds: int = 6,
    fdr: float = 0.1,
    anchor_fdr: float = 0.25,
    candidates: int = 5,
    seed: int = 0,
    known: tuple[np.ndarray, np.ndarray] | None = None,
) -> OverlapGraphAttack:
    """Match records of ``filters`` to rows of ``plaintext``, leaving the doubtful unmatched.

    ``filters``: ``(n, schema.filter_words)`` uint64, the attacked batch. ``plaintext``: the
    attacker's register (any number of rows, the schema's columns), encoded with ``schema``
    under ``attacker_secret``. ``neighbours``/``threshold``: the top-k similarity graph of
    each side (Dice floor), neighbours sought among ``graph_sample`` records of each side.
    ``seeds``: anchors of the first round; ``rounds``: alignment
    rounds. ``fdr``: the estimated false-discovery rate down to which claims are kept;
    ``anchor_fdr``: the same for the anchors of the next round. ``candidates``: nearest
    neighbours in feature space per record and per row. ``seed``: the decoys' shuffle.
    ``known``: record indices and plaintext rows of people the attacker already knows in
    both (a leaked list, its own cases); they anchor every round instead of the feature seeds
    and are not among the claims.
    """
    _check(
        filters,
        plaintext,
        schema,
        {
            "neighbours": (neighbours, 1),
            "graph_sample": (graph_sample, 2),
            "seeds": (seeds, 2),
            "rounds": (rounds, 0),
            "candidates": (candidates, 1),
            "seed": (seed, 0),
        },
        {"threshold": threshold, "fdr": fdr, "anchor_fdr": anchor_fdr},
    )
    known_i, known_j = _known(known, len(filters), len(plaintext))
    graph = (neighbours, threshold, graph_sample)
    a, b = _sides(filters, plaintext, schema, attacker_secret, graph, seed)
    logger.info("graph attack: sides of %s records and %s rows built", a.size, b.size)
    near_i, near_j = feature_pairs(a, b, candidates)
    result = _round(a, b, near_i, near_j, None, 1.0)
    anchor_i, anchor_j = _anchors(result, seeds, 0.0) if known is None else (known_i, known_j)
    for r in range(rounds):
        anchor_i, anchor_j = _with_known(anchor_i, anchor_j, known_i, known_j)
        alignment = align(a, b, anchor_i, anchor_j)
        block_i, block_j = block_pairs(a, b, alignment)
        keys = np.unique(np.concatenate([near_i * b.size + near_j, block_i * b.size + block_j]))
        result = _round(a, b, keys // b.size, keys % b.size, alignment, _FEATURE_WEIGHT / 2**r)
        logger.info(
            "graph attack round %s: %s anchors, %s candidate pairs, %s mutual pairs",
            r + 1,
            anchor_i.size,
            keys.size,
            result.i.size,
        )
        anchor_i, anchor_j = _anchors(result, int(seeds * _GROWTH ** (r + 1)), anchor_fdr)
    fresh = ~np.isin(result.i, known_i) & ~np.isin(result.j, known_j)
    keep = np.flatnonzero(~result.decoy & (result.fdr <= fdr) & fresh)
    keep = keep[np.argsort(-result.margin[keep], kind="stable")]
    return OverlapGraphAttack(
        record=result.i[keep],
        row=result.j[keep],
        confidence=result.margin[keep],
        fdr=result.fdr[keep],
        records=len(filters),
        rows=len(plaintext),
        anchors=int(anchor_i.size),
        rounds=int(rounds),
    )
