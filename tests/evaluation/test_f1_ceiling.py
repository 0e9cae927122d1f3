"""The F1 ceiling of a register: the run's own figure is the bench's, and the labelled
figures are computed on the run's candidates."""

from __future__ import annotations

import linkage
from evaluation._bench_linkscale import case_scores, scale_register
from evaluation._f1_ceiling import f1_ceiling


def test_the_run_beside_the_model_and_the_rule_given_the_truth():
    got = f1_ceiling(3000, "common")
    data, batches = scale_register(3000, "common")
    bench = case_scores(linkage.plan_link(batches).assignments, data.truth)
    assert got["run"]["f1"] == round(bench.f1, 4)  # scored as the scale bench scores a run
    assert 0.9 < got["true_pairs_in_candidates"] <= 1.0
    for name in ("run", "labelled_model", "pattern_rule"):
        assert 0.5 < got[name]["f1"] <= 1.0, name
    # the rule counts its shares on the pairs it scores: it is never below the labelled model
    # by more than a rounding of clustering, and on a small register well above the run
    assert got["pattern_rule"]["f1"] >= got["run"]["f1"]
    assert got["comparison_patterns"] <= got["pairs_scored"]
