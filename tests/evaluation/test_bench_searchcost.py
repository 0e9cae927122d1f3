"""The search-cost bench on a small common-name register: the exhaustive kernel and the LSH walk
on the same records, and one band's visits in the register's order and with namesakes put
together (the same best scores either way: no bucket is capped at this size)."""

from __future__ import annotations

from evaluation._bench_searchcost import bench_search_cost


def test_the_search_cost_bench_compares_the_kernel_the_walk_and_the_row_orders():
    out = bench_search_cost(6000, query_rows=400, bands=2, seed=1)
    n_a = out["records"][0]
    exhaustive, lsh, band = out["exhaustive"], out["lsh"], out["band"]
    assert exhaustive["query_rows"] == lsh["query_rows"] == 400
    assert exhaustive["pairs_per_second"] > 0
    # the whole of A at the measured rate: the share of its rows the query was, scaled up
    expected = exhaustive["seconds"] * n_a / 400
    assert abs(exhaustive["all_rows_seconds"] - expected) <= 0.01 * expected + 1
    assert 0.9 <= lsh["exhaustive_best10_found"] <= 1.0
    assert band["words"] == [0, 7] and band["bands_walked"] == 2
    assert band["visits"] > 0 and band["ns_per_visit"] > 0
    # the same pairs are met whatever order the rows are in
    assert band["grouped_visits"] == band["visits"]
    assert band["grouped_same_best_scores"] is True
