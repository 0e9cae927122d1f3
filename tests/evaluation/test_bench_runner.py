"""`caselink bench` bookkeeping: sections merge into one file with their machine; bad names fail."""

import json
import sys
import types
from pathlib import Path

import pytest

from evaluation import _bench


@pytest.fixture()
def tiny_section(monkeypatch):
    module = types.ModuleType("caselink_tiny_bench")
    module.figures = lambda: {"answer": 42}
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(_bench.SECTIONS, "tiny", (module.__name__, "figures"))


def test_sections_are_merged_into_the_results_file(tmp_path, tiny_section):
    out = tmp_path / "bench" / "results.json"
    out.parent.mkdir()
    out.write_text(json.dumps({"earlier": {"kept": True}}))
    seen = []
    _bench.run_benchmarks(out, ["tiny"], on_section=seen.append)
    results = json.loads(out.read_text())
    assert seen == ["tiny"]
    assert results["earlier"] == {"kept": True}  # other sections survive a partial run
    assert results["tiny"]["answer"] == 42
    assert results["tiny"]["machine"]["cpus"] >= 1 and "measured_at" in results["tiny"]
    knob = Path("/proc/sys/kernel/sched_autogroup_enabled")
    expected = knob.read_text().strip() == "1" if knob.exists() else None
    assert results["tiny"]["machine"]["autogroup_scheduling"] is expected


def test_unknown_sections_are_named(tmp_path):
    with pytest.raises(ValueError, match="nope"):
        _bench.run_benchmarks(tmp_path / "r.json", ["nope"])
    assert not (tmp_path / "r.json").exists()


def test_a_section_written_meanwhile_survives_a_long_section(tmp_path, monkeypatch):
    """The file is read again when a section ends: what was written to it while the section
    ran (another bench, a merge) is kept."""
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"before": 1}))

    def slow_section():
        out.write_text(json.dumps({"before": 1, "meanwhile": 2}))  # as another writer would
        return {"answer": 42}

    module = types.ModuleType("caselink_slow_bench")
    module.figures = slow_section
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(_bench.SECTIONS, "slow", (module.__name__, "figures"))
    results = _bench.run_benchmarks(out, ["slow"])
    assert json.loads(out.read_text()) == results
    assert results["meanwhile"] == 2 and results["before"] == 1 and results["slow"]["answer"] == 42
