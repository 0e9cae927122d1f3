"""The scale benchmark's machinery on a small register: `caselink link` run as a child
process, its peak memory and time taken from outside, F1 and recall against exhaustive."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from evaluation._bench_linkscale import _child, scale_run


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


def test_a_childs_peak_memory_is_its_own_not_the_bench_process_it_was_forked_from(tmp_path):
    """The kernel counts a child's memory from before its exec, the bench process's: after a
    large run, a small link reported the bench's 2.8 GiB as its peak."""
    held = np.ones(400 * 2**20 // 8)  # this process: 400 MiB more, every page touched
    child = "import numpy as np; a = np.ones(40 * 2**20 // 8); print(a.sum())"
    seconds, peak, code = _child([sys.executable, "-c", child], tmp_path / "child.err")
    assert code == 0 and seconds > 0
    assert 0.04 < peak < 0.3  # about 40 MiB and the interpreter, not 400 MiB
    assert held.sum() > 0
    assert _child(["/bin/sh", "-c", "exit 3"], tmp_path / "fails.err")[2] == 3
    # without GNU time: the kernel's figure, which counts this process's size at the fork
    seconds, peak, code = _child([sys.executable, "-c", child], tmp_path / "bare.err", timer=None)
    assert code == 0 and peak >= 0.4
    assert _child(["/bin/sh", "-c", "exit 3"], tmp_path / "bare.err", timer=None)[2] == 3


def test_the_command_prints_one_run_and_refuses_bad_arguments_by_name():
    """``python -m evaluation._bench_linkscale PEOPLE [MIX]`` (the README's A/B command)
    prints one run's figures with the load it started under; bad arguments exit 2 with
    usage, before any work."""
    ran = subprocess.run(
        [sys.executable, "-m", "evaluation._bench_linkscale", "1500", "rare"],
        capture_output=True,
        text=True,
        check=True,
    )
    run = json.loads(ran.stdout)
    assert (run["people"], run["mix"]) == (1500, "rare") and run["f1"] > 0.8
    assert len(run["load_at_start"]) == 3
    for bad in (["many"], ["1500", "famous"], []):
        refused = subprocess.run(
            [sys.executable, "-m", "evaluation._bench_linkscale", *bad],
            capture_output=True,
            text=True,
        )
        assert refused.returncode == 2 and refused.stdout == ""
        assert "PEOPLE" in refused.stderr or "MIX" in refused.stderr
