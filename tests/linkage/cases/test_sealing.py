"""Encryption at rest of stored filters: the sealed format, the key ring, the registry's codec
(SQLite and PostgreSQL) and `caselink link --data-key-file`."""

from __future__ import annotations

import stat

import numpy as np
import pytest
import sqlalchemy as sa

import bloom
import linkage
from linkage import DataKeyError, DataKeyRing, FilterCipher, SealedValueError
from linkage._registry import records_table
from linkage.sealing import OVERHEAD, VERSION, filter_aad, is_sealed, sealed_key_id
from tests.atrest import filter_words, word_hits
from tests.cli import caselink

AAD = filter_aad("registry_records", "agr_1", "agency-a", "R-1")


def _filter(seed: int = 0, words: int = 16) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**63, words, dtype=np.uint64).astype("<u8").tobytes()


def test_a_sealed_value_has_the_documented_format():
    cipher, value = FilterCipher(DataKeyRing.generate()), _filter()
    sealed = cipher.encrypt(value, AAD)
    assert len(sealed) == len(value) + OVERHEAD == len(value) + 33 and len(sealed) % 8 == 1
    assert sealed[0] == VERSION and sealed_key_id(sealed) == cipher.ring.newest.key_id
    assert value not in sealed and is_sealed(sealed) and not is_sealed(value)
    again = cipher.encrypt(value, AAD)
    assert again[5:17] != sealed[5:17] and again[17:] != sealed[17:]  # a fresh nonce each time
    assert cipher.decrypt(sealed, AAD) == cipher.decrypt(again, AAD) == value


def test_every_changed_byte_is_refused_never_opened():
    cipher, value = FilterCipher(DataKeyRing.generate()), _filter(1)
    sealed = cipher.encrypt(value, AAD)
    for k in range(len(sealed)):
        altered = bytearray(sealed)
        altered[k] ^= 0x01
        with pytest.raises(SealedValueError if not 1 <= k <= 4 else DataKeyError):
            cipher.decrypt(bytes(altered), AAD)


@pytest.mark.parametrize(
    "other",
    [
        ("registry_records", "agr_2", "agency-a", "R-1"),
        ("registry_records", "agr_1", "b", "R-1"),
        ("registry_records", "agr_1", "agency-a", "R-2"),
        ("batch_records", "agr_1", "agency-a", "R-1"),
    ],
)
def test_a_value_moved_to_another_row_does_not_open(other):
    cipher = FilterCipher(DataKeyRing.generate())
    sealed = cipher.encrypt(_filter(2), AAD)
    with pytest.raises(SealedValueError, match="altered, or moved here from another record"):
        cipher.decrypt(sealed, filter_aad(*other))


def test_the_newest_key_encrypts_and_every_key_decrypts():
    old, value = DataKeyRing.generate(), _filter(3)
    under_old = FilterCipher(old).encrypt(value, AAD)
    ring = old.with_new_key()
    cipher = FilterCipher(ring)
    assert sealed_key_id(cipher.encrypt(value, AAD)) == ring.newest.key_id != old.newest.key_id
    assert cipher.decrypt(under_old, AAD) == value
    with pytest.raises(DataKeyError, match=f"data key {old.newest.key_id}, which is not in"):
        FilterCipher(ring.without(old.newest.key_id)).decrypt(under_old, AAD)


def test_a_key_file_is_private_checked_and_never_printed(tmp_path):
    ring = DataKeyRing.generate().with_new_key()
    path = ring.write(tmp_path / "keys" / "data-keys")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DataKeyRing.from_file(path).ids == ring.ids
    with pytest.raises(DataKeyError, match="exists already"):
        ring.write(path, exclusive=True)
    first = ring.keys[0]
    path.write_text(path.read_text().replace(first.key_id, "00000000"))
    with pytest.raises(DataKeyError, match="line 4: the id 00000000 is not the id") as e:
        DataKeyRing.from_file(path)
    for shown in (str(e.value), repr(ring), str(first), repr(FilterCipher(ring).ring)):
        assert first.secret.hex() not in shown and ring.newest.secret.hex() not in shown


def test_keys_from_the_environment_oldest_first():
    ring = DataKeyRing.generate().with_new_key()
    value = ",".join(k.secret.hex() for k in ring.keys)
    assert DataKeyRing.from_env(value).ids == ring.ids
    with pytest.raises(DataKeyError, match="key 2: a data key is 64 hex characters"):
        DataKeyRing.from_env(ring.keys[0].secret.hex() + ",abc")


def test_a_cipher_follows_its_key_file(tmp_path):
    path = DataKeyRing.generate().write(tmp_path / "data-keys")
    cipher, value = FilterCipher.from_file(path), _filter(4)
    rotated = DataKeyRing.from_file(path).with_new_key()
    rotated.write(path)  # a rotation by another process
    sealed = FilterCipher(rotated).encrypt(value, AAD)
    assert cipher.decrypt(sealed, AAD) == value  # a key id it lacks makes it read the file
    assert sealed_key_id(cipher.encrypt(value, AAD)) == rotated.newest.key_id


# -- the registry ---------------------------------------------------------------------------
def _batches(people, schema, secret) -> list[bloom.EncodedBatch]:
    return [bloom.encode(people, schema, secret, agency=a, id_column="ref") for a in ("a", "b")]


def _stored(reg: linkage.Registry) -> list[tuple[int, bytes]]:
    r = records_table.c
    with reg.engine.connect() as c:
        rows = c.execute(sa.select(r.id, r.bloom).where(r.scope == reg.scope).order_by(r.id))
        return [(int(i), bytes(b)) for i, b in rows]


def _set(reg: linkage.Registry, rid: int, value: bytes) -> None:
    with reg.engine.begin() as c:
        c.execute(records_table.update().where(records_table.c.id == rid).values(bloom=value))


def test_a_sealed_registry_stores_no_filter_in_the_clear(
    make_registry, people, person_schema, secret
):
    batches = _batches(people, person_schema, secret)
    words = filter_words(np.vstack([b.filters for b in batches]))
    plain, sealed = make_registry(), make_registry()
    sealed.codec = FilterCipher(DataKeyRing.generate())
    for reg in (plain, sealed):
        linkage.link(batches, registry=reg)
    assert word_hits(b"".join(v for _, v in _stored(plain)), words) > 0  # the check can see
    values = [v for _, v in _stored(sealed)]
    assert len(values) == 8 and all(is_sealed(v) for v in values)
    assert word_hits(b"".join(values), words) == 0
    state, want = sealed.state(), {}
    for b in batches:
        want |= {(b.metadata.agency, r): f for r, f in zip(b.record_refs, b.filters, strict=True)}
    for agency, ref, got in zip(state.agencies, state.refs, state.filters, strict=True):
        assert np.array_equal(got, want[(agency, ref)])


def test_a_swapped_or_altered_filter_is_named_not_opened(
    make_registry, people, person_schema, secret
):
    reg = make_registry()
    reg.codec = FilterCipher(DataKeyRing.generate())
    linkage.link(_batches(people, person_schema, secret), registry=reg)
    (id0, v0), (id1, v1) = _stored(reg)[:2]
    _set(reg, id0, v1)
    _set(reg, id1, v0)
    with pytest.raises(SealedValueError, match=f"registry record {id0} fails authentication") as e:
        reg.state()
    assert not any(ref in str(e.value) for ref in people["ref"])  # no record_ref in a message
    _set(reg, id1, v1)
    _set(reg, id0, v0[:40] + bytes([v0[40] ^ 4]) + v0[41:])
    with pytest.raises(SealedValueError, match=f"registry record {id0} fails authentication"):
        reg.state()
    _set(reg, id0, v0)
    assert len(reg.state().ids) == 8


def test_a_registry_without_the_key_refuses_sealed_filters_and_vice_versa(
    make_registry, people, person_schema, secret
):
    batches, cipher = _batches(people, person_schema, secret), FilterCipher(DataKeyRing.generate())
    sealed, plain = make_registry(), make_registry()
    sealed.codec = cipher
    linkage.link(batches, registry=sealed)
    linkage.link(batches, registry=plain)
    sealed.codec, plain.codec = None, cipher
    with pytest.raises(DataKeyError, match=r"holds an encrypted filter .* give the data keys"):
        sealed.state()
    with pytest.raises(SealedValueError, match="filter in the clear where an encrypted one"):
        plain.state()


def test_caselink_link_seals_its_registry_given_a_key_file(tmp_path, people, person_schema, secret):
    batches = _batches(people, person_schema, secret)
    paths = [b.write(tmp_path / f"{b.metadata.agency}.parquet") for b in batches]
    reg, keys = tmp_path / "reg.sqlite", tmp_path / "keys" / "data-keys"

    def link(*extra):  # the command's entry function, in this process (tests/cli.py)
        return caselink(
            "link", *paths, "--out", tmp_path / "c.csv", "--registry", reg, *extra, clean=False
        )

    first = link("--data-key-file", keys)
    assert first.returncode == 0, first.stderr
    assert "made a new data key" in first.stderr and stat.S_IMODE(keys.stat().st_mode) == 0o600
    words = filter_words(np.vstack([b.filters for b in batches]))
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("reg.sqlite*"))
    assert word_hits(on_disk, words) == 0
    without = link()
    assert without.returncode == 2 and "give the data keys" in without.stderr, without.stderr
    again = link("--data-key-file", keys)
    assert again.returncode == 0, again.stderr
