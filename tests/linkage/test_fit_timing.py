"""The EM timing harness (``bench/fit_timing.py``) fits the 1,000,000-people patterns as a run
does, with this checkout's linkage or another's. It runs as its own process, as farm-bench runs
it, so the test process never imports a second ``linkage``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from linkage._fellegi import fit_fellegi_sunter

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "bench/fit_timing.py"
DATA = ROOT / "tests/linkage/data/known_non_matches_drift.npz"


def _harness(*args: str, cwd: Path) -> float:
    done = subprocess.run(
        [sys.executable, str(HARNESS), *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def test_the_harness_fits_the_runs_patterns_as_a_run_does(tmp_path):
    data = np.load(DATA)
    candidates = np.repeat(data["patterns"], data["counts"], axis=0)
    assert len(candidates) == 5_993_710
    known = np.repeat(data["known"], data["known_counts"], axis=0)
    want = fit_fellegi_sunter(candidates, u_random=data["anchor"], non_matches=known).prior
    assert _harness(cwd=tmp_path) == want  # run from elsewhere: this checkout's linkage


def test_the_harness_fits_with_the_linkage_of_the_checkout_it_is_given(tmp_path):
    """An older tree named on the command line is the one imported: here a tree whose
    ``linkage._fellegi`` answers a prior of its own and records what it was given."""
    other = tmp_path / "older"
    (other / "linkage").mkdir(parents=True)
    (other / "linkage" / "__init__.py").write_text("")
    (other / "linkage" / "_fellegi.py").write_text(
        "from types import SimpleNamespace\n"
        "def fit_fellegi_sunter(levels, *, u_random, non_matches):\n"
        "    assert levels.shape[0] == 5_993_710 and non_matches.shape[0] == 399_764\n"
        "    return SimpleNamespace(prior=0.125)\n"
    )
    assert _harness(str(other), cwd=tmp_path) == 0.125
