"""Linkage accuracy and calibration on FEBRL, as figures for ``caselink bench``.

The data are encoded with the shipped ``febrl`` schema (no ``soc_sec_id``) and a fixed secret,
linked with the automatic threshold, and scored against the FEBRL ground truth.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

import bloom
from evaluation._datasets import load_febrl3_agencies, load_febrl4
from evaluation._metrics import (
    bcubed,
    expected_calibration_error,
    pairwise_scores,
    reliability_table,
)

__all__ = ["bench_accuracy", "bench_baseline", "link_febrl3", "link_febrl4", "link_synthetic"]

_SECRET = bloom.Secret(bytes(range(32)))


def _scores(assign: pd.DataFrame, entity: np.ndarray) -> dict[str, float]:
    s = pairwise_scores(assign["case_id"].to_numpy(), entity)
    _, _, bf = bcubed(assign["case_id"].to_numpy(), entity)
    return {
        "precision": round(s.precision, 5),
        "recall": round(s.recall, 5),
        "f1": round(s.f1, 5),
        "bcubed_f1": round(bf, 5),
        "true_pairs": s.true_pairs,
        "predicted_pairs": s.predicted_pairs,
    }


def _calibration(assign: pd.DataFrame, entity: np.ndarray) -> dict[str, Any]:
    """Reported links: each record of a linked case, its confidence vs. being right."""
    df = assign.assign(entity=entity)
    size = df.groupby("case_id")["case_id"].transform("size")
    linked = df[size > 1]
    majority = linked.groupby("case_id")["entity"].transform(lambda e: e.value_counts().index[0])
    right = (linked["entity"] == majority).to_numpy()
    table = reliability_table(linked["confidence"].to_numpy(), right)
    return {
        "ece_linked_records": round(expected_calibration_error(linked["confidence"], right), 4),
        "reliability": table.dropna().round(4).to_dict(orient="records"),
    }


def link_febrl4() -> dict[str, Any]:
    from linkage import link

    data = load_febrl4()
    schema = bloom.Schema.load("febrl")
    batches = [
        bloom.encode(df, schema, _SECRET, agency=name, id_column="record_ref")
        for name, df in (("agency-a", data.a), ("agency-b", data.b))
    ]
    t0 = time.perf_counter()
    report = link(batches)
    seconds = time.perf_counter() - t0
    a = report.assignments
    entity = a["record_ref"].str.split("-").str[1].to_numpy()
    return {
        "records": len(a),
        "threshold": round(report.threshold, 4),
        "link_seconds": round(seconds, 2),
        **_scores(a, entity),
        **_calibration(a, entity),
    }


def link_febrl3(one_per_agency: bool) -> dict[str, Any]:
    from linkage import link

    data = load_febrl3_agencies(3, one_per_agency=one_per_agency, seed=0)
    schema = bloom.Schema.load("febrl")
    batches = [
        bloom.encode(df, schema, _SECRET, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]
    report = link(batches, allow_duplicates_within_agency=not one_per_agency)
    m = report.assignments.merge(data.truth, on=["agency", "record_ref"])
    entity = m["entity_id"].to_numpy()
    return {
        "records": len(m),
        "threshold": round(report.threshold, 4),
        **_scores(m, entity),
        **_calibration(m, entity),
    }


def link_synthetic(people: int = 5000, agencies: int = 3, seed: int = 0) -> dict[str, Any]:
    """Synthetic humanitarian registrations at default messiness, shipped ``person`` schema."""
    from evaluation._synthetic import generate
    from linkage import link

    data = generate(people, agencies, seed=seed)
    schema = bloom.Schema.load("person")
    batches = [
        bloom.encode(df, schema, _SECRET, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]
    report = link(batches)
    m = report.assignments.merge(data.truth, on=["agency", "record_ref"])
    entity = m["entity_id"].to_numpy()
    return {
        "people": people,
        "records": len(m),
        "threshold": round(report.threshold, 4),
        **_scores(m, entity),
        **_calibration(m, entity),
    }


def bench_accuracy() -> dict[str, Any]:
    return {
        "synthetic_5000_people_three_agencies": link_synthetic(),
        "febrl4_two_agencies": link_febrl4(),
        "febrl3_three_agencies_one_per_person": link_febrl3(True),
        "febrl3_three_agencies_with_duplicates": link_febrl3(False),
    }


def bench_baseline() -> dict[str, Any]:
    """The plaintext recordlinkage baseline on the same four datasets as ``bench_accuracy``."""
    from evaluation._baseline import baseline_scores

    return {kind: baseline_scores(kind) for kind in ("febrl4", "febrl3", "febrl3-dup", "synthetic")}
