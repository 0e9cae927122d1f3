"""The key check value: the same for one secret, different for another, in every batch,
printed for agencies to compare, and never a way back to the secret or its field keys."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bloom
from bloom._hashing import derive_key
from tests.bloom.test_cli import caselink

secrets_bytes = st.binary(min_size=32, max_size=32)


@given(secrets_bytes, secrets_bytes)
def test_one_value_per_secret_and_another_for_another_secret(a, b):
    va, vb = bloom.key_check_value(bloom.Secret(a)), bloom.key_check_value(bloom.Secret(b))
    assert bloom.KEY_CHECK_PATTERN.match(va)
    assert va == bloom.key_check_value(bloom.Secret(bytes(a)))  # deterministic
    assert (va == vb) == (a == b)  # 64 bits: a collision here would be news


@given(secrets_bytes)
def test_the_value_is_none_of_the_secrets_bytes_nor_of_its_field_keys(key):
    digits = bloom.key_check_value(bloom.Secret(key)).removeprefix("kcv1:")
    secret = bloom.Secret(key)
    field_keys = [derive_key(secret, "field", d).hex() for d in ("name", "birth", "place")]
    for material in (key.hex(), *field_keys):
        assert digits not in material


def test_a_known_value_holds_across_versions():
    # the contract: agencies on different caselink versions compare this value
    assert bloom.key_check_value(bloom.Secret(bytes(32))) == "kcv1:8f350b94c82f1c07"
    assert bloom.key_check_value(bloom.Secret(bytes(range(32)))) != "kcv1:8f350b94c82f1c07"


def test_every_batch_carries_its_secrets_value(tmp_path, people, person_schema, secret):
    batch = bloom.encode(people.head(20), person_schema, secret, agency="a")
    assert batch.metadata.key_check == bloom.key_check_value(secret)
    batch.write(tmp_path / "b.parquet")
    assert bloom.read_batch(tmp_path / "b.parquet").metadata.key_check == batch.metadata.key_check
    people.head(20).to_csv(tmp_path / "r.csv", index=False)
    bloom.encode_csv(
        tmp_path / "r.csv", person_schema, secret, agency="a", out=tmp_path / "c.parquet"
    )
    assert bloom.read_batch(tmp_path / "c.parquet").metadata.key_check == bloom.key_check_value(
        secret
    )


def _with_metadata(src, dst, **changes):
    table = pq.read_table(src)
    meta = json.loads(pq.read_metadata(src).metadata[b"caselink"])
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    pq.write_table(table.replace_schema_metadata({"caselink": json.dumps(meta)}), dst)
    return dst


def test_a_batch_from_before_key_checks_still_reads(tmp_path, people, person_schema, secret):
    bloom.encode(people.head(5), person_schema, secret, agency="a").write(tmp_path / "b.parquet")
    old = _with_metadata(tmp_path / "b.parquet", tmp_path / "old.parquet", key_check=None)
    assert bloom.read_batch(old).metadata.key_check is None


@pytest.mark.parametrize("value", ["kcv1:XYZ", "kcv2:0123456789abcdef", 7, ""])
def test_a_malformed_value_is_refused_on_read(tmp_path, people, person_schema, secret, value):
    bloom.encode(people.head(5), person_schema, secret, agency="a").write(tmp_path / "b.parquet")
    bad = _with_metadata(tmp_path / "b.parquet", tmp_path / "bad.parquet", key_check=value)
    with pytest.raises(bloom.BatchError, match="metadata/key_check: not a key check value"):
        bloom.read_batch(bad)


def test_keygen_prints_the_value_and_check_reads_it_back(tmp_path):
    made = caselink("keygen", "--out", tmp_path / "s.key")
    assert made.returncode == 0, made.stderr
    value = bloom.key_check_value(bloom.Secret.from_file(tmp_path / "s.key"))
    assert value in made.stderr
    checked = caselink("keygen", "--check", tmp_path / "s.key")
    assert checked.returncode == 0 and checked.stdout.strip() == value
    assert caselink("keygen").returncode == 2  # neither --out nor --check
    both = caselink("keygen", "--out", tmp_path / "t.key", "--check", tmp_path / "s.key")
    assert both.returncode == 2 and not (tmp_path / "t.key").exists()


def test_inspect_shows_the_value(tmp_path, people, person_schema, secret):
    batch = bloom.encode(people.head(5), person_schema, secret, agency="a")
    batch.write(tmp_path / "b.parquet")
    shown = caselink("inspect", tmp_path / "b.parquet")
    assert shown.returncode == 0 and batch.metadata.key_check in shown.stdout
