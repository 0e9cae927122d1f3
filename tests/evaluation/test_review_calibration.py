"""Calibration against reviewed pairs: a labels document read, its figures, the report's
section, and ``caselink evaluate --labels`` (the command's own code, run in this process:
:func:`tests.cli.caselink`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bloom import CaselinkError
from evaluation._review_calibration import load_labels, review_calibration, review_lines
from tests.cli import caselink


def _doc(pairs: list[dict]) -> dict:
    return {"format": "caselink.review-labels/1", "agreement_id": "agr_0", "pairs": pairs}


def _pair(p: float, decision: str, latest: float | None = -1.0) -> dict:
    return {
        "agencies": ["a", "b"],
        "probability_queued": p,
        "probability_latest": p if latest == -1.0 else latest,
        "decision": decision,
        "queued_at": "2026-12-10T09:00:00Z",
        "resolved_at": None,
    }


@pytest.fixture()
def labels_file(tmp_path) -> Path:
    """100 pairs at 0.3 of which 30 the same person, 50 at 0.75 of which 40, and pairs that
    are not labels (unsure, disagreed); one link gone since."""
    pairs = [_pair(0.3, "same") for _ in range(30)] + [_pair(0.3, "different") for _ in range(70)]
    pairs += [_pair(0.75, "same") for _ in range(40)] + [_pair(0.75, "different")] * 10
    pairs += [_pair(0.5, "unsure"), _pair(0.6, "disagreed"), _pair(0.2, "same", latest=None)]
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(_doc(pairs)))
    return path


def test_the_figures_set_the_reported_probability_against_what_people_found(labels_file):
    cal = review_calibration(load_labels(labels_file))
    assert cal["decisions"] == {"same": 71, "different": 80, "unsure": 1, "disagreed": 1}
    q, now = cal["queued"], cal["latest"]
    assert q["pairs"] == 151 and now["pairs"] == 150  # one link is gone: not in "now"
    assert now["ece"] == pytest.approx((100 * 0.0 + 50 * 0.05) / 150)
    expected_brier = (30 * 0.7**2 + 70 * 0.3**2 + 40 * 0.25**2 + 10 * 0.75**2) / 150
    assert now["brier"] == pytest.approx(expected_brier)
    assert now["observed_same"] == pytest.approx(70 / 150)
    table = now["reliability"].set_index("bin")
    assert table.loc["0.3-0.4", "count"] == 100 and table.loc["0.3-0.4", "observed"] == 0.3
    text = "\n".join(review_lines(cal))
    assert "## Calibration against reviewed pairs" in text
    assert "| 0.7-0.8 | 50 | 0.7500 | 0.8000 |" in text
    assert review_lines(None) == []


def test_a_file_that_is_not_a_labels_document_is_refused_naming_every_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_doc([_pair(1.5, "same"), _pair(0.5, "maybe"), _pair(0.2, "same")])))
    with pytest.raises(CaselinkError) as e:
        load_labels(bad)
    assert list(e.value.problems) == [
        "pair 1: probability_queued must be a probability",
        "pair 1: probability_latest must be a probability or null",
        "pair 2: decision must be one of same, different, unsure, disagreed",
    ]
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CaselinkError, match="caselink review labels --out"):
        load_labels(other)


def test_no_labels_gives_no_figures(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(_doc([_pair(0.4, "unsure")])))
    cal = review_calibration(load_labels(empty))
    assert cal["queued"]["pairs"] == 0 and cal["queued"]["ece"] is None
    assert "| when queued | 0 | – | – | – | – |" in review_lines(cal)


def _evaluate(*args: object) -> subprocess.CompletedProcess:
    return caselink("evaluate", *args, env={"COLUMNS": "200"}, clean=False)


def test_evaluate_reports_the_calibration_against_the_labels_given(labels_file, tmp_path):
    out = tmp_path / "report"
    done = _evaluate(
        "--dataset", "synthetic", "--people", 200, "--no-baseline", "--labels", labels_file,
        "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "151 reviewed pairs, ECE" in done.stderr.splitlines()[-1]
    report = (out / "report.md").read_text()
    assert "## Calibration against reviewed pairs" in report
    saved = json.loads((out / "results.json").read_text())["review_calibration"]
    assert saved["decisions"]["same"] == 71
    assert np.isclose(
        saved["latest"]["brier"], review_calibration(load_labels(labels_file))["latest"]["brier"]
    )


def test_evaluate_refuses_a_bad_labels_file_before_any_work(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    done = _evaluate("--dataset", "synthetic", "--people", 200, "--labels", bad, "--out", tmp_path)
    assert done.returncode != 0
    assert "labels document" in done.stderr and "[1/" not in done.stderr
