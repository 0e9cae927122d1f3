"""Reviewed pairs as labelled rows of a run's EM: :func:`review_labels`.

Clerical review's agreed decisions are the registry's constraints (:mod:`linkage._constraints`):
a must-link pair is one person (label 1), a cannot-link pair two people (label 0), both
records already in the registry. A run clusters under them, and its EM learns from them too:
beside the run's candidate pairs (each holding a new record) it fits the reviewed pairs as
labelled rows (:func:`linkage._em_labels.fit_with_labels`), which count in ``m`` and ``u``
and never in the share of matches, for they are not a sample of the candidates but the
uncertain pairs of earlier runs. They are fitted, never scored: no reviewed pair becomes a
link of the run, the constraints keep them in or out of one case.

Their comparison levels are the candidates' (:meth:`linkage._pool.Pool.levels`: each
segment's Dice of the two filters the registry holds, cut into levels). A candidate pair's
crowd (how many candidates its two records have in this run: :func:`linkage._features.
crowd_levels`) has no meaning for two records no search compared, so it is missing (-1)
there, as a segment missing on either side, and the pair's evidence is its segments alone.

A pair goes with the agency pair of its two records' agencies; one whose agency pair the run
does not fit (no new record in either agency), or whose records are not both in the run, is
left out.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

from linkage._constrained import _positions as positions
from linkage._constraints import Constraints
from linkage._pool import Pool

__all__ = ["Labelled", "review_labels"]

_Key: TypeAlias = tuple[int, int]
Labelled: TypeAlias = dict[_Key, tuple[np.ndarray, np.ndarray]]  # (levels, labels) per key


def review_labels(
    pool: Pool, constraints: Constraints | None, keys: list[_Key], several: bool
) -> Labelled:
    """Per agency pair of ``keys`` with any, the comparison levels of its reviewed pairs and
    their labels (1 must-link, 0 cannot-link), in the columns of the run's candidate levels:
    with a crowd column (-1) unless ``several`` (records per person per agency)."""
    if constraints is None or not len(constraints):
        return {}
    ids = np.concatenate([constraints.must, constraints.cannot])
    label = np.r_[np.ones(len(constraints.must)), np.zeros(len(constraints.cannot))]
    a, b = positions(pool.rec_ids, ids[:, 0]), positions(pool.rec_ids, ids[:, 1])
    held = (a >= 0) & (b >= 0)
    a, b, label = a[held], b[held], label[held].astype(np.int64)
    ca, cb = pool.agency_codes[a], pool.agency_codes[b]
    lo, hi = np.minimum(ca, cb), np.maximum(ca, cb)
    out: Labelled = {}
    for key in keys:
        mine = (lo == key[0]) & (hi == key[1])
        if not mine.any():
            continue
        levels = pool.levels(a[mine], b[mine])
        if not several:
            levels = np.concatenate([levels, np.full((len(levels), 1), -1, np.int8)], axis=1)
        out[key] = levels, label[mine]
    return out
