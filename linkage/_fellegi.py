"""Fellegi–Sunter scoring with weights learned by EM, without labels.

Each candidate pair is described by its per-segment Dice, cut into levels; a segment missing on
either side is simply left out of the pair's evidence. EM fits the share of matches among the
candidates (``lambda``) and, per segment and level, the probability of that level among matches
(``m``) and among non-matches (``u``), on the distinct comparison patterns weighted by their
counts. The match weight of a pair is ``log2(lambda m / ((1 - lambda) u))`` summed over its
segments; its posterior probability follows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LEVEL_EDGES", "FSModel", "comparison_levels", "fit_fellegi_sunter", "level_shares"]

# Dice cut points shared by every segment; EM decides what each level is worth, so the same
# cut points serve denser and sparser segments alike.
LEVEL_EDGES = np.array([0.4, 0.55, 0.65, 0.75, 0.85, 0.92, 0.97])
_EPS = 1e-6


def comparison_levels(dice: np.ndarray) -> np.ndarray:
    """Level per (pair, segment): 0 (lowest) .. len(LEVEL_EDGES); -1 where Dice is NaN."""
    levels = np.searchsorted(LEVEL_EDGES, np.nan_to_num(dice, nan=0.0), side="right")
    return np.where(np.isnan(dice), -1, levels).astype(np.int8)


@dataclass(frozen=True)
class FSModel:
    """A fitted Fellegi–Sunter model: prior share of matches, m and u per segment level."""

    prior: float
    m: np.ndarray  # (segments, levels)
    u: np.ndarray  # (segments, levels)
    iterations: int

    @property
    def level_weights(self) -> np.ndarray:
        return np.log2(self.m / self.u)

    def weights(self, levels: np.ndarray) -> np.ndarray:
        """Match weight (log2 Bayes factor, prior excluded) of each pair."""
        lw = self.level_weights
        segs = np.arange(levels.shape[1])
        contrib = np.where(levels >= 0, lw[segs, np.maximum(levels, 0)], 0.0)
        return contrib.sum(axis=1)

    def probability(self, levels: np.ndarray) -> np.ndarray:
        logit2 = self.weights(levels) + np.log2(self.prior / (1 - self.prior))
        return 1.0 / (1.0 + np.exp2(-np.clip(logit2, -60, 60)))


def _e_step(patterns: np.ndarray, prior: float, m: np.ndarray, u: np.ndarray) -> np.ndarray:
    segs = np.arange(patterns.shape[1])
    ok = patterns >= 0
    idx = np.maximum(patterns, 0)
    lm = np.where(ok, np.log(m[segs, idx]), 0.0).sum(axis=1) + np.log(prior)
    lu = np.where(ok, np.log(u[segs, idx]), 0.0).sum(axis=1) + np.log(1 - prior)
    return 1.0 / (1.0 + np.exp(np.clip(lu - lm, -700, 700)))


def _m_step(patterns, counts, post, m0, u0) -> tuple[float, np.ndarray, np.ndarray]:
    """Maximum a posteriori update: the pseudo-counts ``m0`` and ``u0`` act as Dirichlet priors."""
    wm, wu = counts * post, counts * (1 - post)
    prior = float(np.clip(wm.sum() / counts.sum(), _EPS, 1 - _EPS))
    segs = patterns.shape[1]
    m = m0 + _EPS
    u = u0 + _EPS
    for s in range(segs):
        ok = patterns[:, s] >= 0
        np.add.at(m[s], patterns[ok, s], wm[ok])
        np.add.at(u[s], patterns[ok, s], wu[ok])
    return prior, m / m.sum(axis=1, keepdims=True), u / u.sum(axis=1, keepdims=True)


def _monotone(m: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool adjacent levels until log(m/u) never falls as Dice rises (per segment).

    Higher similarity must never count as weaker evidence of a match; levels with few pairs
    otherwise get erratic weights. Pooling keeps each block's m and u mass and splits it over
    the block's levels in proportion to its u, so the block shares one weight.
    """
    m, u = m.copy(), u.copy()
    for s in range(m.shape[0]):
        blocks: list[list[int]] = []
        for lvl in range(m.shape[1]):
            blocks.append([lvl])
            while len(blocks) > 1:
                prev, last = blocks[-2], blocks[-1]
                if m[s, prev].sum() / u[s, prev].sum() <= m[s, last].sum() / u[s, last].sum():
                    break
                blocks[-2:] = [prev + last]
        for block in blocks:
            mass_m, mass_u = m[s, block].sum(), u[s, block].sum()
            m[s, block] = mass_m * u[s, block] / mass_u
    return m, u


def level_shares(levels: np.ndarray) -> np.ndarray:
    """Per segment, the share of each level among non-missing values (smoothed)."""
    n_levels = len(LEVEL_EDGES) + 1
    out = np.ones((levels.shape[1], n_levels))
    for s in range(levels.shape[1]):
        ok = levels[:, s] >= 0
        out[s] += np.bincount(levels[ok, s], minlength=n_levels)
    return out / out.sum(axis=1, keepdims=True)


def fit_fellegi_sunter(
    levels: np.ndarray,
    *,
    u_random: np.ndarray | None = None,
    prior_pairs: float = 200.0,
    max_iter: int = 500,
    tol: float = 1e-7,
) -> FSModel:
    """EM over the distinct rows of ``levels`` (pairs × segments); deterministic.

    ``u_random`` (segments × levels), the level shares among random pairs — almost all
    non-matches — anchors ``u`` with the weight of ``prior_pairs`` pairs, so a candidate set
    made (almost) only of matches, or only of non-matches, cannot swap the two classes.
    """
    n_levels = len(LEVEL_EDGES) + 1
    segs = levels.shape[1]
    patterns, counts = np.unique(levels, axis=0, return_counts=True)
    counts = counts.astype(np.float64)
    ramp = np.linspace(0.0, 1.0, n_levels)
    m0 = np.tile(np.exp(4 * ramp) / np.exp(4 * ramp).sum(), (segs, 1))
    u0 = u_random if u_random is not None else np.tile(m0[0][::-1], (segs, 1))
    m, u = m0.copy(), u0.copy()
    m_prior, u_prior = m0 * 2.0, u0 * prior_pairs
    prior, it = 0.1, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        post = _e_step(patterns, prior, m, u)
        new_prior, m, u = _m_step(patterns, counts, post, m_prior, u_prior)
        m, u = _monotone(m, u)
        if abs(new_prior - prior) < tol:
            prior = new_prior
            break
        prior = new_prior
    return FSModel(prior=prior, m=m, u=u, iterations=it)
