"""One mixture fit of a 1,000,000-people run, for timing a whole process against an older
checkout (the README's EM figure):

    farm-bench -n 5 --vs '.venv/bin/python bench/fit_timing.py /path/to/old/checkout' \\
        -- .venv/bin/python bench/fit_timing.py

The distinct comparison patterns of a 1,000,000-people common-name run, its known non-matches
and its random-pair anchor (``tests/linkage/data/known_non_matches_drift.npz``) are expanded to
their 5,993,710 candidate pairs and 399,764 known non-matches and fitted with
``linkage._fellegi.fit_fellegi_sunter`` as a run fits them. ``CHECKOUT``: a caselink tree whose
``linkage`` is imported (by default the one this script sits in). Prints the fitted share of
matches.

A script, not a module of a package: it compares ``linkage``'s internals across commits, so it
imports the private module an older checkout has, and nothing of this checkout is imported
before the checkout's ``linkage`` (each process imports exactly one ``linkage``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests/linkage/data/known_non_matches_drift.npz"


def fit_prior(checkout: Path) -> float:
    """The share of matches fitted on the run's patterns by ``checkout``'s linkage."""
    sys.path.insert(0, str(checkout))
    from linkage._fellegi import fit_fellegi_sunter

    data = np.load(DATA)
    candidates = np.repeat(data["patterns"], data["counts"], axis=0)
    known = np.repeat(data["known"], data["known_counts"], axis=0)
    return fit_fellegi_sunter(candidates, u_random=data["anchor"], non_matches=known).prior


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    sys.stdout.write(f"{fit_prior(where)!r}\n")
