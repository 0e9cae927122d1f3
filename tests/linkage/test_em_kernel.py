"""The mixture EM's compiled loops against numpy written as the fit wrote it before them: the
same log-likelihoods (less their row's largest) and the same weighted counts, labelled
patterns held to their label, missing segments left out."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage._em_kernel import add_weights, class_log_likelihoods

SHAPES = {  # a fit's sizes: distinct patterns, segments, classes, levels
    "seed": st.integers(0, 2**32 - 1),
    "patterns": st.integers(0, 300),
    "segments": st.integers(1, 6),
    "classes": st.integers(1, 6),
    "levels": st.integers(1, 9),
}


def _case(seed: int, patterns: int, segments: int, classes: int, levels: int):
    rng = np.random.default_rng(seed)
    lv = rng.integers(-1, levels, (patterns, segments)).astype(np.int64)  # -1: missing
    tables = rng.random((classes, segments, levels)) + 1e-3
    tables /= tables.sum(axis=2, keepdims=True)
    shares = rng.random(classes) + 1e-3
    return rng, lv, tables, shares / shares.sum()


@settings(max_examples=40, deadline=None)
@given(**SHAPES)
def test_class_log_likelihoods_are_numpys(seed, patterns, segments, classes, levels):
    _, lv, tables, shares = _case(seed, patterns, segments, classes, levels)
    got = np.full((patterns, classes), np.nan)
    class_log_likelihoods(lv, np.log(tables), np.log(shares), got)
    segs = np.arange(segments)
    want = np.stack(
        [
            np.log(shares[c])
            + np.where(lv >= 0, np.log(tables[c][segs, np.maximum(lv, 0)]), 0.0).sum(axis=1)
            for c in range(classes)
        ],
        axis=1,
    )
    np.testing.assert_array_equal(got, want - want.max(axis=1, keepdims=True))


@settings(max_examples=40, deadline=None)
@given(**SHAPES, shared_part=st.floats(0.0, 1.0))
def test_add_weights_shares_each_count_and_counts_each_present_segment_once(
    seed, patterns, segments, classes, levels, shared_part
):
    rng, lv, _, _ = _case(seed, patterns, segments, classes, levels)
    resp = rng.random((patterns, classes)) + 1e-3
    counts = rng.integers(1, 1000, patterns).astype(np.float64)
    held = rng.integers(-1, 2, patterns) if classes > 1 else np.full(patterns, -1)
    start = rng.random((classes, segments, levels))
    shared = int(shared_part * patterns)
    got, shares = start.copy(), np.zeros(classes)
    add_weights(lv, resp.copy(), counts, held, got, shares, shared)
    want_resp = resp.copy()
    want_resp[held == 1] = np.eye(1, classes)[0]  # a labelled match: the match class alone
    want_resp[held == 0, 0] = 0.0  # a labelled non-match: the non-match classes only
    weight = want_resp / want_resp.sum(axis=1, keepdims=True) * counts[:, None]
    want = start.copy()
    for c in range(classes):
        for s in range(segments):
            ok = lv[:, s] >= 0
            np.add.at(want[c, s], lv[ok, s], weight[ok, c])  # in pattern order, as the kernel
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(shares, weight[:shared].sum(axis=0), rtol=1e-13)
