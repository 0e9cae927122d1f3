"""`caselink evaluate` on registers with households: what the household evidence changed.

When the encoded batches carry households (the schema declares the group and relationship
columns and the registers fill them), the run of :func:`evaluation.run_evaluation` is the
collective one. :func:`household_figures` links the same batches again stripped of their
groups and relationships — each record on its own — and scores both runs alike: pairwise
precision, recall and F1, and the expected calibration error of the candidate pairs reported
at 0.1 or above. Where the truth says who is whose child and who is a twin (``household``,
``role`` and ``twin`` columns, as the synthetic ``households`` dataset's truth has, or a
user's ``truth.csv`` may have), precision on sibling and on twin pairs is added
(:func:`evaluation.family_scores`). Labels are used only to score.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

import bloom
from evaluation._family_metrics import family_scores
from evaluation._metrics import (
    entity_labels,
    expected_calibration_error,
    pair_truth,
    pairwise_scores,
)

__all__ = [
    "FAMILY_TRUTH_COLUMNS",
    "carries_households",
    "household_figures",
    "run_figures",
    "stripped",
]

FAMILY_TRUTH_COLUMNS = ("household", "role", "twin")  # what sibling/twin precision needs
LINK_FROM = 0.1  # the ECE over the pairs that can become links, as in the main report


def carries_households(batches: Sequence[bloom.EncodedBatch]) -> bool:
    """Whether any batch carries household groups (some record in a group)."""
    return any(b.groups is not None and bool(np.any(b.groups)) for b in batches)


def stripped(batches: Sequence[bloom.EncodedBatch]) -> list[bloom.EncodedBatch]:
    """The batches without their households and relationships: each record on its own."""
    return [dataclasses.replace(b, groups=None, relationships=None) for b in batches]


def _entity(assignments: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    m = assignments[["agency", "record_ref"]].merge(
        truth[["agency", "record_ref", "entity_id"]], on=["agency", "record_ref"], how="left"
    )
    return entity_labels(m)


def run_figures(report: Any, truth: pd.DataFrame) -> dict[str, Any]:
    """One run's scores: pairwise precision, recall, F1, the ECE from 0.1 and, where the
    truth has :data:`FAMILY_TRUTH_COLUMNS`, precision on sibling and on twin pairs.
    ``report``: what :func:`linkage.link` returned (with its pairs kept)."""
    assignments = report.assignments
    p = pairwise_scores(assignments["case_id"].to_numpy(), _entity(assignments, truth))
    pairs = report.pairs if report.pairs is not None else pd.DataFrame()
    ece = (
        expected_calibration_error(
            pairs["probability"].to_numpy(), pair_truth(pairs, truth), min_probability=LINK_FROM
        )
        if len(pairs)
        else None
    )
    out: dict[str, Any] = {
        "precision": p.precision,
        "recall": p.recall,
        "f1": p.f1,
        "ece_from_0_1": ece,
    }
    if set(FAMILY_TRUTH_COLUMNS) <= set(truth.columns):
        scores = family_scores(assignments, truth)
        for name, related in (("sibling", scores.siblings), ("twin", scores.twins)):
            out[f"{name}_precision"] = related.precision
            out[f"{name}_links"] = related.links
            out[f"{name}_wrong_links"] = related.wrong_links
    return out


def household_figures(
    batches: Sequence[bloom.EncodedBatch],
    collective: Any,
    truth: pd.DataFrame,
    *,
    duplicates: bool = False,
) -> dict[str, Any] | None:
    """The collective run (``collective``, already linked from ``batches``) against the same
    batches linked without their households; None when no batch carries households."""
    from linkage import link

    if not carries_households(batches):
        return None
    individual = link(stripped(batches), allow_duplicates_within_agency=duplicates, keep_pairs=True)
    with_h, without = run_figures(collective, truth), run_figures(individual, truth)
    return {
        "records_in_households": int(
            sum(np.count_nonzero(b.groups) for b in batches if b.groups is not None)
        ),
        "collective": with_h,
        "individual": without,
        "f1_gain_points": 100 * (with_h["f1"] - without["f1"]),
    }
