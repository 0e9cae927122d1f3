"""`caselink bench --only families`: what household evidence buys, on household registers.

Each set is made by :func:`evaluation.generate_households` (three agencies), encoded with the
``person`` schema (which declares the household columns, so the batches carry the keyed
household groups and relationships) under a fixed secret, and linked twice by
:func:`linkage.link`: with the batches as encoded (collective linkage: household evidence in
the model) and with the same batches stripped of their groups and relationships (each record
on its own). Per run: pairwise precision, recall and F1, precision on sibling and on twin
pairs (:func:`evaluation.family_scores`), and the expected calibration error of the candidate
pairs reported at 0.1 or above. FEBRL4 has no households: its batches carry none, so the two
runs must give the same F1 (the "no loss on FEBRL" check).

The sets: ``default`` (the generator's defaults) and ``hard`` (ten commonest names per list,
corruptions doubled, 30% of members missing at an agency) — on the first there is little left
to gain, the second is where records alone fall short.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

import bloom
import linkage
from evaluation._datasets import load_febrl4
from evaluation._evaluate_households import run_figures, stripped
from evaluation._households_synth import HouseholdData, HouseholdRegistration, generate_households
from evaluation._metrics import pairwise_scores
from evaluation._synthetic import Messiness

__all__ = ["bench_families", "family_set", "link_households"]

SECRET = bloom.Secret(bytes(range(32)))  # fixed, so that runs repeat


def family_set(name: str, people: int, seed: int = 0) -> HouseholdData:
    """One of the bench's household sets (module docstring)."""
    if name == "default":
        return generate_households(people, 3, seed=seed)
    if name == "hard":
        return generate_households(
            people,
            3,
            seed=seed,
            common_names=10,
            messiness=Messiness().scaled(2.0),
            registration=HouseholdRegistration(missing_member=0.3),
        )
    raise ValueError(f"unknown household set {name!r}: default or hard")


def _encode(agencies: dict[str, pd.DataFrame]) -> list[bloom.EncodedBatch]:
    schema = bloom.Schema.load("person")
    return [
        bloom.encode(df, schema, SECRET, agency=name, id_column="record_ref")
        for name, df in agencies.items()
    ]


def link_households(
    batches: Sequence[bloom.EncodedBatch], truth: pd.DataFrame, *, households: bool
) -> dict[str, Any]:
    """Link ``batches`` (their households used, or stripped) and score the result
    (:func:`evaluation._evaluate_households.run_figures`, rounded)."""
    if not households:
        batches = stripped(batches)
    t0 = time.perf_counter()
    report = linkage.link(batches, keep_pairs=True)
    seconds = time.perf_counter() - t0
    figures = run_figures(report, truth)
    out = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    return out | {"link_seconds": round(seconds, 1)}


def _febrl() -> dict[str, Any]:
    """Pairwise F1 on FEBRL4 linked as encoded and with the (absent) households stripped:
    FEBRL has no households, so both must be the same."""
    data = load_febrl4()
    schema = bloom.Schema.load("febrl")
    batches = [
        bloom.encode(df, schema, SECRET, agency=name, id_column="record_ref")
        for name, df in (("a", data.a), ("b", data.b))
    ]
    # a true pair's two records share a label; every other record is its own entity
    label = {("a", r): f"e{k}" for k, r in enumerate(data.true_pairs["ref_a"])}
    label |= {("b", r): f"e{k}" for k, r in enumerate(data.true_pairs["ref_b"])}
    out = {}
    for households in (True, False):
        run = batches if households else stripped(batches)
        got = linkage.link(run).assignments
        keys = list(zip(got["agency"], got["record_ref"], strict=True))
        truth = np.array([label.get(k, f"{k[0]}:{k[1]}") for k in keys], dtype=object)
        scores = pairwise_scores(got["case_id"].to_numpy(), truth)
        out["as_encoded" if households else "stripped"] = round(scores.f1, 4)
    return out


def bench_families(
    people: int = 20_000, sets: Sequence[str] = ("default", "hard"), seed: int = 0
) -> dict[str, Any]:
    """Per household set: the scores with and without household evidence, and the gains."""
    out: dict[str, Any] = {"people": people, "seed": seed, "agencies": 3}
    for name in sets:
        data = family_set(name, people, seed)
        batches = _encode(dict(data.agencies))
        with_h = link_households(batches, data.truth, households=True)
        without = link_households(batches, data.truth, households=False)
        out[name] = {
            "records": len(data.truth),
            "households": len(data.households),
            "collective": with_h,
            "individual": without,
            "f1_gain_points": round(100 * (with_h["f1"] - without["f1"]), 2),
        }
    out["febrl4_f1"] = _febrl()
    return out
