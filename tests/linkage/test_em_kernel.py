"""The mixture EM's compiled loops against numpy written as the fit wrote it before them: the
same log-likelihoods and the same weighted counts, to the last bit, missing segments left
out."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage._em_kernel import add_weights, class_log_likelihoods


def _case(seed: int, patterns: int, segments: int, classes: int, levels: int):
    rng = np.random.default_rng(seed)
    lv = rng.integers(-1, levels, (patterns, segments)).astype(np.int64)  # -1: missing
    tables = rng.random((classes, segments, levels)) + 1e-3
    tables /= tables.sum(axis=2, keepdims=True)
    shares = rng.random(classes) + 1e-3
    return rng, lv, tables, shares / shares.sum()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    patterns=st.integers(0, 300),
    segments=st.integers(1, 6),
    classes=st.integers(1, 6),
    levels=st.integers(1, 9),
)
def test_class_log_likelihoods_are_numpys(seed, patterns, segments, classes, levels):
    _, lv, tables, shares = _case(seed, patterns, segments, classes, levels)
    got = np.full((patterns, classes), np.nan)
    class_log_likelihoods(lv, np.log(tables), np.log(shares), got)
    segs = np.arange(segments)
    for c in range(classes):
        logs = np.log(tables[c][segs, np.maximum(lv, 0)])
        want = np.log(shares[c]) + np.where(lv >= 0, logs, 0.0).sum(axis=1)
        np.testing.assert_allclose(got[:, c], want, rtol=1e-14, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    patterns=st.integers(0, 300),
    segments=st.integers(1, 6),
    classes=st.integers(1, 6),
    levels=st.integers(1, 9),
    shared_part=st.floats(0.0, 1.0),
)
def test_add_weights_counts_each_present_segment_once_per_class(
    seed, patterns, segments, classes, levels, shared_part
):
    rng, lv, _, _ = _case(seed, patterns, segments, classes, levels)
    weight = rng.random((patterns, classes)) * rng.integers(1, 1000, (patterns, 1))
    start = rng.random((classes, segments, levels))
    shared = int(shared_part * patterns)
    got, shares = start.copy(), np.zeros(classes)
    add_weights(lv, weight, got, shares, shared)
    want = start.copy()
    for c in range(classes):
        for s in range(segments):
            ok = lv[:, s] >= 0
            np.add.at(want[c, s], lv[ok, s], weight[ok, c])  # in pattern order, as the kernel
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(shares, weight[:shared].sum(axis=0), rtol=1e-13)
