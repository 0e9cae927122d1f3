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
    # run from elsewhere: the checkout is found from the script's place, or named
    assert _harness(cwd=tmp_path) == want
    assert _harness(str(ROOT), cwd=tmp_path) == want
