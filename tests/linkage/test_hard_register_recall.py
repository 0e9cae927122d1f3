"""Recall on a small hard register: the person-recall options link pairs person-v1 misses.

The registers come from :mod:`evaluation._hard_registers` (namesakes, four transliteration
schemes, swapped names, a father's name written as the family name, 1 January and estimated
dates), whose error model shares nothing with the synthetic generator the schemas were built on.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

import bloom
from evaluation._hard_registers import generate_hard
from evaluation._hard_registers_eval import SECRET, link_hard, true_pairs
from evaluation._metrics import pairwise_scores
from linkage._features import segment_dice, segment_words


def _recall_schema() -> bloom.Schema:
    return bloom.Schema.load(resources.files("bloom.schemas").joinpath("person-recall.json"))


@pytest.fixture(scope="module")
def register():
    return generate_hard("moderate", families=350, seed=5)


def _linked(data, schema):
    _, report = link_hard(data, schema)
    m = report.assignments.merge(data.truth, on=["agency", "record_ref"])
    scores = pairwise_scores(m["case_id"].to_numpy(), m["entity_id"].to_numpy())
    case = m.set_index(["agency", "record_ref"])["case_id"]
    pairs = true_pairs(data.truth)
    ends = [
        pd.MultiIndex.from_arrays([pairs[f"agency_{s}"], pairs[f"record_ref_{s}"]]) for s in "ab"
    ]
    together = case.reindex(ends[0]).to_numpy() == case.reindex(ends[1]).to_numpy()
    return scores, together


def test_person_recall_links_true_pairs_person_misses_without_losing_precision(register):
    old, old_together = _linked(register, bloom.Schema.load("person-v1"))
    new, new_together = _linked(register, _recall_schema())
    assert new.recall >= old.recall + 0.03
    assert new.precision >= old.precision - 0.005
    gained, lost = new_together & ~old_together, old_together & ~new_together
    assert gained.sum() >= 3 * max(lost.sum(), 1)


def _name_dice(df: pd.DataFrame, schema: bloom.Schema) -> float:
    batch = bloom.encode(df, schema, SECRET, agency="a")
    names = [n for n, _ in batch.metadata.segments]
    bounds = segment_words(batch.metadata)
    dice = segment_dice(batch.filters, batch.filters, np.array([0]), np.array([1]), bounds)
    return float(dice[0, names.index("name")])


def _two(**cols: tuple[str | None, str | None]) -> pd.DataFrame:
    base = {
        "given_name": ("Amina", "Amina"),
        "family_name": ("Hassan", "Hassan"),
        "father_name": ("Yusuf", "Yusuf"),
        "sex": ("F", "F"),
        "date_of_birth": ("1990-01-01", "1990"),
        "place_of_birth": ("Homs", "Homs"),
    }
    return pd.DataFrame({k: list(v) for k, v in (base | cols).items()})


def test_given_and_family_in_either_order_give_one_name_segment():
    swapped = _two(given_name=("Amina", "Hassan"), family_name=("Hassan", "Amina"))
    for schema in (bloom.Schema.load("person-v1"), _recall_schema()):
        assert _name_dice(swapped, schema) == 1.0


def test_romanisations_of_one_name_agree_more_after_folding():
    spelt = _two(given_name=("Mouhamed", "Muhammad"), family_name=("El-Khatib", "Al Khateeb"))
    assert _name_dice(spelt, _recall_schema()) == 1.0
    assert _name_dice(spelt, bloom.Schema.load("person-v1")) < 0.8


def test_a_family_name_written_as_the_father_s_name_still_agrees_on_the_name():
    shifted = _two(family_name=("Hassan", "Yusuf"), father_name=("Yusuf", None))
    before = _name_dice(shifted, bloom.Schema.load("person-v1"))
    after = _name_dice(shifted, _recall_schema())
    assert after > before + 0.1
