"""`caselink evaluate` end to end: a report with tables, plots and machine-readable figures."""

import json

import numpy as np
import pytest

from bloom import CaselinkError
from evaluation._evaluate import load_dataset, run_evaluation
from evaluation._report import write_report
from tests.cli import caselink

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_on_febrl3(tmp_path):
    results = run_evaluation(load_dataset("febrl3"))
    path = write_report(results, tmp_path)
    md = path.read_text()
    assert results["accuracy"]["f1"] >= 0.99
    assert "## Calibration" in md and "| pairwise (cases) |" in md
    assert "## Threat model" in md and "Out of scope, said plainly" in md  # read beside it
    for name in ("threshold", "scores", "reliability", "speed"):
        assert (tmp_path / "figures" / f"{name}.png").read_bytes().startswith(PNG)
    figures = json.loads((tmp_path / "results.json").read_text())
    assert figures["accuracy"]["f1"] == pytest.approx(results["accuracy"]["f1"])
    assert len(figures["threshold_curve"]) == 19
    assert "<table>" in (tmp_path / "report.html").read_text()


def test_own_labelled_data_from_a_folder(tmp_path):
    from evaluation import generate_synthetic

    generate_synthetic(400, 2, seed=3).to_csv(tmp_path / "data")
    r = caselink(
        "evaluate",
        "--dataset",
        tmp_path / "data",
        "--schema",
        "person",
        "--out",
        tmp_path / "report",
        clean=False,
    )
    assert r.returncode == 0, r.stderr
    assert "F1" in r.stderr and (tmp_path / "report" / "report.md").exists()


def test_bad_datasets_are_refused(tmp_path):
    with pytest.raises(CaselinkError, match="unknown dataset"):
        load_dataset("febrl9")
    (tmp_path / "a.csv").write_text("record_ref,given_name\n1,x\n")
    with pytest.raises(CaselinkError, match=r"truth\.csv"):
        load_dataset(str(tmp_path), "person")
    with pytest.raises(CaselinkError, match=r"--schema"):
        load_dataset(str(tmp_path))


def test_pair_calibration_names_the_worst_mid_range_bin():
    from evaluation._evaluate import pair_calibration

    p = np.r_[np.full(1000, 0.01), np.full(40, 0.25), np.full(40, 0.65), np.full(5, 0.45)]
    right = np.r_[np.zeros(1000), np.ones(30), np.zeros(10), np.ones(26), np.zeros(14), [0] * 5]
    cal = pair_calibration(p, right.astype(bool))
    gap = cal["largest_mid_range_gap"]  # 0.25 reported, 0.75 right; the 5 at 0.45: too few
    assert gap["bin"] == "0.2-0.3" and gap["observed"] == pytest.approx(0.75)
    assert cal["candidate_pairs_from_0_1"] == 85
    assert cal["ece_candidate_pairs_from_0_1"] > 4 * cal["ece_candidate_pairs"]


def test_stages_cover_the_run_and_split_the_link_in_place():
    from evaluation._evaluate import Stages

    heard = []
    clock = Stages(on_start=heard.append)
    for name in ("loading data", "linking", "scoring"):
        clock.start(name)
    clock.stop()
    clock.split("linking", {"search": 0.0, "model": 0.0})
    assert heard == ["loading data", "linking", "scoring"]
    names = list(clock.seconds)
    assert names[0] == "loading data" and names[-1] == "scoring"
    assert names[1:3] == ["linking: search", "linking: model"]
