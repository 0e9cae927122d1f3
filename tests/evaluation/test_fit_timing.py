"""The EM timing harness fits the 1,000,000-people patterns as a run does, with this checkout's
linkage or another's."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation._fit_timing import DATA, fit_prior
from linkage._fellegi import fit_fellegi_sunter


def test_the_harness_fits_the_runs_patterns_as_a_run_does():
    data = np.load(DATA)
    candidates = np.repeat(data["patterns"], data["counts"], axis=0)
    assert len(candidates) == 5_993_710
    known = np.repeat(data["known"], data["known_counts"], axis=0)
    want = fit_fellegi_sunter(candidates, u_random=data["anchor"], non_matches=known).prior
    root = str(Path(__file__).resolve().parents[2])
    assert fit_prior() == want == fit_prior(root)
