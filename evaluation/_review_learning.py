"""What review decisions are worth to the next run's EM, measured: :func:`measure`.

A registry is built in two runs. The first links most of each agency's records; a perfect
clerical review (decisions from the truth) then resolves every stored cross-agency link
inside the service's default review band, which become must-link and cannot-link
constraints. The second run links the rest of the records under those constraints twice:
once with EM fitting the reviewed pairs as labels (:mod:`linkage._review_labels`, as the
service's runs do) and once without (``learn_from_constraints=False``); clustering respects
the constraints both times, so the difference is what the labels did to the model.

Per dataset and variant: the labelled pairs fitted, the pairwise precision, recall and F1 of
the pairs holding a record of the second run (the pairs its decisions made or missed), the
pairwise F1 over every record, and the calibration of the second run's scored pairs (ECE
from 0.1 up, Brier score over all of them). ``caselink bench --only review_learning`` runs
it (``bench/results.json``); README's clerical review section quotes the figures.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bloom
from evaluation._metrics import expected_calibration_error, pairwise_scores

__all__ = ["bench_review_learning", "learning_figures", "measure"]

LATER = 0.2  # the share of each agency's records the second run brings


def _key(agency: Any, ref: Any) -> Any:
    return np.asarray(agency, dtype=object) + "\x1f" + np.asarray(ref, dtype=object)


def _new_pair_scores(case: np.ndarray, entity: np.ndarray, new: np.ndarray) -> dict[str, float]:
    """Pairwise precision, recall and F1 over the pairs holding a new record."""

    def pairs(groups: list[np.ndarray]) -> int:
        frame = pd.DataFrame({f"g{i}": g for i, g in enumerate(groups)})
        frame["new"] = new
        sizes = frame.groupby([f"g{i}" for i in range(len(groups))])["new"].agg(["size", "sum"])
        n, old = sizes["size"].to_numpy(), (sizes["size"] - sizes["sum"]).to_numpy()
        return int((n * (n - 1) // 2 - old * (old - 1) // 2).sum())

    tp, pp, tt = pairs([case, entity]), pairs([case]), pairs([entity])
    precision, recall = tp / pp if pp else 1.0, tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision_new": precision, "recall_new": recall, "f1_new": f1}


def _review(state: Any, entity: pd.Series, band: tuple[float, float]) -> Any:
    """The constraints a perfect review of the band's stored cross-agency links makes."""
    from linkage import Constraints

    where = pd.Series(np.arange(len(state.ids)), index=state.ids)
    a = where.reindex(state.link_a).to_numpy()
    b = where.reindex(state.link_b).to_numpy()
    p = np.asarray(state.link_p, dtype=float)
    inside = (p >= band[0]) & (p <= band[1]) & (state.agencies[a] != state.agencies[b])
    a, b = a[inside], b[inside]
    keys = _key(state.agencies, state.refs)
    same = entity.reindex(keys[a]).to_numpy() == entity.reindex(keys[b]).to_numpy()
    ids = np.stack([state.ids[a], state.ids[b]], axis=1)
    return Constraints.of(ids[same], ids[~same])


def learning_figures(
    name: str,
    agencies: dict[str, pd.DataFrame],
    truth: pd.DataFrame,
    schema: str,
    seed: int = 0,
    band: tuple[float, float] | None = None,
) -> list[dict[str, Any]]:
    """The module docstring's figures on one dataset, one row per variant."""
    from linkage import Registry, link, plan_link
    from service.api.models_reviews import DEFAULT_REVIEW_BAND

    band = band or DEFAULT_REVIEW_BAND
    secret = bloom.Secret(np.random.default_rng(seed).bytes(32))
    s = bloom.Schema.load(schema)
    cut = {a: round(len(df) * (1 - LATER)) for a, df in agencies.items()}

    def encode(part: dict[str, pd.DataFrame]) -> list[bloom.EncodedBatch]:
        return [
            bloom.encode(df.reset_index(drop=True), s, secret, agency=a, id_column="record_ref")
            for a, df in part.items()
        ]

    first = encode({a: df.iloc[: cut[a]] for a, df in agencies.items()})
    second = encode({a: df.iloc[cut[a] :] for a, df in agencies.items()})
    entity = pd.Series(
        truth["entity_id"].astype(str).to_numpy(), index=_key(truth["agency"], truth["record_ref"])
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry.open(Path(tmp) / "registry.sqlite")
        link(first, registry=registry, seed=seed)
        state = registry.state()
    constraints = _review(state, entity, band)
    for learn in (False, True):
        report = plan_link(
            second,
            state=state,
            constraints=constraints,
            keep_pairs=True,
            seed=seed,
            learn_from_constraints=learn,
        )
        update = report.update
        assert update is not None and report.pairs is not None
        case = pd.Series(state.case_ids, index=_key(state.agencies, state.refs), dtype=object)
        changed = pd.Series(update.changed_case_ids, index=update.changed_ids, dtype=object)
        case.iloc[pd.Index(state.ids).get_indexer(changed.index)] = changed.to_numpy()
        new = pd.Series(
            update.new_case_ids, index=_key(update.new_agencies, update.new_refs), dtype=object
        )
        case = pd.concat([case, new])
        truth_of = entity.reindex(case.index).to_numpy()
        is_new = np.r_[np.zeros(len(state.ids), bool), np.ones(len(new), bool)]
        pairs = report.pairs
        same = entity.reindex(_key(pairs["agency_a"], pairs["record_ref_a"])).to_numpy() == (
            entity.reindex(_key(pairs["agency_b"], pairs["record_ref_b"])).to_numpy()
        )
        prob = pairs["probability"].to_numpy()
        rows.append(
            {
                "dataset": name,
                "seed": seed,
                "labels": learn,
                "reviewed": len(constraints),
                "labelled_pairs": report.labelled_pairs,
                **_new_pair_scores(case.to_numpy(), truth_of, is_new),
                "f1_all": pairwise_scores(case.to_numpy(), truth_of).f1,
                "ece": expected_calibration_error(prob, same, min_probability=0.1),
                "brier": float(np.mean((prob - same) ** 2)),
            }
        )
    return rows


def _datasets(people: int, seed: int) -> list[tuple[str, dict[str, pd.DataFrame], pd.DataFrame]]:
    from evaluation._households_synth import generate_households
    from evaluation._synthetic import generate

    syn = generate(people, 3, seed=seed)
    hh = generate_households(people, 3, seed=seed)
    return [
        ("synthetic", dict(syn.agencies), syn.truth),
        ("households", dict(hh.agencies), hh.truth),
    ]


def _hard_datasets() -> list[tuple[str, dict[str, pd.DataFrame], pd.DataFrame]]:
    """The calibration check's hard datasets (:mod:`evaluation._calibration_check`): the
    register of namesakes and both presets of the hard registers."""
    from evaluation._hard_registers import generate_hard
    from evaluation._synthetic import generate

    names = generate(10_000, 2, overlap=1 / 3, seed=1, common_names=5)
    out = [("namesakes", dict(names.agencies), names.truth)]
    for preset in ("moderate", "heavy"):
        d = generate_hard(preset)
        out.append((f"hard {preset}", dict(d.agencies), d.truth))
    return out


def measure(people: int = 3000, seeds: Sequence[int] = (0, 1)) -> pd.DataFrame:
    """:func:`learning_figures` on the synthetic and household registers of the review band's
    measurement (``people`` people, three agencies, one set per seed of ``seeds``) and, once,
    on the namesakes and the hard registers; one row per dataset, seed and variant."""
    rows = []
    for seed in seeds:
        for name, agencies, truth in _datasets(people, seed):
            rows += learning_figures(name, agencies, truth, "person", seed=seed)
    for name, agencies, truth in _hard_datasets():
        rows += learning_figures(name, agencies, truth, "person", seed=seeds[0])
    return pd.DataFrame(rows)


def bench_review_learning(people: int = 3000, seeds: Sequence[int] = (0, 1)) -> dict[str, Any]:
    """`caselink bench --only review_learning`: :func:`measure`'s rows, and per variant the
    figures averaged over its rows."""
    df = measure(people, seeds)
    figures = ["f1_new", "precision_new", "recall_new", "f1_all", "ece", "brier"]
    mean = df.groupby("labels")[figures].mean()
    return {
        "people": people,
        "seeds": list(seeds),
        "reviewed_pairs": int(df.loc[df["labels"], "reviewed"].sum()),
        "labelled_pairs": int(df.loc[df["labels"], "labelled_pairs"].sum()),
        "without_labels": {k: round(float(v), 4) for k, v in mean.loc[False].items()},
        "with_labels": {k: round(float(v), 4) for k, v in mean.loc[True].items()},
        "rows": df.round(4).to_dict(orient="records"),
    }
