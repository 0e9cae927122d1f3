"""`caselink evaluate`: encode → link → score a labelled dataset, and write a report.

Datasets: ``febrl4`` (two agencies), ``febrl3`` (three agencies, one record per person per
agency), ``febrl3-dup`` (three agencies with duplicates), ``synthetic`` (5,000 people by
default, three agencies, default messiness), ``households`` (the same, living in households
that the agencies register with their relationships: :func:`evaluation.generate_households`),
or a folder of the user's own data: one CSV per
agency (the file name is the agency; a ``record_ref`` column) and ``truth.csv`` with
``agency, record_ref, entity_id``. Labels are used only to score; the linkage never sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bloom
from bloom import CaselinkError
from evaluation._bench import peak_rss_gib
from evaluation._datasets import load_febrl3_agencies, load_febrl4_agencies
from evaluation._evaluate_households import carries_households, household_figures
from evaluation._metrics import (
    bcubed,
    entity_labels,
    expected_calibration_error,
    pair_truth,
    pairwise_scores,
    reliability_table,
)

__all__ = [
    "MIN_SYNTHETIC_PEOPLE",
    "EvaluationData",
    "Stages",
    "linked_record_calibration",
    "pair_calibration",
    "load_dataset",
    "run_evaluation",
]

# the plaintext baseline's column spec for the shipped schemas (both revisions share columns)
_SPECS = {"febrl": "febrl", "febrl-v1": "febrl", "person": "person", "person-v1": "person"}

DATASETS = ("febrl4", "febrl3", "febrl3-dup", "synthetic", "households")
GENERATED = ("synthetic", "households")  # the datasets whose size --people sets
SYNTHETIC_PEOPLE = 5000
# fewer people give too few candidate pairs for a model of each agency pair's own and too
# few links to say anything about calibration
MIN_SYNTHETIC_PEOPLE = 200
LINK_FROM = 0.1  # pairs reported at this probability or above can become links
MID_BIN_MIN_PAIRS = 10  # a mid-range bin with fewer pairs is too noisy to call out


class Stages:
    """Wall seconds per stage of an evaluation, in the order they ran, from one clock: each
    stage lasts from its start to the next one's, so together they cover the whole run.
    ``on_start`` hears each stage's name as it begins (the command's progress)."""

    def __init__(self, on_start: Callable[[str], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self._on_start = on_start or (lambda _name: None)
        self._current: str | None = None
        self._since = time.perf_counter()

    def start(self, name: str) -> None:
        self.stop()
        self._current, self._since = name, time.perf_counter()
        self._on_start(name)

    def stop(self) -> float:
        """End the current stage; its seconds (0 when none was running)."""
        if self._current is None:
            return 0.0
        spent = time.perf_counter() - self._since
        self.seconds[self._current] = self.seconds.get(self._current, 0.0) + spent
        self._current = None
        return spent

    def split(self, name: str, parts: dict[str, float]) -> None:
        """Replace the finished stage ``name`` by its parts (``name: part``), in place; what
        the parts do not account for stays as ``name: other``."""
        total = self.seconds.get(name, 0.0)
        rest = total - sum(parts.values())
        split = {f"{name}: {k}": v for k, v in parts.items()}
        if rest >= 0.005:
            split[f"{name}: other"] = rest
        self.seconds = {
            k2: v2
            for k, v in self.seconds.items()
            for k2, v2 in (split.items() if k == name else [(k, v)])
        }


@dataclass(frozen=True)
class EvaluationData:
    name: str
    agencies: dict[str, pd.DataFrame]
    truth: pd.DataFrame  # agency, record_ref, entity_id
    schema: str  # shipped schema name or a path
    duplicates: bool = False


def _febrl4() -> EvaluationData:
    d = load_febrl4_agencies()
    return EvaluationData("febrl4", d.agencies, d.truth, "febrl")


def _folder(path: Path, schema: str | None) -> EvaluationData:
    truth_file = path / "truth.csv"
    problems = []
    if not truth_file.is_file():
        problems.append(f"{path} has no truth.csv (columns agency, record_ref, entity_id)")
    files = sorted(p for p in path.glob("*.csv") if p.name != "truth.csv")
    if not files:
        problems.append(f"{path} holds no agency CSV files")
    if schema is None:
        problems.append("--schema is needed for your own data (a file, or febrl / person)")
    if problems:
        raise CaselinkError("; ".join(problems))
    agencies = {
        p.stem: pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""]) for p in files
    }
    truth = pd.read_csv(truth_file, dtype=str)
    missing = {"agency", "record_ref", "entity_id"} - set(truth.columns)
    if missing:
        raise CaselinkError(f"truth.csv lacks the column(s) {', '.join(sorted(missing))}")
    for name, df in agencies.items():
        if "record_ref" not in df.columns:
            raise CaselinkError(f"{name}.csv has no record_ref column")
    return EvaluationData(path.name, agencies, truth, schema)


def load_dataset(
    name: str, schema: str | None = None, seed: int = 0, people: int | None = None
) -> EvaluationData:
    """A dataset by name, or from a folder of the user's own labelled data. ``people``: the
    size of a generated dataset (:data:`GENERATED`; default 5,000; at least
    :data:`MIN_SYNTHETIC_PEOPLE`)."""
    if people is not None and name not in GENERATED:
        raise CaselinkError(
            "the number of people applies to the generated datasets only: " + ", ".join(GENERATED)
        )
    if people is not None and people < MIN_SYNTHETIC_PEOPLE:
        raise CaselinkError(
            f"the synthetic dataset needs at least {MIN_SYNTHETIC_PEOPLE} people (asked for "
            f"{people}): fewer give too few links to fit the model and measure calibration"
        )
    if name == "febrl4":
        data = _febrl4()
    elif name in ("febrl3", "febrl3-dup"):
        dup = name == "febrl3-dup"
        d = load_febrl3_agencies(3, one_per_agency=not dup, seed=seed)
        data = EvaluationData(name, d.agencies, d.truth, "febrl", duplicates=dup)
    elif name == "synthetic":
        from evaluation._synthetic import generate

        d = generate(people or SYNTHETIC_PEOPLE, 3, seed=seed)
        data = EvaluationData(name, dict(d.agencies), d.truth, "person")
    elif name == "households":
        from evaluation._households_synth import generate_households

        h = generate_households(people or SYNTHETIC_PEOPLE, 3, seed=seed)
        data = EvaluationData(name, dict(h.agencies), h.truth, "person")
    elif Path(name).is_dir():
        return _folder(Path(name), schema)
    else:
        raise CaselinkError(
            f"unknown dataset '{name}': use one of {', '.join(DATASETS)} or a folder of CSVs"
        )
    return (
        data
        if schema is None
        else EvaluationData(data.name, data.agencies, data.truth, schema, data.duplicates)
    )


def _true_pair_count(truth: pd.DataFrame, duplicates: bool) -> int:
    sizes = truth.groupby("entity_id").size()
    if duplicates:
        return int((sizes * (sizes - 1) // 2).sum())
    per = truth.groupby(["entity_id", "agency"]).size().groupby("entity_id").size()
    return int((per * (per - 1) // 2).sum())


def _threshold_curve(prob: np.ndarray, right: np.ndarray, total_true: int) -> pd.DataFrame:
    rows = []
    for t in np.round(np.linspace(0.05, 0.95, 19), 2):
        sel = prob >= t
        tp = int(np.count_nonzero(right & sel))
        precision = tp / max(int(sel.sum()), 1)
        recall = tp / max(total_true, 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"threshold": float(t), "precision": precision, "recall": recall, "f1": f1})
    return pd.DataFrame(rows)


def _baseline(data: EvaluationData) -> dict[str, Any] | None:
    """The same registers linked in plain text (recordlinkage), where the columns are known."""
    from evaluation._baseline import baseline_link

    spec = _SPECS.get(Path(data.schema).stem)
    if spec is None:
        return None
    t0 = time.perf_counter()
    assign = baseline_link(data.agencies, spec=spec, allow_duplicates_within_agency=data.duplicates)
    seconds = time.perf_counter() - t0
    m = assign.merge(data.truth, on=["agency", "record_ref"], how="left")
    entity = entity_labels(m)
    s = pairwise_scores(m["case_id"].to_numpy(), entity)
    return {"precision": s.precision, "recall": s.recall, "f1": s.f1, "seconds": seconds}


def linked_record_calibration(assign: pd.DataFrame, entity: np.ndarray) -> dict[str, Any]:
    """Reported links: each record of a linked case, its confidence against being right
    (belonging with its case's majority entity)."""
    df = assign.assign(entity=entity)
    linked = df[df.groupby("case_id")["case_id"].transform("size") > 1]
    majority = linked.groupby("case_id")["entity"].transform(lambda e: e.value_counts().index[0])
    right = (linked["entity"] == majority).to_numpy()
    return {
        "ece_linked_records": expected_calibration_error(linked["confidence"], right),
        "reliability_linked_records": reliability_table(linked["confidence"].to_numpy(), right),
    }


def pair_calibration(probability: np.ndarray, right: np.ndarray) -> dict[str, Any]:
    """Calibration of the candidate pairs: ECE over all of them and over those reported at
    :data:`LINK_FROM` or above (the headline figure is dominated by clear non-matches), the
    bins, and the mid-range bin (0.1-0.9, enough pairs) whose reported and observed shares
    differ most, so that the report can name it."""
    table = reliability_table(probability, right)
    mid = table[
        (table["count"] >= MID_BIN_MIN_PAIRS)
        & (table["mean_probability"] >= LINK_FROM)
        & (table["mean_probability"] < 0.9)
    ]
    gap = (mid["observed"] - mid["mean_probability"]).abs()
    return {
        "ece_candidate_pairs": expected_calibration_error(probability, right),
        "ece_candidate_pairs_from_0_1": expected_calibration_error(
            probability, right, min_probability=LINK_FROM
        ),
        "candidate_pairs_from_0_1": int(np.count_nonzero(probability >= LINK_FROM)),
        "largest_mid_range_gap": mid.loc[gap.idxmax()].to_dict() if len(mid) else None,
        "reliability": table,
    }


def run_evaluation(
    data: EvaluationData,
    on_step: Callable[[str], None] | None = None,
    *,
    baseline: bool = True,
    secret: bloom.Secret | None = None,
    stages: Stages | None = None,
) -> dict[str, Any]:
    """Encode each agency, link, and score; returns every figure plus the tables for plots.

    ``baseline``: also link the plain text with recordlinkage (shipped schemas' columns only),
    the figure the encoded linkage must come close to. ``secret``: a fixed one makes runs
    repeatable (default: a fresh one, as agencies would make). ``stages``: the clock of the
    run, if the caller started it earlier (loading the data); ``on_step`` hears each stage.
    """
    from linkage import link

    clock = stages or Stages(on_step)
    schema = bloom.Schema.load(data.schema)
    secret = secret or bloom.Secret.generate()
    clock.start("encoding")
    batches = [
        bloom.encode(df, schema, secret, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]
    encode_s = clock.stop()
    clock.start("linking")
    report = link(batches, allow_duplicates_within_agency=data.duplicates, keep_pairs=True)
    link_s = clock.stop()
    clock.split("linking", report.stages)
    clock.start("scoring")
    m = report.assignments.merge(data.truth, on=["agency", "record_ref"], how="left")
    entity = entity_labels(m)
    pairs = report.pairs
    right = pair_truth(pairs, data.truth)
    probability = pairs["probability"].to_numpy()
    figures = {
        "accuracy": _accuracy(m["case_id"].to_numpy(), entity),
        "calibration": pair_calibration(probability, right) | linked_record_calibration(m, entity),
        "threshold_curve": _threshold_curve(
            probability, right, _true_pair_count(data.truth, data.duplicates)
        ),
    }
    if carries_households(batches):  # the same batches linked again, each record on its own
        clock.start("linking without households")
        figures["households"] = household_figures(
            batches, report, data.truth, duplicates=data.duplicates
        )
        clock.stop()
    if baseline:
        clock.start("plaintext baseline")
    plain = _baseline(data) if baseline else None
    clock.stop()
    records = sum(len(b) for b in batches)
    return {
        "plaintext_baseline": plain,
        "dataset": data.name,
        "schema": data.schema,
        "schema_fingerprint": schema.fingerprint,
        "agencies": {k: len(v) for k, v in data.agencies.items()},
        "records": records,
        "threshold": report.threshold,
        **figures,
        "scores": {"weight": pairs["weight"].to_numpy(), "is_match": right},
        "speed": {
            "encode_seconds": encode_s,
            "encode_records_per_s": records / encode_s,
            "link_seconds": link_s,
            "candidate_pairs": report.pairs_scored,
            "peak_rss_gib": peak_rss_gib(),
            "stages": dict(clock.seconds),
        },
        "models": report.models,
    }


def _accuracy(case_ids: np.ndarray, entity: np.ndarray) -> dict[str, Any]:
    scores = pairwise_scores(case_ids, entity)
    b3 = bcubed(case_ids, entity)
    return {
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "bcubed_precision": b3[0],
        "bcubed_recall": b3[1],
        "bcubed_f1": b3[2],
        "true_pairs": scores.true_pairs,
        "predicted_pairs": scores.predicted_pairs,
    }
