"""Pairs completeness, reduction ratio and the method choice (the public surface is checked
in tests/test_exports.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocking import blocking_report, choose_method
from blocking._report import EXHAUSTIVE_LIMIT


def test_report_counts() -> None:
    candidates = (np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 3, 3]))  # (2, 3) twice
    true = (np.array([0, 1, 3]), np.array([0, 1, 2]))
    report = blocking_report(candidates, true, 4, 5)
    assert report == {
        "n_a": 4,
        "n_b": 5,
        "candidates": 4,
        "true_pairs": 3,
        "true_pairs_found": 2,
        "pairs_completeness": pytest.approx(2 / 3),
        "pairs_quality": pytest.approx(2 / 4),
        "reduction_ratio": pytest.approx(1 - 4 / 20),
    }


def test_report_without_true_pairs_or_candidates() -> None:
    none = (np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    report = blocking_report(none, none, 2, 2)
    assert report["pairs_completeness"] is None and report["pairs_quality"] is None
    assert report["reduction_ratio"] == 1.0


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_report_matches_set_arithmetic(data) -> None:
    n_a, n_b = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8))
    pair = st.tuples(st.integers(0, n_a - 1), st.integers(0, n_b - 1))
    cand = data.draw(st.lists(pair, max_size=30))
    true = data.draw(st.lists(pair, max_size=30))

    def arrays(pairs):
        return (
            np.array([p[0] for p in pairs], dtype=np.int64),
            np.array([p[1] for p in pairs], dtype=np.int64),
        )

    report = blocking_report(arrays(cand), arrays(true), n_a, n_b)
    assert report["candidates"] == len(set(cand))
    assert report["true_pairs_found"] == len(set(cand) & set(true))
    assert report["reduction_ratio"] == pytest.approx(1 - len(set(cand)) / (n_a * n_b))
    if true:
        assert report["pairs_completeness"] == pytest.approx(
            len(set(cand) & set(true)) / len(set(true))
        )


def test_choose_method_by_size() -> None:
    assert choose_method(40_000, 50_000) == "exhaustive"  # exactly the limit: 2e9
    assert EXHAUSTIVE_LIMIT == 2_000_000_000
    assert choose_method(40_000, 50_001) == "lsh"
    assert choose_method(1_000_000, 1_000_000) == "lsh"
    assert choose_method(0, 10) == "exhaustive"


def test_choose_method_overrides() -> None:
    assert choose_method(10, 10, method="lsh") == "lsh"
    assert choose_method(10**7, 10**7, method="exhaustive") == "exhaustive"
    assert choose_method(10**5, 10**5, exhaustive_limit=10**11) == "exhaustive"
