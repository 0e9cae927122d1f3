"""Each hardening option changes the bits exactly as documented."""

import numpy as np
import pandas as pd
import pytest

import bloom
from bloom._hardening import Hardener

from .helpers import dice

FIELDS = [
    {"name": "given_name", "type": "name", "weight": 10},
    {"name": "family_name", "type": "name", "weight": 10},
    {"name": "date_of_birth", "type": "date", "date": {"on_invalid": "missing"}},
]


def schema(**hardening) -> bloom.Schema:
    return bloom.Schema.from_dict(
        {"version": 1, "filter": {"length": 512}, "hardening": hardening, "fields": FIELDS}
    )


@pytest.fixture(scope="module")
def register() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    given = ["amina", "omar", "fatima", "yusuf", "olena", "ivan", "maria", "jose", "li", "ana"]
    family = ["hassan", "ali", "kovalenko", "garcia", "nguyen", "abdi", "haile", "smith"]
    n = 400
    return pd.DataFrame(
        {
            "given_name": rng.choice(given, n),
            "family_name": rng.choice(family, n),
            "date_of_birth": [
                f"{y}-0{m}-1{d}" for y, m, d in rng.integers([1950, 1, 0], [2020, 9, 9], (n, 3))
            ],
        }
    )


def enc(register, s, secret):
    return bloom.encode(register, s, secret).filters


def bits(f):
    return np.unpackbits(f.view(np.uint8), axis=1, bitorder="little").astype(bool)


def test_balance_sets_exactly_half_and_preserves_distance(register, secret):
    plain = enc(register, schema(), secret)
    bal = enc(register, schema(balance=True), secret)
    assert bal.shape[1] == 2 * plain.shape[1]
    assert np.all(np.bitwise_count(bal).sum(axis=1) == 512)
    # a keyed permutation of (x, not x): Hamming distances exactly double
    for i, j in [(0, 1), (2, 3), (5, 9)]:
        hp = np.bitwise_count(plain[i] ^ plain[j]).sum()
        hb = np.bitwise_count(bal[i] ^ bal[j]).sum()
        assert hb == 2 * hp
    # and it is a permutation of exactly those bits
    expanded = np.hstack([bits(plain), ~bits(plain)])
    assert np.array_equal(np.sort(expanded, axis=1), np.sort(bits(bal), axis=1))


def test_xor_fold_is_xor_of_the_halves(register, secret):
    plain = enc(register, schema(), secret)
    folded = enc(register, schema(xor_fold=True), secret)
    half = plain.shape[1] // 2
    assert np.array_equal(folded, plain[:, :half] ^ plain[:, half:])


def test_diffusion_output_bits_are_xors_of_keyed_taps(register, secret):
    s = schema(diffusion={"t": 5})
    plain = enc(register, schema(), secret)
    diffused = enc(register, s, secret)
    taps = Hardener(s, secret)._taps["record"]
    assert taps.shape == (512, 5)
    assert all(len(set(row)) == 5 for row in taps.tolist())
    expected = np.logical_xor.reduce(bits(plain)[:, taps], axis=2)
    assert np.array_equal(bits(diffused), expected)
    other = Hardener(s, bloom.Secret(bytes(32)))._taps["record"]
    assert not np.array_equal(taps, other)  # the table is keyed


def test_blip_flips_bits_at_the_documented_rate(register, secret):
    eps = 2.0
    plain = enc(register, schema(), secret)
    noisy = enc(register, schema(blip={"epsilon": eps}), secret)
    rate = np.bitwise_count(plain ^ noisy).sum() / plain.size / 64
    f = bloom.blip_flip_probability(eps)
    assert abs(rate - f) < 0.01, (rate, f)
    assert np.array_equal(noisy, enc(register, schema(blip={"epsilon": eps}), secret))
    quieter = enc(register, schema(blip={"epsilon": 6.0}), secret)
    assert np.bitwise_count(plain ^ quieter).sum() < np.bitwise_count(plain ^ noisy).sum()


def test_identical_records_stay_identical_under_blip(secret):
    df = pd.DataFrame(
        {"given_name": ["amina"] * 3, "family_name": "hassan", "date_of_birth": "1990"}
    )
    f = bloom.encode(df, schema(blip={"epsilon": 1.0}), secret).filters
    assert np.array_equal(f[0], f[1]) and np.array_equal(f[1], f[2])


def test_salting_by_year_separates_years_only(secret):
    df = pd.DataFrame(
        {
            "given_name": ["amina", "amina", "amina"],
            "family_name": ["hassan"] * 3,
            "date_of_birth": ["1990-01-02", "1990-05-06", "1991-01-02"],
        }
    )
    s = schema(salt={"field": "date_of_birth", "part": "year"})
    f = bloom.encode(df, s, secret).filters
    plain = bloom.encode(df, schema(), secret).filters
    # same year: the names hash alike; another year: the name bits are unrelated
    assert dice(f[:1], f[1:2])[0] > dice(f[:1], f[2:3])[0] + 0.3
    assert dice(plain[:1], plain[2:3])[0] > 0.8
    assert dice(f[:1], f[2:3])[0] < 0.6


def test_hardened_filters_still_rank_true_matches_first(register, secret):
    """Every option keeps a corrupted copy closer than a random record (the point of PPRL)."""
    typo = register.assign(given_name=register["given_name"].str.replace("a", "e", n=1))
    for h in (
        {"balance": True},
        {"xor_fold": True},
        {"diffusion": {"t": 3}},
        {"blip": {"epsilon": 4}},
    ):
        s = schema(**h)
        a, b = enc(register, s, secret), enc(typo, s, secret)
        true = dice(a, b)
        rand = dice(a, np.roll(b, 1, axis=0))
        same_person = register["given_name"].to_numpy() == np.roll(
            register["given_name"].to_numpy(), 1
        )
        assert np.median(true) > np.median(rand[~same_person]) + 0.1, h
