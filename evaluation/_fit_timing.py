"""One mixture fit of a 1,000,000-people run, for timing a whole process against an older
checkout (the README's EM figure):

    farm-bench -n 5 --vs '.venv/bin/python -m evaluation._fit_timing /path/to/old/checkout' \\
        -- .venv/bin/python -m evaluation._fit_timing

The distinct comparison patterns of a 1,000,000-people common-name run, its known non-matches
and its random-pair anchor (``tests/linkage/data/known_non_matches_drift.npz``) are expanded to
their 5,993,710 candidate pairs and 399,764 known non-matches and fitted with
:func:`linkage._fellegi.fit_fellegi_sunter` as a run fits them. ``CHECKOUT``: a caselink tree
whose ``linkage`` is imported instead of this one's. Prints the fitted share of matches.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "tests/linkage/data/known_non_matches_drift.npz"


def fit_prior(checkout: str | None = None) -> float:
    """The share of matches fitted on the run's patterns, by ``checkout``'s linkage (or this
    one's)."""
    if checkout is not None:
        sys.path.insert(0, checkout)
        for name in [m for m in sys.modules if m == "linkage" or m.startswith("linkage.")]:
            del sys.modules[name]
    from linkage._fellegi import fit_fellegi_sunter

    data = np.load(DATA)
    candidates = np.repeat(data["patterns"], data["counts"], axis=0)
    known = np.repeat(data["known"], data["known_counts"], axis=0)
    return fit_fellegi_sunter(candidates, u_random=data["anchor"], non_matches=known).prior


if __name__ == "__main__":
    sys.stdout.write(f"{fit_prior(sys.argv[1] if len(sys.argv) > 1 else None)}\n")
