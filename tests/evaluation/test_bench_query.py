"""`caselink bench --only query_latency` at a tiny size: a sealed registry written straight
into the database, a real server that opens it, and queries answered with the right case.
Its speed is not checked here, and its services join the test process's Ray
(``services_join_ray``)."""

from evaluation._bench_query import bench_query_latency


def test_the_query_bench_answers_over_http_from_a_sealed_registry(services_join_ray):
    r = bench_query_latency(2000, 20)
    assert r["registered_records"] == 2000 and r["cases"] == 1000
    assert r["requests"] == 25  # 20 registered people and 5 nobody holds
    assert set(r["http_ms"]) == {"p50", "p95", "p99", "max", "mean"}
    assert r["top1_right_share_registered"] >= 0.9
    assert r["index_search"]["calibration"]["pseudo_queries"] > 0
