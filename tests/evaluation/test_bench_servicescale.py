"""The service-scale bench on a small register: uploads and a run through a real service, its
process tree's memory sampled, the cases read back and scored."""

from __future__ import annotations

import os

import pytest

from evaluation._bench_servicescale import bench_service_scale, tree_rss_bytes


def test_a_register_links_through_the_service_and_reports_what_it_took():
    out = bench_service_scale(2000, "common", seed=1, run_cpus=1)
    assert sum(out["records"]) > 2000 and out["run_seconds"] > 0
    assert 0.05 < out["service_tree_peak_rss_gib"] < 8  # the service, its Ray, the run task
    assert out["run_stats"]["pairs_scored"] > 0
    assert out["f1"] > 0.8


def test_the_tree_holds_at_least_the_process_itself():
    here = tree_rss_bytes(os.getpid())
    assert here > 10 * 2**20
    assert tree_rss_bytes(os.getppid()) >= here  # the parent's tree includes this process


def test_an_unknown_mix_is_refused():
    with pytest.raises(ValueError, match="mix"):
        bench_service_scale(100, "famous")
