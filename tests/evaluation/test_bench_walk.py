"""The top-k walk bench: one bucket scored whole, every pair visited once."""

from __future__ import annotations

from evaluation._bench_walk import bench_topk_walk


def test_every_pair_of_the_one_bucket_is_visited_and_timed():
    out = bench_topk_walk(40, repeats=2)
    assert out["pairs_visited"] == 40 * 40
    assert out["walk_seconds_median"] > 0 and out["ns_per_pair"] > 0
