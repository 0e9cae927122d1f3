"""What F1 a register's comparison evidence allows: a run beside the same steps given the truth.

On one register of the scale section (``scale_register(n, mix)``), ``plan_link(keep_pairs=True)``
links as ``caselink link`` does and keeps every candidate pair. Each pair's evidence as EM sees
it -- the comparison level of each segment's Dice and of its crowd -- is computed again from
the batches, and with the truth at hand three sets of cases are scored (pairwise, every record):

- ``run``: the run's own cases;
- ``labelled_model``: the same model fitted with every candidate pair labelled by the truth
  (``linkage.fit_with_labels``), then calibrated, thresholded and clustered as a run is: what
  the model's form allows when its fit is perfect;
- ``pattern_rule``: each distinct comparison pattern's share of true matches taken as its
  pairs' probability, clustered the same way: the best any rule on these levels can do pair
  by pair (no independence between segments assumed). Its shares are counted on the pairs
  they score, so it is optimistic, the more so the fewer pairs each pattern has (a small
  register).

``true_pairs_in_candidates``: the share of true pairs the search offered at all. When the two
labelled figures fall with the register's size as the run's does, what is lost is evidence
(more people share every field compared), not the fit or the search.

``python -m evaluation._f1_ceiling 100000 1000000`` prints one JSON line per size.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

import linkage
from evaluation._bench_linkscale import scale_register
from evaluation._metrics import pairwise_scores

__all__ = ["f1_ceiling"]


def _scores(labels: np.ndarray, entity: np.ndarray) -> dict[str, float]:
    s = pairwise_scores(labels, entity)
    return {"f1": round(s.f1, 4), "precision": round(s.precision, 4), "recall": round(s.recall, 4)}


def _cases(agency: np.ndarray, g1: np.ndarray, g2: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Cluster labels as a run makes them from pair probabilities (auto threshold)."""
    edge = p >= 1e-3
    threshold = linkage.auto_threshold(p[edge])
    none = np.full(len(agency), -1, np.int64)
    return linkage.cluster(agency, none, g1[edge], g2[edge], p[edge], threshold)


def f1_ceiling(n_people: int, mix: str = "common", *, seed: int = 0) -> dict[str, Any]:
    """The figures of the module docstring for ``n_people`` people of ``mix`` in two agencies."""
    started = time.perf_counter()
    data, batches = scale_register(n_people, mix, seed=seed)
    report = linkage.plan_link(batches, keep_pairs=True, seed=seed)
    pairs = report.pairs
    assert pairs is not None  # keep_pairs
    refs = pd.concat(
        [pd.DataFrame({"agency": b.metadata.agency, "record_ref": b.record_refs}) for b in batches],
        ignore_index=True,
    )
    row = pd.Series(np.arange(len(refs)), index=pd.MultiIndex.from_frame(refs))
    g1 = row.reindex(pd.MultiIndex.from_frame(pairs[["agency_a", "record_ref_a"]])).to_numpy()
    g2 = row.reindex(pd.MultiIndex.from_frame(pairs[["agency_b", "record_ref_b"]])).to_numpy()
    entity = (
        data.truth.set_index(["agency", "record_ref"])["entity_id"]
        .reindex(pd.MultiIndex.from_frame(refs))
        .to_numpy()
    )
    agency = pd.factorize(refs["agency"])[0].astype(np.int64)
    filters = np.concatenate([b.filters for b in batches])
    bounds = linkage.segment_words(batches[0].metadata)
    levels = np.concatenate(
        [
            linkage.comparison_levels(linkage.segment_dice(filters, filters, g1, g2, bounds)),
            linkage.crowd_levels(g1, g2)[:, None],
        ],
        axis=1,
    )
    truth = entity[g1] == entity[g2]
    in_both = len(set(entity[agency == 0]) & set(entity[agency == 1]))

    fitted = linkage.fit_with_labels(levels, truth.astype(np.int64))
    labelled_p = linkage.pair_probabilities(g1, g2, fitted.weights(levels))[0]
    patterns, inverse = np.unique(levels, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    share = np.bincount(inverse, truth, len(patterns)) / np.bincount(inverse, None, len(patterns))
    run_cases = (
        report.assignments.merge(refs.reset_index(), on=["agency", "record_ref"])
        .sort_values("index")["case_id"]
        .to_numpy()
    )
    return {
        "people": n_people,
        "mix": mix,
        "pairs_scored": len(g1),
        "true_pairs_in_candidates": round(float(truth.sum()) / in_both, 4),
        "run": _scores(run_cases, entity),
        "labelled_model": _scores(_cases(agency, g1, g2, labelled_p), entity),
        "pattern_rule": _scores(_cases(agency, g1, g2, share[inverse]), entity),
        "comparison_patterns": len(patterns),
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    for size in sys.argv[1:] or ["100000"]:
        sys.stdout.write(json.dumps(f1_ceiling(int(size))) + "\n")
        sys.stdout.flush()
