"""``caselink evaluate`` run as a user runs it, in a process of its own (forked from an
interpreter that has imported it, tests/forkserver.py), on 300 synthetic people: progress per
stage on stderr, the synthetic size from ``--people``, the report's threshold, calibration,
speed and HTML as written. The refusals run the same command in this process
(:func:`tests.cli.caselink`: no process to start for an argument refused before any work)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import forkserver
from tests.cli import caselink

REPO = Path(__file__).resolve().parents[2]
STAGES = ("loading data", "encoding", "linking", "scoring", "writing the report")
LINK_STAGES = (
    "pool",
    "baseline",
    "search",
    "model",
    "calibration",
    "clustering",
    "cases",
    "update",
)


def _evaluate(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return forkserver.run(["caselink", "evaluate", *args], cwd=REPO, env=env)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate") / "report"
    done = _evaluate(
        "--dataset", "synthetic", "--people", 300, "--seed", 3, "--no-baseline", "--out", out
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    return done, out, results


def test_each_stage_is_shown_on_stderr_as_it_starts(run):
    done, _, _ = run
    lines = done.stderr.splitlines()
    shown = [f"[{k}/{len(STAGES)}] {name}" for k, name in enumerate(STAGES, 1)]
    positions = [lines.index(s) for s in shown]  # each on a line of its own ...
    assert positions == sorted(positions)  # ... in the order they ran
    assert "F1" in lines[-1] and "from 0.1" in lines[-1]  # then the summary
    assert done.stdout == ""


def test_people_sets_the_size_of_the_synthetic_dataset(run):
    _, _, results = run
    # 300 people, each held by at least one of three agencies, by each with probability 0.6
    assert 300 <= results["records"] <= 3 * 300
    assert sum(results["agencies"].values()) == results["records"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--dataset", "synthetic", "--people", 50), "at least 200"),
        (("--dataset", "synthetic", "--people", -3), "at least 200"),
        (("--dataset", "febrl4", "--people", 300), "generated datasets only"),
    ],
)
def test_bad_people_is_refused_before_any_work(args, says, tmp_path):
    done = caselink(
        "evaluate", *args, "--out", tmp_path / "report", env={"COLUMNS": "200"}, clean=False
    )
    assert done.returncode == 2
    assert "--people" in done.stderr and says in done.stderr
    assert "[1/" not in done.stderr and not (tmp_path / "report").exists()


def test_the_speed_plot_and_table_cover_every_stage_of_the_run(run):
    """One clock from loading to the report: the evaluation's stages, the link's own stages
    (as plan_link records them) in place of "linking", in the order they ran."""
    _, out, results = run
    stages = results["speed"]["stages"]
    names = list(stages)
    first, last = names.index("linking: pool"), names.index("linking: update")
    assert names[:first] == ["loading data", "encoding"]
    assert names[first : last + 1] == [f"linking: {s}" for s in LINK_STAGES]
    assert names[last + 1 :] in (["scoring"], ["linking: other", "scoring"])
    md = (out / "report.md").read_text()
    speed = md[md.index("## Speed") : md.index("![speed]")]
    rows = [line.split("|")[1].strip() for line in speed.splitlines() if line.startswith("| ")]
    assert rows[2:-1] == names  # header and rule, every stage in order, then the total
    assert f"| all | {sum(stages.values()):.2f} |" in speed
    assert (out / "figures" / "speed.png").read_bytes().startswith(b"\x89PNG")


def test_the_threshold_and_the_calibration_of_the_middle_are_reported(run):
    _, out, results = run
    md = (out / "report.md").read_text()
    assert f"The dashed line marks the automatic threshold, {results['threshold']:.3f}" in md
    cal = results["calibration"]
    assert cal["candidate_pairs_from_0_1"] > 0
    assert (
        f"| candidate pairs reported at 0.1 or above | {cal['candidate_pairs_from_0_1']:,} "
        f"| {cal['ece_candidate_pairs_from_0_1']:.4f} |" in md
    )
    assert (
        "The middle of the range" in md
        or "Miscalibrated in the middle" in md
        or ("No bin between 0.1 and 0.9" in md)
    )


def test_the_html_report_renders_code_spans(run):
    _, out, _ = run
    page = (out / "report.html").read_text()
    assert "<code>person</code>" in page  # the schema, `person` in the markdown
    assert "`" not in page
