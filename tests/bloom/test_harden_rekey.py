"""rekey: a record-level keyed permutation chosen by a hidden key segment (issue 12).

Records with the same key values share one permutation (matching records stay identical);
another key puts the same name on unrelated positions; the key segment leaves the encoder
empty; the option is validated, and schemas without it keep their fingerprints.
"""

import numpy as np
import pandas as pd
import pytest

import bloom
from bloom._harden_rekey import Rekeyer
from bloom._reference import reference_encode

from .helpers import dice, segment_bits


def schema(rekey: dict | None = None, name_bits: int = 256) -> bloom.Schema:
    doc = {
        "version": 1,
        "filter": {
            "segments": [
                {"name": "name", "bits": name_bits},
                {"name": "other", "bits": 64},
                {"name": "key", "bits": 64},
            ]
        },
        "fields": [
            {"name": "name", "type": "name", "segment": "name", "weight": 10},
            {"name": "town", "type": "string", "segment": "other", "weight": 6},
            {"name": "sex", "type": "category", "segment": "key", "weight": 4},
            {"name": "year", "type": "category", "segment": "key", "weight": 4},
        ],
    }
    if rekey is not None:
        doc["hardening"] = {"rekey": rekey}
    return bloom.Schema.from_dict(doc)


REKEY = {"key": "key", "segments": ["name"]}
NAMES = ["amina", "omar", "fatima", "yusuf", "olena", "ivan", "maria", "jose"]


def frame(sex: list[str], year: list[str], names: list[str] | None = None) -> pd.DataFrame:
    n = len(sex)
    names = names or [NAMES[i % len(NAMES)] for i in range(n)]
    return pd.DataFrame({"name": names, "town": ["kabul"] * n, "sex": sex, "year": year})


def test_same_key_same_bits_other_key_unrelated_bits(secret):
    s, plain = schema(REKEY), schema()
    df = frame(["f"] * 8 + ["m"] * 8, ["1990"] * 16, NAMES * 2)
    f = bloom.encode(df, s, secret).filters
    name = segment_bits(f, s, "name")
    hashed = segment_bits(bloom.encode(df, plain, secret).filters, plain, "name")
    # same name, other key: the bits are no closer than two different names
    same_name_other_key = dice(name[:8], name[8:])
    assert same_name_other_key.max() < 0.5
    # a permutation: each record keeps its number of set bits
    assert (np.bitwise_count(name).sum(1) == np.bitwise_count(hashed).sum(1)).all()
    # within a key group, Dice between records is what it was before (same permutation)
    for rows in (slice(0, 8), slice(8, 16)):
        a, b = name[rows], np.roll(name[rows], 1, axis=0)
        ha, hb = hashed[rows], np.roll(hashed[rows], 1, axis=0)
        assert np.allclose(dice(a, b), dice(ha, hb))
    # the key segment leaves the encoder empty; the other segment is untouched
    assert not segment_bits(f, s, "key").any()
    assert np.array_equal(
        segment_bits(f, s, "other"),
        segment_bits(bloom.encode(df, plain, secret).filters, plain, "other"),
    )


def test_every_key_field_counts_and_a_missing_key_is_a_key_of_its_own(secret):
    s = schema(REKEY)
    df = frame(["f", "f", "f", None, None], ["1990", "1991", "1990", "1990", "1990"], ["omar"] * 5)
    name = segment_bits(bloom.encode(df, s, secret).filters, s, "name")
    d = dice(name, name[[0]].repeat(5, axis=0))
    assert d[2] == 1.0  # same sex, same year
    assert d[1] < 0.5 and d[3] < 0.5  # one key field differs
    assert dice(name[[3]], name[[4]])[0] == 1.0  # the same missing sex: the same key


def test_rekey_is_keyed_reproducible_and_the_reference_agrees(secret, other_secret):
    s = schema(REKEY)
    df = frame(["f", "m"] * 10, ["1990", "1991"] * 10)
    a = bloom.encode(df, s, secret).filters
    assert np.array_equal(a, bloom.encode(df, s, secret).filters)
    assert np.array_equal(a, reference_encode(df, s, secret))
    other = bloom.encode(df, s, other_secret).filters
    assert not np.array_equal(segment_bits(a, s, "name"), segment_bits(other, s, "name"))


def test_the_record_keys_follow_the_key_segment_bits_only(secret):
    s = schema(REKEY)
    rk = Rekeyer(s, secret)
    hashed = np.zeros((4, s.hashed_bits // 64), dtype=np.uint64)
    key_word = s.segment("key").offset // 64
    hashed[:, key_word] = np.array([1, 1, 2, 0], dtype=np.uint64)
    hashed[:, 0] = np.arange(4, dtype=np.uint64)  # name bits do not change the key
    digests, inverse = rk.record_keys(hashed)
    assert len(digests) == 3 and inverse[0] == inverse[1] != inverse[2] != inverse[3]


@pytest.mark.parametrize(
    ("rekey", "message"),
    [
        ({"key": "nokey", "segments": ["name"]}, "hardening/rekey/key: no segment is named"),
        ({"key": "key", "segments": ["nope"]}, "hardening/rekey/segments: no segment is named"),
        ({"key": "key", "segments": ["key"]}, "cannot be rekeyed"),
        ({"key": "key", "segments": ["name", "name"]}, "listed twice"),
        ({"key": "key"}, "segments"),
    ],
)
def test_bad_rekey_blocks_are_refused_naming_the_problem(rekey, message):
    with pytest.raises(bloom.SchemaError, match=message):
        schema(rekey)


def test_without_rekey_the_fingerprint_and_the_hardening_are_unchanged():
    plain = schema()
    assert "rekey" not in plain.effective["hardening"]
    assert plain.hardening.rekey_key is None and "rekey" not in plain.hardening.enabled
    assert schema(REKEY).hardening.enabled == ("rekey",)
    assert schema(REKEY).fingerprint != plain.fingerprint


def test_the_v3_proposals_load_and_hide_sex_year_and_names_keys(secret):
    from evaluation._synthetic import generate

    p3 = bloom.Schema.load(bloom.__path__[0] + "/schemas/person-v3.json")
    f3 = bloom.Schema.load(bloom.__path__[0] + "/schemas/febrl-v3.json")
    assert p3.hardening.rekey_segments == ("name", "father")
    assert all(f.salt is not None for f in f3.fields if f.name in ("given_name", "surname"))
    assert f3.hardening.rekey_key == "key" and f3.hardening.rekey_segments == ("name",)
    reg = generate(300, 3, seed=1).agencies["agency-a"]
    f = bloom.encode(reg, p3, secret).filters
    assert not segment_bits(f, p3, "key").any()
