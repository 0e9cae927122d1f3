"""What the run's candidate search costs, against an exhaustive one, on sampled records.

The scale bench's run (`caselink link`, LSH above the exhaustive limit) is compared with the
same pipeline run again in this process with one change: for ``rows`` sampled from agency A,
the candidates are the exhaustive best k at the run's own candidate floor (every record of
agency B scored) in place of the search's. Floor, model fit, calibration, the match threshold
chosen and clustering are the same code on the same data, so what differs is what blocking
lost. Three levels, on the sampled records:

* **candidates** -- the search's pairs against the exhaustive best k: the share found, the
  records whose best candidate is the same, true pairs among each side's;
* **links at the same threshold** -- the records of B put in one case with a sampled record,
  by the run (its cases CSV) and by the pipeline with exhaustive candidates: the share of the
  exhaustive pipeline's links the run made too (and the reverse), and each side's precision
  and recall against the truth;
* **namesakes** -- of sampled records whose true partner is among the exhaustive candidates,
  the share for which another candidate scores a match weight at least as high: pairs no
  search can tell apart on these fields, which grow with the register (why F1 falls with
  size while the search keeps the true pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bloom import EncodedBatch
from linkage import CandidatePairs, candidates, plan_link, search, segment_words

__all__ = ["SampleFinder", "against_exhaustive", "best_candidate"]


class SampleFinder:
    """The run's candidate search, except for ``rows`` of ``a_batch`` against ``b_batch``:
    those get the exhaustive best k. Keeps what the search (``method`` of
    :func:`linkage.search`) and the exhaustive one returned for A against B
    (``found``, and ``exact`` for the rows: pairs with ``i`` as rows of A)."""

    def __init__(
        self, a_batch: EncodedBatch, b_batch: EncodedBatch, rows: np.ndarray, method: str = "auto"
    ) -> None:
        self.a, self.b, self.rows, self.method = a_batch.filters, b_batch.filters, rows, method
        self.segments = [(int(lo), int(hi)) for lo, hi in segment_words(a_batch.metadata)]
        self.found: CandidatePairs | None = None
        self.exact: CandidatePairs | None = None
        self.floor: float | None = None

    def _is_ours(self, a: np.ndarray, b: np.ndarray) -> bool:
        if a.shape != self.a.shape or b.shape != self.b.shape:
            return False
        return np.array_equal(a[self.rows], self.a[self.rows]) and np.array_equal(b, self.b)

    def __call__(self, a: np.ndarray, b: np.ndarray, floor: float, k: int) -> CandidatePairs:
        found = search(a, b, floor, k, segments=self.segments, method=self.method)
        if not self._is_ours(a, b):
            return found
        if self.found is not None:
            raise RuntimeError("agency A was searched against agency B twice")
        exact = candidates(a[self.rows], b, floor, k)
        exact = CandidatePairs(self.rows[exact.i], exact.j, exact.score)
        self.found, self.exact, self.floor = found, exact, floor
        keep = ~np.isin(found.i, self.rows)
        i = np.concatenate((found.i[keep], exact.i))
        j = np.concatenate((found.j[keep], exact.j))
        s = np.concatenate((found.score[keep], exact.score))
        order = np.lexsort((j, i))
        return CandidatePairs(i[order], j[order], s[order])


def best_candidate(i: np.ndarray, j: np.ndarray, s: np.ndarray) -> dict[int, int]:
    """Row -> its best candidate (higher score, then lower j)."""
    order = np.lexsort((j, -s, i))
    i, j = i[order], j[order]
    first = np.r_[True, i[1:] != i[:-1]] if i.size else np.zeros(0, bool)
    return dict(zip(i[first].tolist(), j[first].tolist(), strict=True))


def _pairs(p: CandidatePairs) -> set[tuple[int, int]]:
    return set(zip(p.i.tolist(), p.j.tolist(), strict=True))


def _candidate_level(
    found: CandidatePairs, exact: CandidatePairs, rows: np.ndarray, truth_b: np.ndarray
) -> dict[str, Any]:
    keep = np.isin(found.i, rows)
    mine = CandidatePairs(found.i[keep], found.j[keep], found.score[keep])
    exact_pairs, lsh_pairs = _pairs(exact), _pairs(mine)
    best_exact = best_candidate(exact.i, exact.j, exact.score)
    best_lsh = best_candidate(mine.i, mine.j, mine.score)
    true = {(int(r), int(truth_b[r])) for r in rows if truth_b[r] >= 0}
    return {
        "sampled_rows": int(rows.size),
        "recall_of_exhaustive_pairs": _share(lsh_pairs, exact_pairs),
        "same_best_candidate": _share(set(best_lsh.items()), set(best_exact.items())),
        "true_pairs_in_exhaustive": _share(exact_pairs, true),
        "true_pairs_in_run": _share(lsh_pairs, true),
    }


def _links(
    cases: pd.DataFrame, a_batch: EncodedBatch, b_batch: EncodedBatch, rows: np.ndarray
) -> set[tuple[int, int]]:
    """(row of A, row of B) for each sampled row of A and each record of B in its case."""
    case = cases.set_index(["agency", "record_ref"])["case_id"]
    ca = case.loc[a_batch.metadata.agency].reindex(a_batch.record_refs[rows]).to_numpy()
    cb = case.loc[b_batch.metadata.agency].reindex(b_batch.record_refs).to_numpy()
    left = pd.DataFrame({"row_a": rows, "case": ca})
    right = pd.DataFrame({"row_b": np.arange(cb.size), "case": cb})
    both = left.merge(right, on="case")
    return set(zip(both["row_a"].tolist(), both["row_b"].tolist(), strict=True))


def _share(part: set, whole: set) -> float | None:
    return round(len(part & whole) / len(whole), 4) if whole else None


def _link_level(run: set, exhaustive: set, true: set) -> dict[str, Any]:
    return {
        "links_of_exhaustive_made_by_run": _share(run, exhaustive),
        "links_of_run_made_by_exhaustive": _share(exhaustive, run),
        "sample_links_run": len(run),
        "sample_links_exhaustive": len(exhaustive),
        "sample_precision_run": _share(true, run),
        "sample_recall_run": _share(run, true),
        "sample_precision_exhaustive": _share(true, exhaustive),
        "sample_recall_exhaustive": _share(exhaustive, true),
    }


def _namesakes(
    pairs: pd.DataFrame,
    a_batch: EncodedBatch,
    b_batch: EncodedBatch,
    rows: np.ndarray,
    truth_b: np.ndarray,
) -> dict[str, Any]:
    """Of sampled rows whose true partner was scored, the share where another candidate's
    match weight is at least the true partner's."""
    ag_a, ag_b = a_batch.metadata.agency, b_batch.metadata.agency
    flip = pairs["agency_a"] == ag_b
    ref_a = np.where(flip, pairs["record_ref_b"], pairs["record_ref_a"])
    ref_b = np.where(flip, pairs["record_ref_a"], pairs["record_ref_b"])
    between = ((pairs["agency_a"] == ag_a) & (pairs["agency_b"] == ag_b)) | flip
    row_of_a = pd.Series(np.arange(len(a_batch)), index=a_batch.record_refs)
    row_of_b = pd.Series(np.arange(len(b_batch)), index=b_batch.record_refs)
    sampled = np.isin(ref_a, a_batch.record_refs[rows]) & between.to_numpy()
    ra = row_of_a.reindex(ref_a[sampled]).to_numpy()
    rb = row_of_b.reindex(ref_b[sampled]).to_numpy()
    w = pairs["weight"].to_numpy()[sampled]
    frame = pd.DataFrame({"ra": ra, "rb": rb, "w": w})
    frame["true"] = truth_b[frame["ra"]] == frame["rb"]
    true_w = frame[frame["true"]].groupby("ra")["w"].max()
    rival_w = frame[~frame["true"]].groupby("ra")["w"].max().reindex(true_w.index)
    beaten = (rival_w >= true_w).fillna(False)
    return {
        "true_partner_scored": int(true_w.size),
        "true_partner_matched_or_beaten_by_another": (
            round(float(beaten.mean()), 4) if true_w.size else None
        ),
    }


def against_exhaustive(
    batches: Sequence[EncodedBatch],
    run_cases: pd.DataFrame,
    rows: np.ndarray,
    truth_b: np.ndarray,
    *,
    link: Callable[..., Any] = plan_link,
) -> dict[str, Any]:
    """The three levels of the module's docstring for ``rows`` of ``batches[0]`` against
    ``batches[1]``; ``run_cases`` is the run's cases (agency, record_ref, case_id) and
    ``truth_b`` the row in B of each row of A's true partner (-1: none)."""
    a_batch, b_batch = batches[0], batches[1]
    finder = SampleFinder(a_batch, b_batch, rows)
    report = link(list(batches), find=finder, keep_pairs=True)
    if finder.found is None or finder.exact is None:
        raise RuntimeError("the pipeline never searched agency A against agency B")
    true = {(int(r), int(truth_b[r])) for r in rows if truth_b[r] >= 0}
    run = _links(run_cases, a_batch, b_batch, rows)
    exhaustive = _links(report.assignments, a_batch, b_batch, rows)
    return {
        **_candidate_level(finder.found, finder.exact, rows, truth_b),
        "exhaustive_pipeline_threshold": round(float(report.threshold), 4),
        **_link_level(run, exhaustive, true),
        **_namesakes(report.pairs, a_batch, b_batch, rows, truth_b),
    }
