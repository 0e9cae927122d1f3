"""The start-up bench section: each kind is a fresh process whose CPU is counted, and its list
of heavy packages is what that process loaded (a run's task: the linkage stack and the
database layer, not the web service nor the migrations tool)."""

from __future__ import annotations

import pytest

from evaluation._bench_startup import HEAVY, PROBES, bench_startup, packages, probe_once


def test_a_runs_task_is_measured_with_what_it_loads():
    figures = bench_startup(repeats=1, kinds=("run_task",))
    task = figures["kinds"]["run_task"]
    assert figures["repeats"] == 1 and list(figures["kinds"]) == ["run_task"]
    assert task["cpu_s"] == task["cpu_s_runs"][0] > 0
    assert {"numba", "numpy", "pandas", "sqlalchemy"} <= set(task["heavy"])
    assert not {"alembic", "fastapi", "uvicorn", "jinja2"} & set(task["heavy"])
    assert set(task["heavy"]) <= set(HEAVY)


def test_the_bare_interpreter_loads_nothing_heavy_and_a_failing_probe_says_so():
    cpu, loaded = probe_once(PROBES["bare_interpreter"])
    assert cpu > 0 and not set(HEAVY) & packages(loaded)
    with pytest.raises(RuntimeError, match="startup probe failed"):
        probe_once("raise SystemExit(3)\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [({"repeats": 0}, "repeats must be at least 1"), ({"kinds": ("nope",)}, "unknown kind")],
)
def test_bad_arguments_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        bench_startup(**args)
