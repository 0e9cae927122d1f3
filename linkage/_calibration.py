"""From match weights to calibrated probabilities, without labels.

A pair's Fellegi–Sunter weight says how much likelier its comparison is among matches than
among non-matches; whether it *is* the match also depends on the other candidates of the two
records. For each record ``x`` and the candidates ``z`` it has in one other agency, the model is:

* with probability ``lam`` (fitted by EM per agency pair and side), ``x`` has its match among
  its candidates, equally likely any of them a priori;
* the comparison of the match follows ``m``, every other one ``u``, so the data favour
  "``y`` is the match" over "no match here" by the likelihood ratio ``LR_y = 2 ** w_y``.

Hence ``P_x(y) = (lam/k) LR_y / ((1 - lam) + (lam/k) sum_z LR_z)`` with ``k`` candidates. A
pair is a link only if it is right from both ends, and the smaller of ``P_x(y)`` and ``P_y(x)``
is reported. A record with two strong candidates gets two modest probabilities; a record whose
only plausible candidate is ``y`` gets a high one even where the pair-level weight is modest.
"""

from __future__ import annotations

from typing import cast

import numpy as np

__all__ = ["pair_probabilities", "probabilities_at", "side_probabilities"]

_LN2 = np.log(2.0)


def _row_sums(rows: np.ndarray, lr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair its row's index; per row its candidates ``k`` and ``log sum LR``."""
    _, inv = np.unique(rows, return_inverse=True)
    k = np.bincount(inv).astype(np.float64)
    lse = np.full(k.size, -np.inf)
    np.logaddexp.at(lse, inv, lr)  # log sum of LR over each row's candidates
    return inv, k, lse


def _posterior(
    lr: np.ndarray, inv: np.ndarray, k: np.ndarray, lse: np.ndarray, lam: float
) -> np.ndarray:
    denom = np.logaddexp(np.log1p(-lam), np.log(lam) - np.log(k) + lse)
    return cast(np.ndarray, np.exp(np.log(lam) - np.log(k[inv]) + lr - denom[inv]))


def probabilities_at(rows: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """P(pair is its row's match) under the model above with a given ``lam`` (a tracing query,
    whose ``lam`` cannot be fitted from the query itself)."""
    if rows.size == 0:
        return np.zeros(0)
    lr = weights * _LN2
    return _posterior(lr, *_row_sums(rows, lr), lam)


def side_probabilities(
    rows: np.ndarray, weights: np.ndarray, *, iterations: int = 100
) -> tuple[np.ndarray, float]:
    """P(pair is its row's match) for every pair, and the fitted share ``lam`` of rows matched."""
    if rows.size == 0:
        return np.zeros(0), 0.0
    lr = weights * _LN2  # natural-log likelihood ratios
    inv, k, lse = _row_sums(rows, lr)
    lam = 0.5
    for _ in range(iterations):
        has = np.log(lam) - np.log(k) + lse
        share = float(np.exp(has - np.logaddexp(np.log1p(-lam), has)).mean())
        new = float(np.clip(share, 1e-6, 1 - 1e-6))
        if abs(new - lam) < 1e-9:
            lam = new
            break
        lam = new
    return _posterior(lr, inv, k, lse, lam), lam


def pair_probabilities(
    g1: np.ndarray, g2: np.ndarray, weights: np.ndarray, *, several_matches: bool = False
) -> tuple[np.ndarray, float, float]:
    """Calibrated match probability of each pair, seen from both records; and both ``lam``.

    ``several_matches``: a record may have more than one match on the other side (registers
    with duplicates); the candidates of one record then do not exclude each other, and the
    larger of the two one-sided probabilities is kept.
    """
    p1, lam1 = side_probabilities(g1, weights)
    p2, lam2 = side_probabilities(g2, weights)
    return (np.maximum(p1, p2) if several_matches else np.minimum(p1, p2)), lam1, lam2
