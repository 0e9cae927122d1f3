"""The partial-overlap setting of the graph attack on synthetic registers, and its rates.

The attacked agency's register and the attacker's plaintext come from two agencies of one
synthetic population (:func:`evaluation._synthetic.generate`): each registration is its own
corrupted copy of the person (typos, transliterations, missing fields, estimated dates), so
the attacker's plaintext never equals the batch's. Public API::

    setting = partial_overlap_setting(5000, seed=0)   # ~half of the records' people known
    rates = overlap_rates(setting, schema, secret, attacker_secret)   # privacy-table columns
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import bloom
from evaluation._attack_graph_overlap import OverlapScore, overlap_graph_attack
from evaluation._synthetic import Messiness, SyntheticData, generate

__all__ = [
    "OverlapSetting",
    "known_pairs",
    "overlap_rates",
    "overlap_setting",
    "partial_overlap_setting",
]

_HELD = 0.6  # chance that the attacked agency holds a person of the population


@dataclass(frozen=True)
class OverlapSetting:
    """An attacked register, the attacker's plaintext, and who is who."""

    register: pd.DataFrame  # the attacked agency's register: record_ref and the columns
    plaintext: pd.DataFrame  # the attacker's register from another source, shuffled
    truth: np.ndarray  # per register record: the plaintext row of its person, -1 if none


def overlap_setting(data: SyntheticData, target: str, source: str) -> OverlapSetting:
    """``target``'s register under attack, ``source``'s register as the attacker's plaintext.

    A person with several rows in ``source`` counts as found at the first of them.
    """
    if target == source:
        raise ValueError("target and source must be two different agencies")
    entity = {}
    for agency in (target, source):
        refs = data._refs(agency)  # raises on an unknown agency
        entity[agency] = refs.set_index("record_ref")["entity_id"]
    register = data.agencies[target].reset_index(drop=True)
    plaintext = data.agencies[source].drop(columns="record_ref").reset_index(drop=True)
    source_entity = data.agencies[source]["record_ref"].map(entity[source]).to_numpy()
    first_row = pd.Series(np.arange(len(plaintext))).groupby(source_entity).min()
    people = register["record_ref"].map(entity[target])
    truth = people.map(first_row).fillna(-1).to_numpy(dtype=np.int64)
    return OverlapSetting(register=register, plaintext=plaintext, truth=truth)


def partial_overlap_setting(
    n_records: int,
    seed: int = 0,
    *,
    overlap: float = 0.5,
    messiness: Messiness | None = None,
) -> OverlapSetting:
    """About ``n_records`` attacked records; the attacker's plaintext holds a share
    ``overlap`` of their people and, for every 0.6 of them, 0.4 people the agency never saw.
    """
    good_n = isinstance(n_records, numbers.Integral) and not isinstance(n_records, bool)
    if not good_n or n_records < 10:
        raise ValueError("n_records must be an integer of 10 or more")
    good_overlap = isinstance(overlap, numbers.Real) and not isinstance(overlap, bool)
    if not good_overlap or not 0 < overlap < 1:
        raise ValueError("overlap must be a share strictly between 0 and 1")
    people = math.ceil(1.02 * n_records * (1 - (1 - _HELD) * (1 - overlap)) / _HELD)
    data = generate(people, 2, overlap=[_HELD, float(overlap)], seed=seed, messiness=messiness)
    setting = overlap_setting(data, "agency-a", "agency-b")
    keep = min(int(n_records), len(setting.register))
    return OverlapSetting(setting.register.iloc[:keep], setting.plaintext, setting.truth[:keep])


def known_pairs(setting: OverlapSetting, count: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``count`` random (record, row) pairs of the same person: what an attacker may know."""
    both = np.flatnonzero(setting.truth >= 0)
    if not isinstance(count, numbers.Integral) or not 0 <= count <= both.size:
        raise ValueError(f"count must be an integer from 0 to {both.size}")
    chosen = np.sort(np.random.default_rng([seed, 5]).permutation(both)[:count])
    return chosen, setting.truth[chosen]


def overlap_rates(
    setting: OverlapSetting,
    schema: bloom.Schema,
    secret: bloom.Secret,
    attacker: bloom.Secret,
    *,
    known: int = 0,
    **attack: Any,
) -> dict[str, float]:
    """The graph attack's columns of the privacy table, for one schema (hardening included).

    ``secret`` encodes the attacked register, ``attacker`` the attacker's plaintext;
    ``known``: people the attacker knows on both sides (:func:`known_pairs`), 0 for none;
    ``attack``: keyword arguments of :func:`overlap_graph_attack`. The known records count
    among the records but never as re-identified.
    """
    filters = bloom.encode(setting.register, schema, secret, id_column="record_ref").filters
    pairs = known_pairs(setting, known) if known else None
    result: OverlapScore = overlap_graph_attack(
        filters, setting.plaintext, schema, attacker, known=pairs, **attack
    ).score(setting.truth)
    return {
        "graph_overlap_precision": result.precision,
        "graph_overlap_reidentified": result.recall,
        "graph_overlap_top10_precision": result.top_precision,
        "graph_overlap_claimed": result.claimed,
        "graph_overlap_outside_unmatched": result.outside_unmatched,
        "graph_overlap_random_precision": result.random_precision,
    }
