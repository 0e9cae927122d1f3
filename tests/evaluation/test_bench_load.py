"""`caselink bench --only load` at a tiny size: every figure is there and the queries were
answered, alone and while a batch was uploaded and linked. Its speed is not checked here, and
its service joins the test process's Ray (``services_join_ray``)."""

import functools
import json
import sys
import types

from evaluation import _bench
from evaluation._bench_load import bench_load


def test_the_load_section_reports_both_phases_with_answered_queries(
    tmp_path, monkeypatch, services_join_ray
):
    module = types.ModuleType("caselink_tiny_load")
    module.figures = functools.partial(
        bench_load, n=500, clients=2, seconds=2.0, batch=100, n_queries=8, work_dir=tmp_path
    )
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(_bench.SECTIONS, "load", (module.__name__, "figures"))
    out = tmp_path / "results.json"
    _bench.run_benchmarks(out, ["load"])
    load = json.loads(out.read_text())["load"]
    assert load["clients"] == load["keys"] == load["tracing_agencies"] == 2
    assert load["registered_records"] == 500
    assert load["machine"]["cpus"] >= 1 and load["cores"] >= 1
    assert load["rate_limit"]["per_minute"] == 60 and load["rate_limit"]["choice"]
    assert [r["agency"] for r in load["registration"]["runs"]] == ["agency-a", "agency-b"]
    for name in ("queries_alone", "during_upload_and_run"):
        phase = load[name]
        assert phase["requests"] == sum(phase["by_status"].values()) > 0
        assert phase["answered"] == phase["by_status"]["200"] > 0
        assert phase["errors_other_than_429"] == 0
        assert set(phase["latency_ms"]) == {"p50", "p95", "p99", "max", "mean"}
        assert len(phase["load_average_before"]) == len(phase["load_average_after"]) == 3
        assert phase["service_cpu_seconds"] is None or phase["service_cpu_seconds"] >= 0
    during = load["during_upload_and_run"]
    assert during["run"]["status"] == "succeeded"
    assert during["run"]["stats"]["new_records"] == during["upload"]["records"] > 0
    assert during["run"]["seconds"] > 0 and during["latency_ms_by_stage"]
    assert set(load["goals"]) == {"errors_other_than_429", "p99_ms_while_running", "met"}
    assert load["database"] == "sqlite"
    assert (tmp_path / "data-keys").is_file()  # the service's data key stays in the work dir


def test_the_postgresql_load_section_runs_on_a_database_of_its_own_and_drops_it(
    postgres_engine, services_join_ray
):
    import sqlalchemy as sa

    from evaluation._bench_load import bench_load_postgresql

    load = bench_load_postgresql(n=500, clients=2, seconds=2.0, batch=100, n_queries=8)
    assert load["database"] == "postgresql"
    during = load["during_upload_and_run"]
    assert during["run"]["status"] == "succeeded" and during["errors_other_than_429"] == 0
    assert load["queries_alone"]["answered"] > 0
    with postgres_engine.connect() as c:
        left = c.execute(
            sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"),
            {"name": load["scratch_database"]},
        ).scalar()
    # its own database, by name: another suite on the same server may hold one of its own
    assert load["scratch_database"].startswith("caselink_bench_load_") and left == 0
