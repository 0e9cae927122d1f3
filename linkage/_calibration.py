"""From match weights to calibrated probabilities, without labels.

A pair's Fellegi–Sunter weight ``w`` says how much likelier its comparison (its segments and
its crowd: ``_features``) is among matches than among non-matches, the likelihood ratio
``LR = 2 ** w``; whether the pair *is* a match also depends on the other candidates of its
two records.

**One record's view.** For a record ``x`` and its ``k`` candidates in one other agency: with
probability ``lam`` (fitted by EM per agency pair and side, :func:`side_probabilities`) ``x``
has its match among them, equally likely any of them a priori, so
``P_x(y) = (lam/k) LR_y / ((1 - lam) + (lam/k) sum_z LR_z)``. A tracing query has only this
view (:func:`probabilities_at`, at the index's ``lam``).

**Linking, one record per person per agency.** The matches between two agencies are a
one-to-one matching of their records. With ``P(matching)`` proportional to the product over its
pairs of ``W_xy = rho_xy LR_xy`` (a monomer-dimer model on the graph of candidate pairs), each
pair's probability is a marginal, found by belief propagation: ``h_xy``, the chance that ``x``
is left free by its candidates other than ``y``, is ``1 / (1 + sum_{z != y} W_xz h_zx)``, and
``P(x~y) = W_xy h_xy h_yx / (1 + W_xy h_xy h_yx)`` (:func:`matching_probabilities`). Exact
where the candidates form a tree; iterated to a fixed point elsewhere. A competitor takes a
share by its strength, and one that its own match claims is no competitor. The prior odds
``rho_xy = lam / (1 - lam) / (k_x k_y) ** CROWD_SPREAD``: a lone pair gets the one-record
view's probability, and a pair in a crowd has its prior spread over part of it.
``CROWD_SPREAD`` lies between 0 (no spreading: two unmatched namesakes in a crowd of matched
ones are taken for one person; precision fell from 0.97 to 0.91 on a register of namesakes) and
0.5 (each end's one-record prior: as underconfident as before), at 0.25, the value that did
best over every dataset of ``python -m evaluation._calibration_check``, not one.

Before, the smaller of the two ends' one-record views was reported: a true pair among weak
candidates had its prior divided by their number, and again on the other side, and the
crowd was not evidence. On 5,000 synthetic people the pairs reported at 0.2-0.3 were right
77% of the time.

**Duplicates allowed.** A record may have several matches on the other side, so its
candidates do not exclude one another: each pair gets its Fellegi–Sunter posterior, with the
share of matches among the agency pair's candidate pairs (fitted by EM with the weights) as
prior.
"""

from __future__ import annotations

import logging
from typing import cast

import numpy as np

from bloom._jit import njit

__all__ = [
    "matching_probabilities",
    "pair_probabilities",
    "probabilities_at",
    "side_probabilities",
]

logger = logging.getLogger(__name__)

# a pair's prior odds are spread over its crowd (the product of its two records' numbers of
# candidates) to this power (module docstring)
CROWD_SPREAD = 0.25

_LN2 = np.log(2.0)
# belief propagation: at most SWEEPS rounds, until no log message moves by TOLERANCE
SWEEPS = 200
TOLERANCE = 1e-6


def _dense(ids: np.ndarray) -> np.ndarray:
    """Record ids (any integers) as 0..n-1, one per pair."""
    return cast(np.ndarray, np.unique(ids, return_inverse=True)[1].ravel())


def _rows(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs grouped by record (``dense``: 0..n-1): their positions, record by record in
    their order, and where each record's run of positions starts (n + 1 offsets)."""
    order = np.argsort(dense, kind="stable")
    starts = np.zeros(int(dense.max()) + 2, np.int64)
    np.cumsum(np.bincount(dense), out=starts[1:])
    return order, starts


def _row_sums(rows: tuple[np.ndarray, np.ndarray], lr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record (pairs grouped by :func:`_rows`) its candidates ``k`` and ``log sum LR``."""
    order, starts = rows
    k = np.diff(starts).astype(np.float64)
    return k, np.logaddexp.reduceat(lr[order], starts[:-1])


def _posterior(
    lr: np.ndarray, inv: np.ndarray, k: np.ndarray, lse: np.ndarray, lam: float
) -> np.ndarray:
    denom = np.logaddexp(np.log1p(-lam), np.log(lam) - np.log(k) + lse)
    return cast(np.ndarray, np.exp(np.log(lam) - np.log(k[inv]) + lr - denom[inv]))


def _matched_share(k: np.ndarray, lse: np.ndarray, iterations: int = 100) -> float:
    """The share ``lam`` of records whose match is among their candidates, fitted by EM from
    each record's ``k`` and ``log sum LR``."""
    lam = 0.5
    for _ in range(iterations):
        has = np.log(lam) - np.log(k) + lse
        share = float(np.exp(has - np.logaddexp(np.log1p(-lam), has)).mean())
        new = float(np.clip(share, 1e-6, 1 - 1e-6))
        if abs(new - lam) < 1e-9:
            return new
        lam = new
    return lam


def probabilities_at(rows: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """P(pair is its row's match) under the model above with a given ``lam`` (a tracing query,
    whose ``lam`` cannot be fitted from the query itself)."""
    if rows.size == 0:
        return np.zeros(0)
    lr = weights * _LN2
    inv = _dense(rows)
    return _posterior(lr, inv, *_row_sums(_rows(inv), lr), lam)


def side_probabilities(
    rows: np.ndarray, weights: np.ndarray, *, iterations: int = 100
) -> tuple[np.ndarray, float]:
    """P(pair is its row's match) for every pair, and the fitted share ``lam`` of rows matched."""
    if rows.size == 0:
        return np.zeros(0), 0.0
    lr = weights * _LN2  # natural-log likelihood ratios
    inv = _dense(rows)
    k, lse = _row_sums(_rows(inv), lr)
    lam = _matched_share(k, lse, iterations)
    return _posterior(lr, inv, k, lse, lam), lam


def matching_probabilities(
    g1: np.ndarray,
    g2: np.ndarray,
    weights: np.ndarray,
    log_prior_odds: float | np.ndarray,
    *,
    iterations: int = SWEEPS,
    tolerance: float = TOLERANCE,
) -> np.ndarray:
    """P(pair is a match) when each record has at most one match on the other side: the
    marginals of the one-to-one matching model (module docstring), by belief propagation.

    ``g1``, ``g2``: the two records of each candidate pair (ids of the two sides, any
    integers); ``log_prior_odds``: ``log rho``. Both sides' messages are updated in turn,
    undamped, until no log message moves by more than ``tolerance``. A record's messages are
    computed again only when a message it receives has moved by more than ``tolerance *``
    :data:`QUIET` since: on a 1,000,000-people common-name register (6.0 million candidate
    pairs, one connected graph) the messages took 186 rounds to settle, while after 20 only
    2,486 pairs still moved by more than 1e-6 -- each round costs what still moves.
    """
    if g1.size == 0:
        return np.zeros(0)
    x, y = _dense(g1), _dense(g2)
    return _matching((x, _rows(x)), (y, _rows(y)), weights, log_prior_odds, iterations, tolerance)


def _matching(
    first: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]],
    second: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]],
    weights: np.ndarray,
    log_prior_odds: float | np.ndarray,
    iterations: int,
    tolerance: float,
) -> np.ndarray:
    """:func:`matching_probabilities` on each side's dense record ids and their grouping
    (:func:`_dense`, :func:`_rows`)."""
    (x, by_x), (y, by_y) = first, second
    log_w = np.clip(log_prior_odds + weights * _LN2, -700.0, 700.0)
    to_x = np.zeros(x.size)  # log h_yx: y left free by its other candidates, per pair
    to_y = np.zeros(x.size)  # log h_xy
    sweeps, moved = _propagate(by_x, by_y, x, y, log_w, (to_x, to_y), iterations, tolerance)
    if moved >= tolerance:
        logger.info("matching probabilities: %d sweeps did not settle (%.2g)", sweeps, moved)
    return cast(np.ndarray, 1.0 / (1.0 + np.exp(-np.clip(log_w + to_x + to_y, -700.0, 700.0))))


# a record's messages are recomputed once a message it receives moved by tolerance * QUIET
QUIET = 1e-2


@njit(nogil=True)
def _side(
    rows: tuple[np.ndarray, np.ndarray],
    dirty: np.ndarray,
    log_w: np.ndarray,
    carried: np.ndarray,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
    quiet: float,
) -> float:  # pragma: no cover - compiled
    """Messages from one side's records whose inputs moved (``dirty``), in place: per pair,
    ``log 1 / (1 + sum of its record's other claims)``, a claim being ``exp(log_w +
    carried)``; the chance that the record is left free by its other candidates. A message
    moving by more than ``quiet`` marks the other side's record it goes to (``out``: the
    messages, the other end of each pair, the other side's dirty flags). Returns the largest
    move."""
    order, starts = rows
    sent, ends, woken = out
    widest = 0  # a loop, not np.diff(starts).max(): np.diff compiles for ~3 s (bloom._jit)
    for r in range(starts.size - 1):
        widest = max(widest, starts[r + 1] - starts[r])
    claims = np.empty(widest)  # the claims of one record's pairs
    moved = 0.0
    for r in range(starts.size - 1):
        if not dirty[r]:
            continue
        dirty[r] = False
        lo, hi = starts[r], starts[r + 1]
        total = 0.0
        for t in range(lo, hi):
            claims[t - lo] = np.exp(log_w[order[t]] + carried[order[t]])
            total += claims[t - lo]
        for t in range(lo, hi):
            i = order[t]
            new = -np.log1p(max(total - claims[t - lo], 0.0))
            step = abs(new - sent[i])
            if step > quiet:
                woken[ends[i]] = True
            moved = max(moved, step)
            sent[i] = new
    return moved


@njit(nogil=True)
def _propagate(
    by_x: tuple[np.ndarray, np.ndarray],
    by_y: tuple[np.ndarray, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    log_w: np.ndarray,
    messages: tuple[np.ndarray, np.ndarray],
    iterations: int,
    tolerance: float,
) -> tuple[int, float]:  # pragma: no cover - compiled
    """Belief propagation in place on ``messages`` (``to_x``, ``to_y``): each round the first
    side's records send (from ``to_x`` into ``to_y``), then the second's (from the new
    ``to_y`` into ``to_x``), only records whose inputs moved (:func:`_side`). Returns the
    rounds made and the largest move of the last."""
    to_x, to_y = messages
    dirty_x = np.ones(by_x[1].size - 1, np.bool_)
    dirty_y = np.ones(by_y[1].size - 1, np.bool_)
    quiet = tolerance * QUIET
    moved, sweeps = np.inf, 0
    while sweeps < iterations:
        sweeps += 1
        moved = _side(by_x, dirty_x, log_w, to_x, (to_y, y, dirty_y), quiet)
        moved = max(moved, _side(by_y, dirty_y, log_w, to_y, (to_x, x, dirty_x), quiet))
        if moved < tolerance:
            break
    return sweeps, moved


def pair_probabilities(
    g1: np.ndarray,
    g2: np.ndarray,
    weights: np.ndarray,
    *,
    several_matches: bool = False,
    pair_prior: float = 0.5,
) -> tuple[np.ndarray, float, float]:
    """Calibrated match probability of each candidate pair of two agencies, and the share
    ``lam`` of each side's records whose match is among their candidates.

    One-to-one (default): :func:`matching_probabilities` at the prior odds of the module
    docstring, the two sides' ``lam`` averaged on the log-odds scale. ``several_matches``: a
    record may have more than one match on the other side (registers with duplicates); each
    pair then gets its Fellegi–Sunter posterior at ``pair_prior``, the share of matches among
    the candidate pairs of the model that weighed them.
    """
    if g1.size == 0:
        return np.zeros(0), 0.0, 0.0
    lr = weights * _LN2
    sides = []  # per side: dense ids, their grouping, each record's candidates, lam
    for ids in (g1, g2):
        dense = _dense(ids)
        rows = _rows(dense)
        k, lse = _row_sums(rows, lr)
        sides.append((dense, rows, k, _matched_share(k, lse)))
    (x, by_x, k1, lam1), (y, by_y, k2, lam2) = sides
    if several_matches:
        logit = np.log(pair_prior) - np.log1p(-pair_prior) + lr
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -700.0, 700.0))), lam1, lam2
    odds = (np.log(lam1) - np.log1p(-lam1) + np.log(lam2) - np.log1p(-lam2)) / 2
    crowd = np.log(k1[x]) + np.log(k2[y])
    p = _matching((x, by_x), (y, by_y), weights, odds - CROWD_SPREAD * crowd, SWEEPS, TOLERANCE)
    return p, lam1, lam2
