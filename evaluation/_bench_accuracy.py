"""Linkage accuracy and calibration, as figures for ``caselink bench``.

The same pipeline as ``caselink evaluate`` (shipped schemas, automatic threshold, labels only
for scoring), with a fixed secret so the figures repeat, on FEBRL4, FEBRL3 in three agencies
(with and without duplicates) and 5,000 synthetic people in three agencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bloom
from evaluation._evaluate import load_dataset, run_evaluation

__all__ = ["accuracy_figures", "bench_accuracy", "bench_baseline", "bench_privacy"]

_SECRET = bloom.Secret(bytes(range(32)))
PRIVACY_PLOT = Path("bench/privacy_pareto.png")  # beside bench/results.json
_DATASETS = {
    "febrl4_two_agencies": "febrl4",
    "febrl3_three_agencies_one_per_person": "febrl3",
    "febrl3_three_agencies_with_duplicates": "febrl3-dup",
    "synthetic_5000_people_three_agencies": "synthetic",
}


def accuracy_figures(dataset: str) -> dict[str, Any]:
    r = run_evaluation(load_dataset(dataset), baseline=False, secret=_SECRET)
    acc, cal = r["accuracy"], r["calibration"]
    return {
        "records": r["records"],
        "threshold": round(r["threshold"], 4),
        "link_seconds": round(r["speed"]["link_seconds"], 2),
        **{k: round(v, 5) if isinstance(v, float) else v for k, v in acc.items()},
        "ece_linked_records": round(cal["ece_linked_records"], 4),
        "ece_candidate_pairs": round(cal["ece_candidate_pairs"], 4),
        "ece_candidate_pairs_from_0_1": round(cal["ece_candidate_pairs_from_0_1"], 4),
        "reliability_linked_records": cal["reliability_linked_records"]
        .dropna()
        .round(4)
        .to_dict(orient="records"),
    }


def bench_accuracy() -> dict[str, Any]:
    return {key: accuracy_figures(name) for key, name in _DATASETS.items()}


def bench_baseline() -> dict[str, Any]:
    """The plaintext recordlinkage baseline on the same four datasets."""
    from evaluation._baseline import baseline_scores

    return {kind: baseline_scores(kind) for kind in ("febrl4", "febrl3", "febrl3-dup", "synthetic")}


def bench_privacy(
    sizes: tuple[int, ...] | None = None,
    *,
    plot: Path | None = PRIVACY_PLOT,
    cells: Path | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The privacy table (:func:`evaluation._privacy_bench.privacy_bench`): per setting the red
    team's attacks at each size (default 5,000, 50,000 and 200,000 records; 200,000 for the
    main settings only), attribute exposure, and linkage F1 on three datasets; the Pareto plot
    goes to ``plot``. ``cells``: a folder of finished pieces to resume a run cut short."""
    from evaluation._privacy_bench import DEFAULT_SIZES, privacy_bench, privacy_figures

    table = privacy_bench(sizes or DEFAULT_SIZES, plot=plot, cells=cells, **options)
    return privacy_figures(table)


PROPOSAL_SIZES = (5_000, 50_000, 200_000)
PROPOSALS_PLOT = Path("bench/privacy_pareto_proposals.png")


def bench_privacy_proposals(cells: Path | None = None) -> dict[str, Any]:
    """The privacy table's rows added after its full run — the shipped defaults since 2026-12
    (revision 2: ``person``, ``febrl``), v3 (every name keyed by the year windows, name
    segments re-keyed per record) and ``person-recall`` (folded names on revision 1, scored in
    their folded space) — beside the unhardened revision 1 measured in the same run, at 5,000
    and 50,000 records, and the default and revision 1 again at 200,000 (the full table takes
    hours on two cores: ``--only privacy``)."""
    from evaluation._privacy_bench import privacy_bench, privacy_figures
    from evaluation._privacy_settings import DEFAULT, RECALL, V3, privacy_settings

    every = privacy_settings()
    settings = {name: every[name] for name in ("none", DEFAULT, V3, RECALL)}
    only_at = {200_000: ("none", DEFAULT)}
    table = privacy_bench(
        PROPOSAL_SIZES, settings, only_at=only_at, cells=cells, plot=PROPOSALS_PLOT
    )
    return privacy_figures(table)
