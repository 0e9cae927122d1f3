"""The graph attack with partial overlap: it re-identifies records far beyond chance on
unhardened filters from another source's plaintext, falls to chance when the filters carry no
graph signal, leaves most records without a counterpart unmatched, and its pieces match
plain reference computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bloom
from evaluation._attack_graph_overlap import _fdr, decoys, overlap_graph_attack
from evaluation._attack_graph_score import Pairs, _join, best_pairs
from evaluation._attack_graph_setting import (
    known_pairs,
    overlap_rates,
    overlap_setting,
    partial_overlap_setting,
)
from evaluation._attack_graph_sides import _near_groups, segment_bounds, tolerances
from evaluation._synthetic import generate

SMALL = settings(max_examples=50, deadline=None)


@pytest.fixture(scope="module")
def setting():
    """1,500 attacked records; the attacker knows about half of their people."""
    return partial_overlap_setting(1500, seed=11)


@pytest.fixture(scope="module")
def schema() -> bloom.Schema:
    return bloom.Schema.load("person-v1")


@pytest.fixture(scope="module")
def unhardened(setting, schema, secret, other_secret):
    filters = bloom.encode(setting.register, schema, secret, id_column="record_ref").filters
    return overlap_graph_attack(filters, setting.plaintext, schema, other_secret)


def keyed_random_bits(n: int, words: int, key: int) -> np.ndarray:
    """Filters of independent random bits at the density of a real batch (about 1/4)."""
    rng = np.random.default_rng(key)
    bits = rng.random((n, words * 64)) < 0.27
    return np.packbits(bits, axis=1, bitorder="little").view(np.uint64)


# -- the setting ---------------------------------------------------------------------------
def test_the_setting_covers_about_half_of_the_records_and_people_beyond_them(setting):
    assert len(setting.register) == 1500
    truth = setting.truth
    assert 0.4 < (truth >= 0).mean() < 0.6
    assert len(np.unique(truth[truth >= 0])) == (truth >= 0).sum()  # one row per person
    outsiders = len(setting.plaintext) - (truth >= 0).sum()
    assert outsiders > 0.3 * len(setting.plaintext)
    # the attacker's rows are other registrations, not copies of the batch's rows
    mine = setting.register.iloc[np.flatnonzero(truth >= 0)].drop(columns="record_ref")
    theirs = setting.plaintext.iloc[truth[truth >= 0]]
    same = (mine.reset_index(drop=True) == theirs.reset_index(drop=True)).all(axis=1)
    assert same.mean() < 0.8


def test_overlap_setting_maps_each_record_to_its_persons_row():
    data = generate(300, 3, seed=2)
    setting = overlap_setting(data, "agency-a", "agency-c")
    truth = data.truth.set_index(["agency", "record_ref"])["entity_id"]
    for i in np.flatnonzero(setting.truth >= 0)[:50]:
        ref_a = setting.register["record_ref"].iloc[i]
        ref_c = data.agencies["agency-c"]["record_ref"].iloc[setting.truth[i]]
        assert truth[("agency-a", ref_a)] == truth[("agency-c", ref_c)]
    found = set(data.truth[data.truth["agency"] == "agency-c"]["entity_id"])
    people = setting.register["record_ref"].map(truth.loc["agency-a"])
    assert ((setting.truth >= 0) == people.isin(found).to_numpy()).all()


# -- the attack ------------------------------------------------------------------------------
def test_unhardened_filters_give_sure_hits_far_beyond_random(unhardened, setting):
    result = unhardened.score(setting.truth)
    assert result.random_precision < 1e-3
    # measured on this data: 0.9 at the top, 0.84 overall, a tenth of all records
    assert result.top_precision > max(0.7, 500 * result.random_precision)
    assert result.precision > 0.6
    assert result.recall > 0.05


def test_records_without_a_counterpart_are_mostly_left_unmatched(unhardened, setting):
    result = unhardened.score(setting.truth)
    assert result.outside_unmatched > 0.85
    outside = setting.truth[unhardened.record] < 0
    assert outside.mean() < 0.3  # few claims are about people the attacker does not hold


def test_claims_are_one_to_one_most_confident_first_within_the_fdr(unhardened, setting):
    attack = unhardened
    assert len(np.unique(attack.record)) == attack.record.size
    assert len(np.unique(attack.row)) == attack.row.size
    assert (np.diff(attack.confidence) <= 0).all()
    assert (attack.fdr <= 0.1).all()
    assert attack.rows == len(setting.plaintext)
    # the attacker's own estimate of its precision is honest to within 15 points
    result = attack.score(setting.truth)
    assert abs(result.estimated_precision - result.precision) < 0.15


def test_filters_without_graph_signal_bring_the_attack_down_to_random(
    setting, schema, other_secret
):
    filters = keyed_random_bits(len(setting.register), schema.filter_words, key=5)
    result = overlap_graph_attack(filters, setting.plaintext, schema, other_secret).score(
        setting.truth
    )
    # random claims would be right with probability random_precision (about 1e-3)
    right = round(result.precision * result.claimed * result.records)
    assert right <= 3
    assert result.top_precision <= 0.05
    assert result.outside_unmatched > 0.9


def test_overlap_rates_are_the_privacy_table_columns(setting, schema, secret, other_secret):
    small = type(setting)(setting.register.iloc[:400], setting.plaintext, setting.truth[:400])
    rates = overlap_rates(small, schema, secret, other_secret, rounds=2)
    assert set(rates) == {
        "graph_overlap_precision",
        "graph_overlap_reidentified",
        "graph_overlap_top10_precision",
        "graph_overlap_claimed",
        "graph_overlap_outside_unmatched",
        "graph_overlap_random_precision",
    }
    assert all(0.0 <= v <= 1.0 for v in rates.values())


def test_people_the_attacker_knows_anchor_it_through_balanced_filters(
    setting, schema, secret, other_secret
):
    """Balancing flattens the popcounts the seeds rely on, but not the value groups: with
    150 people known on both sides the attack matches again, and never claims them."""
    doc = schema.document
    doc["hardening"] = {"balance": True}
    balanced = bloom.Schema.from_dict(doc)
    filters = bloom.encode(setting.register, balanced, secret, id_column="record_ref").filters
    known = known_pairs(setting, 150, seed=1)
    attack = overlap_graph_attack(filters, setting.plaintext, balanced, other_secret, known=known)
    result = attack.score(setting.truth)
    assert not np.isin(attack.record, known[0]).any()
    assert not np.isin(attack.row, known[1]).any()
    # measured on this data: 0.86 precise, a tenth of the records (0.42 and 2% without them)
    assert result.precision > 0.6 and result.recall > 0.04
    assert result.top_precision > 0.7


def test_blip_groups_near_identical_patterns(setting, schema, secret):
    doc = schema.document
    doc["hardening"] = {"blip": {"epsilon": 4.0}}
    noisy = bloom.Schema.from_dict(doc)
    filters = bloom.encode(setting.register, noisy, secret, id_column="record_ref").filters
    tolerance = tolerances(filters, noisy)
    assert (tolerance < 1).all() and (tolerance > 0.3).all()
    assert (tolerances(filters[:, :16], schema) == 1).all()
    lo, hi = segment_bounds(noisy)[-1]  # sex: three values, one bit in 64 flipped on average
    words = np.ascontiguousarray(filters[:, lo:hi])
    exact = len(np.unique(words, axis=0))
    groups = _near_groups(words, float(tolerance[-1]), 1000)
    assert exact > 20  # the flips break identical patterns apart...
    sexes = setting.register["sex"].fillna("?").to_numpy()
    big = [g for g, n in zip(*np.unique(groups, return_counts=True), strict=True) if n >= 50]
    assert 2 <= len(big) <= 3  # ...the groups find the values again, each one sex
    for g in big:
        assert pd.Series(sexes[groups == g]).value_counts(normalize=True).iloc[0] > 0.97


# -- the pieces against plain references -------------------------------------------------------
def test_decoys_keep_names_and_move_the_rest_together(setting, schema):
    plain = setting.plaintext
    fake = decoys(plain, schema, seed=3)
    for column in ("given_name", "family_name", "sex"):
        assert fake[column].equals(plain[column].reset_index(drop=True))
    moved = ["father_name", "date_of_birth", "place_of_birth"]
    for column in moved:
        assert sorted(map(str, fake[column])) == sorted(map(str, plain[column]))
    assert (fake["date_of_birth"] != plain["date_of_birth"]).mean() > 0.9
    # the moved columns travel as one block: each decoy's block is one real row's block
    rows = {tuple(map(str, r)) for r in plain[moved].itertuples(index=False)}
    assert all(tuple(map(str, r)) in rows for r in fake[moved].itertuples(index=False))


@given(
    ka=st.lists(st.integers(-1, 6), min_size=0, max_size=40),
    kb=st.lists(st.integers(-1, 6), min_size=0, max_size=40),
)
@SMALL
def test_join_pairs_equal_keys_in_blocks_small_enough(ka, kb):
    ka, kb = np.array(ka, dtype=np.int64), np.array(kb, dtype=np.int64)
    i, j = _join(ka, kb)
    expected = set()
    for key in set(ka[ka >= 0].tolist()) & set(kb[kb >= 0].tolist()):
        left, right = np.flatnonzero(ka == key), np.flatnonzero(kb == key)
        if left.size * right.size <= 64:
            expected |= {(x, y) for x in left.tolist() for y in right.tolist()}
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected
    assert len(i) == len(expected)


@given(
    triples=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(-20, 20)),
        min_size=1,
        max_size=30,
        unique_by=lambda t: (t[0], t[1]),
    )
)
@SMALL
def test_best_pairs_are_the_mutual_best_with_their_margins(triples):
    i, j, s = (np.array(c) for c in zip(*triples, strict=True))
    pairs = Pairs(i.astype(np.int64), j.astype(np.int64), s.astype(np.float64))
    got_i, got_j, margin = best_pairs(pairs, 6, 6)
    table = {(a, b): v for a, b, v in triples}

    def ranked(key, side):  # candidates of one record (side 0) or row (side 1), best first
        mine = [
            (v, other)
            for (a, b), v in table.items()
            for other in [b if side == 0 else a]
            if (a if side == 0 else b) == key
        ]
        return sorted(mine, key=lambda t: (-t[0], t[1]))

    expected = {}
    for a in set(i.tolist()):
        best_b = ranked(a, 0)[0][1]
        if ranked(best_b, 1)[0][1] == a:
            runners = [r[0][0] for r in (ranked(a, 0)[1:], ranked(best_b, 1)[1:]) if r]
            floor = min(table.values())
            expected[a] = (best_b, table[(a, best_b)] - (max(runners) if runners else floor))
    got = zip(got_i.tolist(), zip(got_j.tolist(), margin.tolist(), strict=True), strict=True)
    assert dict(got) == expected


@given(decoy=st.lists(st.booleans(), min_size=1, max_size=50), seed=st.integers(0, 99))
@SMALL
def test_fdr_is_the_monotone_decoy_share_above_each_margin(decoy, seed):
    decoy = np.array(decoy)
    margin = np.random.default_rng(seed).permutation(decoy.size).astype(np.float64)
    q = _fdr(decoy, margin)
    order = np.argsort(-margin)
    assert (np.diff(q[order]) >= 0).all()  # never falls as the cut goes down
    raw = [
        min((decoy[order][: k + 1].sum() + 1) / max((~decoy[order][: k + 1]).sum(), 1), 1.0)
        for k in range(decoy.size)
    ]
    assert np.allclose(q[order], np.minimum.accumulate(np.array(raw)[::-1])[::-1])


# -- bad input ---------------------------------------------------------------------------------
BAD_CALLS = [
    ("filters", lambda f, p, s, k: overlap_graph_attack(f.astype(np.int64), p, s, k)),
    ("plaintext", lambda f, p, s, k: overlap_graph_attack(f, p.iloc[:2], s, k)),
    ("plaintext", lambda f, p, s, k: overlap_graph_attack(f, p.drop(columns="sex"), s, k)),
    ("neighbours", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, neighbours=0)),
    ("graph_sample", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, graph_sample=1)),
    ("seeds", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, seeds=True)),
    ("rounds", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, rounds=-1)),
    ("threshold", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, threshold=0)),
    ("fdr", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, fdr=1.5)),
    ("anchor_fdr", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, anchor_fdr="x")),
    ("candidates", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, candidates=0)),
    ("known", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, known=([0, 1], [2]))),
    ("known", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, known=([0, 0], [1, 2]))),
    ("known", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, known=([0], [99]))),
    ("known", lambda f, p, s, k: overlap_graph_attack(f, p, s, k, known=5)),
    ("n_records", lambda f, p, s, k: partial_overlap_setting(5)),
    ("overlap", lambda f, p, s, k: partial_overlap_setting(100, overlap=1.0)),
]


@pytest.mark.parametrize(("param", "call"), BAD_CALLS)
def test_bad_parameters_are_named(param, call, setting, schema, other_secret):
    filters = keyed_random_bits(20, schema.filter_words, key=1)
    plain = setting.plaintext.iloc[:20].reset_index(drop=True)
    with pytest.raises(ValueError, match=param):
        call(filters, plain, schema, other_secret)


def test_truth_of_the_wrong_shape_is_refused(unhardened, setting):
    with pytest.raises(ValueError, match="truth"):
        unhardened.score(np.full(3, 10**9))
    with pytest.raises(ValueError, match="top"):
        unhardened.score(setting.truth, top=0)


def test_overlap_setting_refuses_one_agency_as_both_sides():
    with pytest.raises(ValueError, match="two different agencies"):
        overlap_setting(generate(50, 2, seed=1), "agency-a", "agency-a")


def test_decoys_work_on_a_register_given_as_a_plain_frame(schema):
    plain = pd.DataFrame({c: ["a", "b", "c", "d", "e", "f"] for c in schema.columns})
    assert len(decoys(plain, schema, seed=0)) == 6


def test_a_segment_no_anchor_pair_holds_on_both_sides_aligns_to_nothing():
    """A segment left empty on one side for every anchor (rekey empties its key segment)
    gives an empty contingency table for it, not an error; the other segments align."""
    from evaluation._attack_graph_score import align
    from evaluation._attack_graph_sides import Side

    groups_a = np.array([[0, 1, 0, 1], [3, 4, 5, 6]])
    groups_b = np.array([[1, 0, 1, 0], [-1, -1, -1, -1]])  # segment 2: empty on side b
    a = Side(groups_a, np.zeros((4, 1)), np.zeros(4, np.int64))
    b = Side(groups_b, np.zeros((4, 1)), np.zeros(4, np.int64))
    anchors = np.arange(4)
    found = align(a, b, anchors, anchors)
    assert found.cells[1].size == 0 and (found.top[1] == -1).all()
    assert list(found.top[0]) == [1, 0]  # value 0 of side a is value 1 of side b, and back
