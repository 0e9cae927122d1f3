"""The adaptive frequency attack: each hardening undone where it can be, each one's strength
pinned where it cannot (the pins fail when the attack gets stronger: then raise them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bloom
from bloom._hardening import Hardener
from evaluation._attack import HARDENING_SETTINGS, most_frequent_names, reidentification_rate
from evaluation._attack_adaptive import strategy_for
from evaluation._attack_adaptive_balance import unbalance
from evaluation._attack_adaptive_salt import partition_agreement, salt_partition
from evaluation._attack_adaptive_soft import soft_mine_and_decode
from evaluation._attack_freq import frequency_attack, segment_bits
from evaluation._attack_names import public_names


def person(hardening: dict | None = None, *, sex_segment: str = "sex") -> bloom.Schema:
    doc = bloom.Schema.load("person-v1").document
    doc["hardening"] = hardening or {}
    for f in doc["fields"]:
        if f["name"] == "sex":
            f["segment"] = sex_segment
    return bloom.Schema.from_dict(doc)


@pytest.fixture(scope="module")
def register(agency_register) -> pd.DataFrame:
    """979 registrations of one agency (1,500 people in three agencies; the session's, as
    test_attack's: tests/evaluation/conftest.py)."""
    return agency_register


@pytest.fixture(scope="module")
def larger(larger_agency_register) -> pd.DataFrame:
    """1,904 registrations: salt groups by sex of some 950 records each."""
    return larger_agency_register


@pytest.fixture(scope="module")
def names(v1_names):
    return v1_names


def rates(attack, register: pd.DataFrame) -> tuple[float, float]:
    schema = bloom.Schema.load("person-v1")
    return (
        reidentification_rate(attack.given, register["given_name"], schema, "given_name"),
        reidentification_rate(attack.family, register["family_name"], schema, "family_name"),
    )


@dataclass(frozen=True)
class Named:
    given: np.ndarray
    family: np.ndarray


def baseline(register: pd.DataFrame, names) -> tuple[float, float]:
    """The most frequent name guessed for everyone."""
    given_name, family_name = most_frequent_names(names)
    n = len(register)
    return rates(Named(np.full(n, given_name), np.full(n, family_name)), register)


def name_bits(filters: np.ndarray, schema: bloom.Schema) -> np.ndarray:
    seg = schema.segment("name")
    return segment_bits(filters, seg.out_offset, seg.out_bits)


@pytest.fixture(scope="module")
def unhardened(unhardened_attack, register):
    """The rates of the attack on ``register`` unhardened (``person()``: the session's
    attack, tests/evaluation/conftest.py)."""
    return rates(unhardened_attack[0], register)


# -- balance -------------------------------------------------------------------------------
def test_unbalance_recovers_the_hashed_segment_up_to_a_permutation(register, secret):
    balanced = person({"balance": True})
    bits = name_bits(bloom.encode(register, balanced, secret).filters, balanced)
    hashed = name_bits(bloom.encode(register, person(), secret).filters, person())
    undone = unbalance(bits)
    assert undone.bits.shape == hashed.shape and undone.exact == 1.0
    # every pair is a bit and its complement, and no two pairs share a column
    assert (bits[:, undone.pairs[:, 0]] ^ bits[:, undone.pairs[:, 1]]).all()
    assert len(np.unique(undone.pairs)) == 2 * hashed.shape[1]
    # the kept columns are the hashed segment's, permuted (each pair is one hashed bit)
    perm = Hardener(balanced, secret)._perms["name"]  # the truth, which the attack never sees
    m = hashed.shape[1]
    source = perm[undone.pairs[:, 0]] % m
    assert sorted(source.tolist()) == list(range(m))
    complemented = perm[undone.pairs[:, 0]] >= m
    recovered = np.where(complemented[None, :], ~undone.bits, undone.bits)
    assert np.array_equal(recovered, hashed[:, source])
    assert complemented.mean() < 0.3  # measured: 17% come out complemented


def test_balance_is_undone_to_about_the_unhardened_rate(register, names, secret, unhardened):
    schema = person({"balance": True})
    attack = frequency_attack(
        bloom.encode(register, schema, secret).filters, schema, names, rounds=2
    )
    given_rate, family_rate = rates(attack, register)
    assert attack.strategy == "unbalance > mining"
    assert attack.notes["complement_pairs"] == 448 and attack.notes["exact_complements"] == 1
    # measured on this data: 0.81 and 0.78, as unhardened
    assert given_rate >= unhardened[0] - 0.05 and family_rate >= unhardened[1] - 0.05


# -- salt ----------------------------------------------------------------------------------
SALTS = {
    "birth year, own segment": ({"field": "birth_year", "part": "year"}, "sex", "salt segment"),
    "sex, own segment": ({"field": "sex"}, "sex", "salt segment"),
    "sex, no segment of its own": ({"field": "sex"}, "place", "name bits"),
}


def salt_truth(register: pd.DataFrame, salt: dict) -> np.ndarray:
    if salt["field"] == "sex":
        return register["sex"].astype(str).to_numpy()
    return register["date_of_birth"].astype(str).str[:4].to_numpy()


@pytest.mark.parametrize("case", SALTS, ids=list(SALTS))
def test_salt_partition_recovers_the_salt_groups(case, register, secret):
    salt, sex_segment, source = SALTS[case]
    schema = person({"salt": salt}, sex_segment=sex_segment)
    filters = bloom.encode(register, schema, secret).filters
    partition = salt_partition(filters, schema, name_bits(filters, schema))
    agreement = partition_agreement(partition.labels, salt_truth(register, salt))
    assert partition.source == source
    # measured: every salt group found, none mixed, none split
    assert agreement["purity"] >= 0.95 and agreement["completeness"] >= 0.95


def test_salt_by_sex_is_undone_by_mining_each_group(larger, names, secret):
    schema = person({"salt": {"field": "sex"}})
    filters = bloom.encode(larger, schema, secret).filters
    adaptive = frequency_attack(filters, schema, names, rounds=2)
    base_given, base_family = baseline(larger, names)
    given_rate, family_rate = rates(adaptive, larger)
    assert adaptive.notes["salt_groups"] == 3 and len(adaptive.groups) == len(larger)
    # the plain attack gives up, as on every salt (test_attack.py); the guess of the most
    # frequent name gets 0.02. Measured here: 0.80 and 0.77, as unsalted
    assert given_rate > max(0.6, 10 * base_given) and family_rate > max(0.6, 10 * base_family)


def test_salt_by_birth_year_holds_while_its_groups_are_small(register, names, secret):
    """89 salt groups of at most about 40 records: found exactly, too small to mine (groups of
    800 records fall: see the measured figures in the attack's module)."""
    salt = dict(HARDENING_SETTINGS["salt(birth year)"]["salt"])
    schema = person({"salt": salt})
    attack = frequency_attack(bloom.encode(register, schema, secret).filters, schema, names)
    given_rate, family_rate = rates(attack, register)
    base_given, base_family = baseline(register, names)
    assert partition_agreement(attack.groups, salt_truth(register, salt))["purity"] == 1.0
    assert attack.notes["records_in_mined_groups"] == 0
    assert given_rate <= base_given + 0.02 and family_rate <= base_family + 0.02


# -- blip ----------------------------------------------------------------------------------
def test_blip_at_epsilon_2_is_mined_through_once_the_batch_is_large_enough(larger, names, secret):
    """Each bit flips with probability 0.12: mining loosened by that rate still finds ~100
    q-grams' positions in 1,900 records (0.04 with the plain 0.8 cut of the first table)."""
    schema = person(dict(HARDENING_SETTINGS["blip(eps=2)"]))
    attack = frequency_attack(bloom.encode(larger, schema, secret).filters, schema, names, rounds=2)
    given_rate, family_rate = rates(attack, larger)
    base_given, base_family = baseline(larger, names)
    # measured here: 0.21 and 0.23 (0.82 and 0.76 at 3,200 records, 5,000 people)
    assert attack.aligned >= 50
    assert given_rate > max(0.15, 5 * base_given) and family_rate > max(0.15, 5 * base_family)


# -- XOR hardenings: soft mining -----------------------------------------------------------
def test_soft_mining_reidentifies_unhardened_filters(larger, names, secret):
    """The soft miner the XOR hardenings get works where it should, so their pins below mean
    the hardening holds, not that the miner is broken."""
    bits = name_bits(bloom.encode(larger, person(), secret).filters, person())
    decoded, agreement = soft_mine_and_decode(bits, names, expansion=1, rounds=2)
    given_rate, family_rate = rates(
        Named(names.given.names[decoded.given], names.family.names[decoded.family]), larger
    )
    assert agreement >= 0.1 and decoded.aligned >= 10
    assert given_rate > 0.5 and family_rate > 0.5


@pytest.mark.parametrize("setting", ["balance+xor_fold", "diffusion(t=5)"])
def test_xor_hardenings_hold_against_soft_mining_at_this_size(setting, register, names, secret):
    """Pinned: at about 1,000 records soft mining finds no alignment it can reproduce."""
    schema = person(dict(HARDENING_SETTINGS[setting]))
    attack = frequency_attack(bloom.encode(register, schema, secret).filters, schema, names)
    given_rate, family_rate = rates(attack, register)
    base_given, base_family = baseline(register, names)
    assert attack.strategy == "soft mining"
    assert attack.notes["halves_agree"] < 0.1 and attack.aligned == 0
    assert given_rate <= base_given + 0.02 and family_rate <= base_family + 0.02


# -- strategy and helpers ------------------------------------------------------------------
def test_each_hardening_setting_gets_its_strategy():
    chosen = {
        name: strategy_for(person(dict(h)).hardening) for name, h in HARDENING_SETTINGS.items()
    }
    assert chosen == {
        "none": "mining",
        "balance": "unbalance > mining",
        "balance+xor_fold": "soft mining",
        "salt(birth year)": "salt groups > mining",
        "diffusion(t=5)": "soft mining",
        "blip(eps=4)": "mining",
        "blip(eps=2)": "mining",
        "salt(birth year)+diffusion(t=5)": "salt groups > soft mining",
    }


@given(
    labels=st.lists(st.integers(0, 4), min_size=1, max_size=60),
    shift=st.integers(1, 50),
)
@settings(max_examples=50, deadline=None)
def test_partition_agreement_is_one_for_any_relabelling_and_below_for_merges(labels, shift):
    truth = np.asarray(labels)
    same = partition_agreement(truth * 7 + shift, truth)
    assert same["purity"] == same["completeness"] == 1.0
    merged = partition_agreement(np.zeros(len(truth), dtype=np.int64), truth)
    share_largest = np.bincount(truth).max() / len(truth)
    assert merged["purity"] == pytest.approx(share_largest) and merged["completeness"] == 1.0


def test_bad_given_kinds_are_named(person_v1_schema):
    with pytest.raises(ValueError, match="given_kinds"):
        public_names(person_v1_schema, given_kinds=("given_martian",))
