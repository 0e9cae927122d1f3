"""The search-cost bench on a small common-name register: the exhaustive kernel and the LSH walk
on the same records, and one band's visits in the register's order and with namesakes put
together (the same best scores either way: no bucket is capped at this size)."""

from __future__ import annotations

from evaluation._bench_searchcost import bench_search_cost


def test_the_search_cost_bench_compares_the_kernel_the_walk_and_the_row_orders():
    out = bench_search_cost(6000, query_rows=400, bands=2, repeats=2, seed=1)
    n_a = out["records"][0]
    exhaustive, lsh, band = out["exhaustive"], out["lsh"], out["band"]
    assert exhaustive["query_rows"] == lsh["query_rows"] == 400
    assert exhaustive["pairs_per_second"] > 0
    # the whole of A at the measured rate: the share of its rows the query was, scaled up
    expected = exhaustive["seconds"] * n_a / 400
    assert abs(exhaustive["all_rows_seconds"] - expected) <= 0.01 * expected + 1
    assert 0.9 <= lsh["exhaustive_best10_found"] <= 1.0
    assert band["words"] == [0, 7] and band["bands_walked"] == 2 and band["repeats"] == 2
    assert band["visits"] > 0 and band["ns_per_visit"] > 0
    # the same pairs are met whatever order the rows are in
    assert band["grouped_visits"] == band["visits"]
    assert band["grouped_same_best_scores"] is True


def test_namesakes_are_put_side_by_side():
    """Rows whose name segment is identical end up next to each other in the grouped order."""
    import numpy as np

    from blocking import _topk_kernels as kern
    from blocking import plan_segments
    from evaluation._bench_linkscale import scale_register
    from evaluation._bench_searchcost import _grouped
    from linkage import SEGMENT_THRESHOLD, segment_words

    _, (a_batch, b_batch) = scale_register(3000, "common", seed=2)
    a = a_batch.filters
    segments = [(int(lo), int(hi)) for lo, hi in segment_words(a_batch.metadata)]
    names = plan_segments(a, b_batch.filters, segments, SEGMENT_THRESHOLD)[0]
    order = _grouped(a, names)
    assert sorted(order.tolist()) == list(range(len(a)))
    digests = kern.segment_digests(np.ascontiguousarray(a[order, names.word_lo : names.word_hi]))
    runs = 1 + np.count_nonzero(digests[1:] != digests[:-1])
    assert runs == len(np.unique(digests)) < len(a)  # each name one run; namesakes exist
