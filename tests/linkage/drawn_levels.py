"""Comparison levels drawn from known level shares, for the EM tests that need a truth to
compare a fit with (:mod:`tests.linkage.test_em_labels`,
:mod:`tests.linkage.test_review_labels`)."""

from __future__ import annotations

import numpy as np

SEGMENTS, LEVELS = 5, 8
RAMP = np.arange(LEVELS)


def shares(slope: float) -> np.ndarray:
    """Level shares per segment rising (``slope`` > 0) or falling with the level."""
    w = np.exp(slope * RAMP)
    return np.tile(w / w.sum(), (SEGMENTS, 1))


def draw(rng: np.random.Generator, n: int, probs: np.ndarray) -> np.ndarray:
    """``n`` pairs' levels, each segment drawn from its row of ``probs``."""
    cols = [rng.choice(LEVELS, size=n, p=probs[s]) for s in range(SEGMENTS)]
    return np.stack(cols, axis=1).astype(np.int8)
