"""Accuracy and calibration metrics, from predicted and true labels only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "PairwiseScores",
    "bcubed",
    "expected_calibration_error",
    "entity_labels",
    "pair_truth",
    "pairwise_scores",
    "reliability_table",
]


@dataclass(frozen=True)
class PairwiseScores:
    precision: float
    recall: float
    f1: float
    true_positives: int
    predicted_pairs: int
    true_pairs: int


def _pair_count(labels: pd.Series) -> int:
    sizes = labels.value_counts().to_numpy()
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_scores(predicted: np.ndarray, truth: np.ndarray) -> PairwiseScores:
    """Pairwise precision/recall/F1 of a clustering: a pair counts when both share a label.

    ``predicted`` and ``truth`` hold one label per record (any hashable values).
    """
    pred = pd.Series(pd.factorize(pd.Series(predicted, dtype=object))[0])
    true = pd.Series(pd.factorize(pd.Series(truth, dtype=object))[0])
    both = pd.Series(pred.to_numpy().astype(np.int64) * (int(true.max()) + 1) + true.to_numpy())
    tp, pp, tt = _pair_count(both), _pair_count(pred), _pair_count(true)
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScores(precision, recall, f1, tp, pp, tt)


def bcubed(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 (averaged over records)."""
    df = pd.DataFrame(
        {"p": pd.Series(predicted, dtype=object), "t": pd.Series(truth, dtype=object)}
    )
    overlap = df.groupby(["p", "t"])["p"].transform("size")
    size_p = df.groupby("p")["t"].transform("size")
    size_t = df.groupby("t")["p"].transform("size")
    precision = float((overlap / size_p).mean())
    recall = float((overlap / size_t).mean())
    return precision, recall, 2 * precision * recall / (precision + recall)


def reliability_table(probability: np.ndarray, is_true: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per probability bin: count, mean predicted probability, observed share of true."""
    p = np.asarray(probability, dtype=float)
    y = np.asarray(is_true, dtype=float)
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        rows.append(
            {
                "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                "count": int(m.sum()),
                "mean_probability": float(p[m].mean()) if m.any() else np.nan,
                "observed": float(y[m].mean()) if m.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def expected_calibration_error(
    probability: np.ndarray, is_true: np.ndarray, bins: int = 10, *, min_probability: float = 0.0
) -> float:
    """Count-weighted mean |mean probability - observed share| over equal-width bins.

    ``min_probability``: only the items reported at that probability or above. Over every
    candidate pair the figure is dominated by the many clear non-matches near 0, which are
    easy to get right; from 0.1 up it measures the pairs that can become links.
    """
    p = np.asarray(probability, dtype=float)
    keep = p >= min_probability
    table = reliability_table(p[keep], np.asarray(is_true)[keep], bins)
    filled = table[table["count"] > 0]
    if filled.empty:
        return 0.0
    gaps = (filled["mean_probability"] - filled["observed"]).abs()
    return float((gaps * filled["count"]).sum() / filled["count"].sum())


def pair_truth(pairs: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """Whether each candidate pair (``agency_a, record_ref_a, agency_b, record_ref_b``) joins
    two records of one person by ``truth`` (``agency, record_ref, entity_id``); a record
    without truth is a person of its own."""
    entity = truth.set_index(["agency", "record_ref"])["entity_id"]
    a = entity.reindex(pd.MultiIndex.from_arrays([pairs["agency_a"], pairs["record_ref_a"]]))
    b = entity.reindex(pd.MultiIndex.from_arrays([pairs["agency_b"], pairs["record_ref_b"]]))
    return (a.to_numpy() == b.to_numpy()) & ~pd.isna(a.to_numpy())


def entity_labels(records: pd.DataFrame) -> np.ndarray:
    """Each record's true person (``entity_id``) from a frame of ``agency, record_ref,
    entity_id`` (``entity_id`` missing where the truth says nothing), a record without truth
    counting as a person of its own."""
    unlabelled = (
        "unlabelled:" + records["agency"].astype(str) + ":" + records["record_ref"].astype(str)
    )
    entity = records["entity_id"].astype(object)
    return entity.where(entity.notna(), unlabelled).to_numpy()
