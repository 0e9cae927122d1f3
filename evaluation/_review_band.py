"""Which band of match probability a clerical review queue should hold: measured, not guessed.

A run keeps every candidate link at or above 0.01 in the registry. A review queue holds the
cross-agency links whose probability is inside a band ``[low, high]``; people resolve them.
A band is good when it holds most of the run's wrong decisions -- false links (two people in
one case) and missed links (one person in two cases) -- while holding few pairs in all.

:func:`band_figures` links a labelled dataset once (``linkage.link``, ``keep_pairs``) and,
for each band, counts:

- ``errors``: record pairs of two agencies the run got wrong (pairwise, over every pair a
  case holds and every true pair; a missed pair no candidate search found counts too);
- ``reachable``: those errors that are a stored link at all (a pair no search found, or a
  false link made through a third record, is in no band);
- ``captured``: those errors that are a stored link with probability inside the band, so a
  review would see them;
- ``queued_per_1000``: stored cross-agency links inside the band, per 1,000 records.

:func:`measure` does it for the datasets named in the review band's docstring
(``service._review.DEFAULT_REVIEW_BAND``), where the figures and the command are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import bloom

__all__ = ["BANDS", "BandFigures", "band_figures", "bench_review_band", "measure"]

STORED_FROM = 0.01  # linkage keeps links from this probability on (linkage._link)
BANDS: tuple[tuple[float, float], ...] = tuple(
    (lo, hi)
    for lo in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
    for hi in (0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
)


@dataclass(frozen=True)
class BandFigures:
    """What one band would have queued on one dataset."""

    dataset: str
    low: float
    high: float
    records: int
    errors: int  # wrong pairwise decisions: false links plus missed links
    reachable: int  # of them, stored links: a band can hold them (others were never scored)
    captured: int  # of them, stored links inside the band
    queued: int  # stored cross-agency links inside the band

    @property
    def share_captured(self) -> float:
        return self.captured / self.errors if self.errors else 1.0

    @property
    def queued_per_1000(self) -> float:
        return 1000 * self.queued / self.records


def _pairs_of(groups: pd.DataFrame, key: str) -> pd.DataFrame:
    """Every pair of records of two agencies sharing ``key``, as ``a, b`` record keys a < b."""
    m = groups.merge(groups, on=key, suffixes=("_a", "_b"))
    m = m[(m["agency_a"] != m["agency_b"]) & (m["rec_a"] < m["rec_b"])]
    return m[["rec_a", "rec_b"]]


def _error_pairs(assignments: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The pairs decided wrongly: together but not one person, or one person but apart."""
    rec = assignments["agency"] + "\x1f" + assignments["record_ref"]
    cases = pd.DataFrame({"rec": rec, "agency": assignments["agency"], "g": assignments["case_id"]})
    entity = pd.DataFrame(
        {
            "rec": truth["agency"] + "\x1f" + truth["record_ref"],
            "agency": truth["agency"],
            "g": truth["entity_id"].astype(str),
        }
    )
    together = _pairs_of(cases, "g")
    same = _pairs_of(entity, "g")
    both = together.merge(same, how="outer", indicator=True)
    return both[both["_merge"] != "both"][["rec_a", "rec_b"]]


def _stored_links(pairs: pd.DataFrame) -> pd.DataFrame:
    """Stored cross-agency links as ``rec_a < rec_b`` with their probability."""
    keep = (pairs["probability"] >= STORED_FROM) & (pairs["agency_a"] != pairs["agency_b"])
    p = pairs[keep]
    x = p["agency_a"] + "\x1f" + p["record_ref_a"]
    y = p["agency_b"] + "\x1f" + p["record_ref_b"]
    return pd.DataFrame(
        {
            "rec_a": np.where(x < y, x, y),
            "rec_b": np.where(x < y, y, x),
            "probability": p["probability"].to_numpy(),
        }
    )


def band_figures(
    name: str,
    agencies: dict[str, pd.DataFrame],
    truth: pd.DataFrame,
    schema: str,
    bands: Sequence[tuple[float, float]] = BANDS,
    seed: int = 0,
) -> list[BandFigures]:
    """Encode and link ``agencies`` once (secret from ``seed``), then the figures of each band."""
    from linkage import link

    secret = bloom.Secret(np.random.default_rng(seed).bytes(32))
    s = bloom.Schema.load(schema)
    batches = [
        bloom.encode(df, s, secret, agency=a, id_column="record_ref") for a, df in agencies.items()
    ]
    report = link(batches, keep_pairs=True)
    assert report.pairs is not None
    errors = _error_pairs(report.assignments, truth)
    links = _stored_links(report.pairs)
    wrong = links.merge(errors, on=["rec_a", "rec_b"])["probability"].to_numpy()
    p = links["probability"].to_numpy()
    n = sum(len(b) for b in batches)
    return [
        BandFigures(
            name,
            lo,
            hi,
            n,
            len(errors),
            len(wrong),
            int(np.count_nonzero((wrong >= lo) & (wrong <= hi))),
            int(np.count_nonzero((p >= lo) & (p <= hi))),
        )
        for lo, hi in bands
    ]


def _datasets(
    people: int, seed: int
) -> list[tuple[str, dict[str, pd.DataFrame], pd.DataFrame, str]]:
    from evaluation._datasets import load_febrl4_agencies
    from evaluation._households_synth import generate_households
    from evaluation._synthetic import generate

    syn = generate(people, 3, seed=seed)
    hh = generate_households(people, 3, seed=seed)
    febrl = load_febrl4_agencies()
    return [
        ("synthetic", dict(syn.agencies), syn.truth, "person"),
        ("households", dict(hh.agencies), hh.truth, "person"),
        ("febrl4", febrl.agencies, febrl.truth, "febrl"),
    ]


def measure(people: int = 2000, seeds: Sequence[int] = (0,)) -> pd.DataFrame:
    """Every band of :data:`BANDS` on the synthetic registers (``people`` people, three
    agencies, one set per seed of ``seeds``), the household registers (the same) and FEBRL4,
    one row per band and dataset (seeds summed), plus the pooled figures of each band
    (dataset ``all``)."""
    rows = []
    for seed in seeds:
        for name, agencies, truth, schema in _datasets(people, seed):
            if name == "febrl4" and seed != seeds[0]:
                continue  # one FEBRL4: it has no seed
            rows += band_figures(name, agencies, truth, schema, seed=seed)
    df = pd.DataFrame(
        [
            {
                "dataset": r.dataset,
                "low": r.low,
                "high": r.high,
                "records": r.records,
                "errors": r.errors,
                "reachable": r.reachable,
                "captured": r.captured,
                "queued": r.queued,
            }
            for r in rows
        ]
    )
    summed = ["records", "errors", "reachable", "captured", "queued"]
    by_set = df.groupby(["dataset", "low", "high"], as_index=False)[summed].sum()
    pooled = df.groupby(["low", "high"], as_index=False)[summed].sum()
    df = pd.concat([by_set, pooled.assign(dataset="all")], ignore_index=True)
    df["share_captured"] = df["captured"] / df["errors"].clip(lower=1)
    df["share_of_reachable"] = df["captured"] / df["reachable"].clip(lower=1)
    df["queued_per_1000"] = 1000 * df["queued"] / df["records"]
    return df


def bench_review_band(people: int = 5000, seeds: Sequence[int] = (0, 1)) -> dict[str, object]:
    """`caselink bench --only review_band`: the pooled figures of the service's default band
    and of its neighbours (:func:`measure`), so the default's docstring quotes a rerunnable
    command."""
    from service.api.models_reviews import DEFAULT_REVIEW_BAND

    pooled = measure(people, seeds).query("dataset == 'all'")
    shown = {tuple(DEFAULT_REVIEW_BAND), (0.1, 0.9), (0.02, 0.9), (0.01, 0.99)}
    rows = {
        f"[{r.low}, {r.high}]": {
            "errors": int(r.errors),
            "reachable": int(r.reachable),
            "captured": int(r.captured),
            "share_captured": round(float(r.share_captured), 3),
            "share_of_reachable": round(float(r.share_of_reachable), 3),
            "queued_per_1000_records": round(float(r.queued_per_1000), 1),
        }
        for r in pooled.itertuples()
        if (r.low, r.high) in shown
    }
    return {
        "people": people,
        "seeds": list(seeds),
        "records": int(pooled["records"].iloc[0]),
        "default_band": list(DEFAULT_REVIEW_BAND),
        "bands": rows,
    }
