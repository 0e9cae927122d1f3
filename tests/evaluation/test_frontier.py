"""The frontier's grouping exposure: groups of near-identical segment bits, sorted by value."""

import numpy as np
import pandas as pd

import bloom
from evaluation._frontier import grouping_exposure, segment_exposure


def _rows(patterns: list[int], words: int = 2) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = {p: rng.integers(0, 2**63, words, dtype=np.uint64) for p in set(patterns)}
    return np.array([base[p] for p in patterns], dtype=np.uint64)


def test_a_segment_holding_one_category_exposes_everyone():
    f = _rows([0] * 6 + [1] * 6)
    values = np.array(["f"] * 6 + ["m"] * 6, dtype=object)
    assert segment_exposure(f, 0, 2, values) == 1.0


def test_distinct_patterns_expose_nobody_and_small_or_mixed_groups_neither():
    values = np.array(["f", "m"] * 6, dtype=object)
    assert segment_exposure(_rows(list(range(12))), 0, 2, values) == 0.0
    assert segment_exposure(_rows([0] * 12), 0, 2, values) == 0.0  # half f, half m
    assert segment_exposure(_rows([0] * 4 + list(range(1, 9))), 0, 2, np.full(12, "f")) == 0.0


def test_near_identical_rows_group_and_empty_segments_do_not():
    f = _rows([0] * 8)
    f[np.arange(8), 0] ^= np.uint64(1) << np.arange(8, dtype=np.uint64)  # one bit apart each
    values = np.full(8, "1990", dtype=object)
    assert segment_exposure(f, 0, 2, values) == 1.0
    assert segment_exposure(np.zeros((8, 2), np.uint64), 0, 2, values) == 0.0


def test_grouping_exposure_reads_each_segment_of_a_schema(secret):
    s = bloom.Schema.from_dict(
        {
            "version": 1,
            "filter": {"segments": [{"name": "name", "bits": 128}, {"name": "sex", "bits": 64}]},
            "fields": [
                {"name": "name", "type": "name", "segment": "name"},
                {"name": "sex", "type": "category", "segment": "sex"},
            ],
        }
    )
    df = pd.DataFrame({"name": [f"n{i}x{i * 7}" for i in range(20)], "sex": ["f", "m"] * 10})
    found = grouping_exposure(bloom.encode(df, s, secret).filters, s, {"sex": df["sex"].to_numpy()})
    assert found["sex"]["sex"] == 1.0 and found["sex"]["name"] == 0.0


def test_attacks_are_scored_in_the_schemas_own_normalised_space():
    """Under a folding schema the filters hold folded names: an attack that recovers the
    folded name has named the person, and must score so (scored against the spelling as
    written, person-recall looked private when it was not)."""
    from importlib import resources

    from evaluation._frontier import _share, scored_truth

    register = pd.DataFrame(
        {
            "given_name": ["Mohammed", "Muhamad", "Khadija"],
            "family_name": ["Al-Hassan", "Alhasan", "Osman"],
        }
    )
    recall = bloom.Schema.load(resources.files("bloom.schemas").joinpath("person-recall.json"))
    folded = scored_truth(register, recall)
    plain = scored_truth(register, bloom.Schema.load("person-v1"))
    assert folded["given_name"][0] == folded["given_name"][1]  # one person, two spellings
    assert plain["given_name"][0] != plain["given_name"][1]
    recovered = folded["given_name"].copy()  # what an attack on person-recall can return
    assert _share(recovered, folded["given_name"]) == 1.0
    assert _share(recovered, plain["given_name"]) < 1.0  # the trap this scoring avoids
