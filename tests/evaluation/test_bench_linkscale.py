"""The scale benchmark's machinery on a small register: `caselink link` run as a child
process, its peak memory and time taken from outside, F1 and recall against exhaustive."""

from __future__ import annotations

import pytest

from evaluation._bench_linkscale import scale_run


@pytest.mark.parametrize("mix", ["rare", "common"])
def test_a_scale_run_links_through_the_command_and_reports_what_it_took(mix):
    run = scale_run(3000, mix, sample_rows=300, seed=1)
    assert run["mix"] == mix and sum(run["records"]) > 3000
    assert run["link_seconds"] > 0 and 0.05 < run["link_peak_rss_gib"] < 8
    assert 0.3 <= run["candidate_floor"] <= 0.95 and run["links_accepted"] > 0
    assert run["f1"] > 0.8
    # below the exhaustive limit the run's search is the exhaustive one: identical
    assert run["recall_of_exhaustive_pairs"] == run["same_best_candidate"] == 1.0
    assert run["true_pairs_in_run"] == run["true_pairs_in_exhaustive"] > 0.9
    # ...and so are the links, though the run was another process (`caselink link`)
    assert run["links_of_exhaustive_made_by_run"] == run["links_of_run_made_by_exhaustive"] == 1.0
    assert run["exhaustive_pipeline_threshold"] == pytest.approx(run["threshold"], abs=1e-4)


def test_an_unknown_mix_is_refused():
    with pytest.raises(ValueError, match="mix"):
        scale_run(1000, "famous")
