"""The figures of :mod:`evaluation._review_learning`: pairwise scores over the pairs that
hold a record of the second run, counted as a brute force over every pair counts them."""

from __future__ import annotations

from itertools import combinations

import numpy as np

from evaluation._review_learning import _new_pair_scores


def test_pairs_with_a_new_record_are_counted_as_every_pair_is():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 40))
        case, entity = rng.integers(0, 8, n), rng.integers(0, 8, n)
        new = rng.random(n) < 0.3
        touched = [(i, j) for i, j in combinations(range(n), 2) if new[i] or new[j]]
        tp = sum(case[i] == case[j] and entity[i] == entity[j] for i, j in touched)
        pp = sum(case[i] == case[j] for i, j in touched)
        tt = sum(entity[i] == entity[j] for i, j in touched)
        got = _new_pair_scores(case, entity, new)
        assert got["precision_new"] == (tp / pp if pp else 1.0)
        assert got["recall_new"] == (tp / tt if tt else 1.0)
