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


def test_households_dataset_reports_the_run_without_them_beside(tmp_path):
    results = run_evaluation(load_dataset("households", people=600, seed=2), baseline=False)
    h = results["households"]
    # the collective run is the one the report is about; the other is the same batches
    # without their groups, scored alike
    assert h["collective"]["f1"] == pytest.approx(results["accuracy"]["f1"])
    assert h["f1_gain_points"] == pytest.approx(
        100 * (h["collective"]["f1"] - h["individual"]["f1"])
    )
    assert 0 < h["records_in_households"] <= results["records"]
    for run in (h["collective"], h["individual"]):
        assert 0.0 <= run["sibling_precision"] <= 1.0 and run["sibling_links"] > 0
        assert run["sibling_wrong_links"] <= run["sibling_links"]
        assert 0.0 <= run["ece_from_0_1"] <= 1.0
    assert "linking without households" in results["speed"]["stages"]
    md = write_report(results, tmp_path).read_text()
    assert "## Households" in md and "twin pairs' precision" in md
    assert json.loads((tmp_path / "results.json").read_text())["households"]["individual"]["f1"]


def test_no_households_no_section(tmp_path):
    results = run_evaluation(load_dataset("synthetic", people=300), baseline=False)
    assert "households" not in results
    assert "## Households" not in write_report(results, tmp_path).read_text()


def test_own_household_data_without_family_truth_gets_f1_only(tmp_path):
    from evaluation import generate_households

    data = generate_households(500, 2, seed=4)
    data.to_csv(tmp_path / "data")
    # a user's truth knows who is who, not who is whose child
    truth = data.truth[["agency", "record_ref", "entity_id"]]
    truth.to_csv(tmp_path / "data" / "truth.csv", index=False)
    results = run_evaluation(load_dataset(str(tmp_path / "data"), "person"), baseline=False)
    h = results["households"]
    assert h["records_in_households"] > 0
    assert "sibling_precision" not in h["collective"] and "f1" in h["individual"]
    md = write_report(results, tmp_path / "report").read_text()
    assert "## Households" in md and "siblings" not in md.split("## Households")[1][:600]


def test_people_apply_to_generated_datasets_only():
    with pytest.raises(CaselinkError, match="generated datasets only"):
        load_dataset("febrl4", people=300)
