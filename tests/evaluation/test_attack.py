"""The privacy red team: unhardened filters leak names, hardening stops the frequency attack,
the graph attack beats chance, the compiled kernels match their oracles, bad input is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bloom
from evaluation._attack import (
    HARDENING_SETTINGS,
    most_frequent_names,
    privacy_table,
    reidentification_rate,
)
from evaluation._attack_decode import (
    best_pairs,
    best_pairs_reference,
    top_k_columns,
    top_k_columns_reference,
)
from evaluation._attack_freq import _l1, frequency_attack, mine_itemsets
from evaluation._attack_graph import graph_attack
from evaluation._attack_names import expected_cooccurrence, public_names
from evaluation._synthetic import name_table

KERNELS = settings(max_examples=60, deadline=None)


def person(hardening: dict | None = None) -> bloom.Schema:
    doc = bloom.Schema.load("person-v1").document
    doc["hardening"] = hardening or {}
    return bloom.Schema.from_dict(doc)


@pytest.fixture(scope="module")
def register(agency_register) -> pd.DataFrame:
    """979 registrations of one agency (1,500 people in three agencies; the session's, as
    test_attack_adaptive's: tests/evaluation/conftest.py)."""
    return agency_register


@pytest.fixture(scope="module")
def names(v1_names):
    return v1_names


def rates(attack, register: pd.DataFrame, schema: bloom.Schema) -> tuple[float, float]:
    return (
        reidentification_rate(attack.given, register["given_name"], schema, "given_name"),
        reidentification_rate(attack.family, register["family_name"], schema, "family_name"),
    )


def baseline(register: pd.DataFrame, names, schema: bloom.Schema) -> tuple[float, float]:
    given_name, family_name = most_frequent_names(names)
    n = len(register)
    return (
        reidentification_rate([given_name] * n, register["given_name"], schema, "given_name"),
        reidentification_rate([family_name] * n, register["family_name"], schema, "family_name"),
    )


@pytest.fixture(scope="module")
def unhardened(unhardened_attack):
    """The attack on ``register`` unhardened (``person()``), and that schema."""
    return unhardened_attack


# -- the frequency attack ------------------------------------------------------------------
def test_unhardened_filters_leak_names_far_beyond_guessing_the_most_frequent(
    unhardened, register, names
):
    attack, schema = unhardened
    given_rate, family_rate = rates(attack, register, schema)
    base_given, base_family = baseline(register, names, schema)
    assert base_given < 0.05 and base_family < 0.05
    # measured on this data: about 0.8 and 0.75 against 0.02
    assert given_rate > max(0.5, 10 * base_given)
    assert family_rate > max(0.5, 10 * base_family)


def test_the_attack_reports_what_it_mined_and_learned(unhardened):
    attack, _ = unhardened
    assert attack.itemsets >= attack.aligned >= 10
    assert attack.tokens_learned >= attack.aligned
    assert 0 < attack.rounds <= 4
    assert 0.5 < attack.explained <= 1


@pytest.mark.parametrize("setting", ["salt(birth year)", "diffusion(t=5)"])
def test_hardening_brings_the_frequency_attack_down_to_the_baseline(
    setting, unhardened, register, names, secret
):
    schema = person(dict(HARDENING_SETTINGS[setting]))
    attack = frequency_attack(bloom.encode(register, schema, secret).filters, schema, names)
    given_rate, family_rate = rates(attack, register, schema)
    base_given, base_family = baseline(register, names, schema)
    open_given, open_family = rates(unhardened[0], register, unhardened[1])
    assert attack.aligned == 0 and attack.rounds == 0
    assert given_rate <= base_given + 0.02 < open_given / 10
    assert family_rate <= base_family + 0.02 < open_family / 10


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=5, deadline=None)
def test_mining_finds_planted_qgram_positions_in_random_bits(seed):
    """Ten-bit sets switched on all-or-nothing at their own rates, in 20% background noise."""
    rng = np.random.default_rng(seed)
    n, m = 2000, 256
    bits = rng.random((n, m)) < 0.2
    planted = rng.permutation(m)[:60].reshape(6, 10)
    for cols, rate in zip(planted, (0.4, 0.3, 0.25, 0.2, 0.15, 0.1), strict=True):
        bits[np.ix_(rng.random(n) < rate, cols)] = True
    sets, support = mine_itemsets(bits, 10)
    found = {frozenset(np.flatnonzero(s).tolist()) for s in sets}
    assert {frozenset(c.tolist()) for c in planted} <= found
    assert ((support > 0) & (support <= 1)).all()


def test_expected_cooccurrence_is_a_joint_law_of_the_tokens(names):
    tokens = np.argsort(-names.token_support())[:40]
    joint = expected_cooccurrence(names, tokens)
    single = np.diag(joint)
    assert np.allclose(joint, joint.T)
    assert np.allclose(single, names.token_support()[tokens])
    assert (joint >= -1e-12).all()
    assert (joint <= np.minimum(single[:, None], single[None, :]) + 1e-12).all()


# -- the compiled kernels against their oracles --------------------------------------------
@st.composite
def pair_problems(draw):
    n, k, q = draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(1, 12))
    n_given, n_family = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def csr(rows: int) -> tuple[np.ndarray, np.ndarray]:
        lists = [np.flatnonzero(rng.random(q) < 0.4) for _ in range(rows)]
        ptr = np.concatenate([[0], np.cumsum([len(t) for t in lists])]).astype(np.int64)
        ind = np.concatenate([*lists, np.zeros(0, np.int64)]).astype(np.int64)
        return ind, ptr

    def small_ints(*shape: int) -> np.ndarray:  # exact in float arithmetic, ties likely
        return rng.integers(-5, 6, size=shape).astype(np.float32)

    g_ind, g_ptr = csr(n_given)
    f_ind, f_ptr = csr(n_family)
    return (
        small_ints(n, q),
        rng.integers(0, n_given, size=(n, k)),
        rng.integers(0, n_family, size=(n, k)),
        g_ind,
        g_ptr,
        f_ind,
        f_ptr,
        small_ints(n, k),
        small_ints(n, k),
        small_ints(n, k, k).astype(np.float64),
    )


@given(problem=pair_problems())
@KERNELS
def test_best_pairs_kernel_matches_its_oracle(problem):
    fast = best_pairs(*problem)
    slow = best_pairs_reference(*problem)
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])


@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 12),
    k=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
@KERNELS
def test_top_k_kernel_keeps_the_same_rows_as_its_oracle(rows, cols, k, seed):
    k = min(k, rows)
    values = np.random.default_rng(seed).permutation(rows * cols).reshape(rows, cols)
    values = values.astype(np.float64)  # distinct values: the top k is unique (float64, as
    # the attack's log-likelihoods: the signature production compiles)
    fast = np.sort(top_k_columns(values, k), axis=1)
    slow = np.sort(top_k_columns_reference(values, k), axis=1)
    assert np.array_equal(fast, slow)


@given(
    rows=st.integers(1, 30),
    cols=st.integers(1, 30),
    features=st.integers(1, 20),
    cells=st.integers(1, 2000),
    seed=st.integers(0, 2**32 - 1),
)
@KERNELS
def test_blockwise_l1_distances_are_the_broadcast_ones_to_the_last_bit(
    rows, cols, features, cells, seed
):
    """The alignment's co-occurrence profiles, a block of rows at a time: the same sums."""
    rng = np.random.default_rng(seed)
    a, b = rng.random((rows, features)), rng.random((features, cols)).T  # b: a strided view
    assert np.array_equal(_l1(a, b, cells), np.abs(a[:, None, :] - b[None, :, :]).sum(2))


# -- the graph attack ----------------------------------------------------------------------
@pytest.mark.parametrize("setting", ["none", "diffusion(t=5)"])
def test_graph_attack_rates_are_shares_and_its_matches_a_permutation(
    setting, register, secret, other_secret
):
    small = register.iloc[:150].reset_index(drop=True)
    schema = person(dict(HARDENING_SETTINGS[setting]))
    order = np.random.default_rng(1).permutation(len(small))
    attack = graph_attack(
        bloom.encode(small, schema, secret).filters,
        small.iloc[order].reset_index(drop=True),
        schema,
        other_secret,
    )
    assert sorted(attack.match.tolist()) == list(range(len(small)))
    assert 0.0 <= attack.rate(np.argsort(order)) <= 1.0
    assert attack.stage in ("features", "anchors") and -1 <= attack.agreement <= 1


def test_graph_attack_beats_random_matching_on_a_tiny_unhardened_batch(
    register, secret, other_secret
):
    small = register.iloc[:150].reset_index(drop=True)
    schema = person()
    order = np.random.default_rng(2).permutation(len(small))
    attack = graph_attack(
        bloom.encode(small, schema, secret).filters,
        small.iloc[order].reset_index(drop=True),
        schema,
        other_secret,
    )
    # random matching gets 1/150 right on average; measured here: nearly all
    assert attack.rate(np.argsort(order)) > 0.5


# -- rates, the table, bad input ------------------------------------------------------------
@given(picks=st.lists(st.integers(0, 1000), min_size=1, max_size=30), wrong=st.booleans())
@settings(max_examples=40, deadline=None)
def test_reidentification_rate_is_the_share_of_exact_normalised_matches(picks, wrong):
    listed = name_table()
    values = listed["name"].iloc[[p % len(listed) for p in picks]].tolist()
    schema = bloom.Schema.load("person-v1")
    guesses = [v.upper() for v in values]  # same name once normalised
    assert reidentification_rate(guesses, values, schema, "given_name") == 1.0
    if wrong:
        guesses[0] = "Zzyzx"
        rate = reidentification_rate(guesses, values, schema, "given_name")
        assert 0.0 <= rate == pytest.approx(1 - 1 / len(values))


def test_privacy_table_has_one_row_per_setting_and_shares_in_range():
    table = privacy_table(
        300, 1, settings={"none": {}}, graph_records=60, rounds=1, overlap_records=400, known=20
    )
    assert table["setting"].tolist() == ["none"]
    attrs = [
        "attr_sex",
        "attr_birth_year",
        "attr_birth_day",
        "attr_place_of_birth",
        "attr_father_name",
    ]
    graph = ["graph_overlap_precision", "graph_overlap_reidentified", "graph_known_precision"]
    assert set(attrs + graph) <= set(table.columns)
    assert table["attr_sex"].iloc[0] > 0.5  # unhardened: the sex segment sorts the register
    shares = table.drop(columns=["setting", "seconds", "graph_overlap_claimed"])
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert table.attrs["overlap_known"] == 20 and table.attrs["overlap_records"] > 0
    assert table.attrs["graph_records"] == 60
    assert table.attrs["graph_random_rate"] == pytest.approx(1 / 60)


BAD_CALLS = [
    ("filters", lambda s, f, p, sec: frequency_attack(f.astype(np.int64), s)),
    ("rounds", lambda s, f, p, sec: frequency_attack(f, s, rounds=-1)),
    ("top_k", lambda s, f, p, sec: frequency_attack(f, s, top_k=0)),
    ("min_support", lambda s, f, p, sec: frequency_attack(f, s, min_support=1.5)),
    ("neighbours", lambda s, f, p, sec: graph_attack(f, p, s, sec, neighbours=0)),
    ("anchors", lambda s, f, p, sec: graph_attack(f, p, s, sec, anchors=1)),
    ("rounds", lambda s, f, p, sec: graph_attack(f, p, s, sec, rounds=-2)),
    ("plaintext", lambda s, f, p, sec: graph_attack(f, p.iloc[:3], s, sec)),
    ("plaintext", lambda s, f, p, sec: graph_attack(f, p.drop(columns="sex"), s, sec)),
    ("n_people", lambda s, f, p, sec: privacy_table(n_people=10)),
    ("seed", lambda s, f, p, sec: privacy_table(seed=-1)),
    ("graph_records", lambda s, f, p, sec: privacy_table(graph_records=1)),
    ("overlap_records", lambda s, f, p, sec: privacy_table(overlap_records=5)),
    ("settings", lambda s, f, p, sec: privacy_table(settings={})),
    ("settings['x']", lambda s, f, p, sec: privacy_table(settings={"x": {"blip": {"e": 1}}})),
    ("given_field", lambda s, f, p, sec: public_names(s, given_field="nope")),
    ("family_field", lambda s, f, p, sec: public_names(s, family_field="father_name")),
    ("variant_share", lambda s, f, p, sec: public_names(s, variant_share=2)),
    ("tradition_mix", lambda s, f, p, sec: public_names(s, tradition_mix={"martian": 1.0})),
    ("guesses", lambda s, f, p, sec: reidentification_rate(["a"], ["a", "b"], s, "given_name")),
]


@pytest.mark.parametrize(("param", "call"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_parameters_raise_value_errors_naming_the_parameter(
    param, call, people, secret, other_secret
):
    schema = bloom.Schema.load("person-v1")
    filters = bloom.encode(people, schema, secret, id_column="ref").filters
    with pytest.raises(ValueError, match=param.replace("[", r"\[").replace("]", r"\]")):
        call(schema, filters, people.drop(columns="ref"), other_secret)


def test_a_folding_schema_is_attacked_and_scored_in_its_own_folded_space():
    """person-recall folds names before encoding: the attacker (who knows the schema) tokenises
    its lists with it and is scored against folded names — so folding is measured for what
    it is (no protection), not as the near-zero an unfolded scoring reports. The mining
    attack on person-recall misses for some secrets (0.08 instead of ~0.8 for 1 secret in 6
    measured): the best of two seeds is compared; the baseline guess does not depend on it."""
    from importlib import resources

    recall = bloom.Schema.load(resources.files("bloom.schemas").joinpath("person-recall.json"))
    best: dict[tuple[str, str], float] = {}
    for seed in (0, 1):
        table = privacy_table(
            1500,
            seed,
            settings={"none": {}, "recall": recall},
            graph_records=60,
            rounds=1,
            overlap_records=0,
        )
        for row in table.to_dict("records"):
            for col in ("freq_given", "freq_family", "baseline_given", "baseline_family"):
                key = (row["setting"], col)
                best[key] = max(best.get(key, 0.0), row[col])
    for col in ("freq_given", "freq_family", "baseline_given", "baseline_family"):
        assert best[("recall", col)] >= 0.7 * best[("none", col)] > 0, col
