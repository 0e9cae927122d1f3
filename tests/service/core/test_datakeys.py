"""The service's data keys against its database (SQLite and PostgreSQL): the key file made
for a fresh database, refusals without the keys the stored filters need, filters from before
encryption at rest encrypted by a rotation, and keys dropped only once nothing needs them."""

from __future__ import annotations

import logging
import stat

import numpy as np
import pytest
import sqlalchemy as sa

import bloom
import linkage
from linkage import DataKeyError, DataKeyRing, FilterCipher
from linkage._registry import records_table
from linkage.sealing import is_sealed
from service._datakeys import inventory, open_cipher
from service._rotation import drop_key, reseal
from service._settings import Settings
from tests.atrest import filter_words, word_hits

SCOPE = "agr_keys"


def _settings(engine: sa.Engine, **kw) -> Settings:
    return Settings(database_url=engine.url.render_as_string(hide_password=False), **kw)


def _link(engine: sa.Engine, people, schema, secret, codec=None) -> np.ndarray:
    """Eight records (two agencies) into the agreement's registry; their filters."""
    batches = [bloom.encode(people, schema, secret, agency=a, id_column="ref") for a in "ab"]
    reg = linkage.Registry(engine, scope=SCOPE, create_tables=False, codec=codec)
    linkage.link(batches, registry=reg)
    return np.vstack([b.filters for b in batches])


def _values(engine: sa.Engine) -> list[bytes]:
    with engine.connect() as c:
        return [bytes(v) for v in c.execute(sa.select(records_table.c.bloom)).scalars()]


def test_a_fresh_database_gets_a_private_key_file(engine, tmp_path, caplog):
    path = tmp_path / "keys" / "data-keys"
    with caplog.at_level(logging.WARNING, logger="service._datakeys"):
        cipher = open_cipher(_settings(engine, data_key_file=path), engine)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert any("back this file up now" in r.getMessage() for r in caplog.records)
    assert cipher.ring.newest.secret.hex() not in caplog.text
    again = open_cipher(_settings(engine, data_key_file=path), engine)
    assert again.ring.ids == cipher.ring.ids  # made once, then read


def test_filters_from_before_encryption_are_refused_then_encrypted_by_a_rotation(
    engine, tmp_path, people, person_schema, secret
):
    filters = _link(engine, people, person_schema, secret)  # no codec: in the clear
    settings = _settings(engine, data_key_file=tmp_path / "data-keys")
    with pytest.raises(DataKeyError, match=r"8 filters in the clear .* rotate-data-key"):
        open_cipher(settings, engine)
    cipher = FilterCipher.from_file(settings.data_key_file)
    report = reseal(engine, cipher, chunk=3)  # several chunks
    assert (report.resealed, report.was_plain, report.key_id) == (8, 8, cipher.ring.newest.key_id)
    assert inventory(engine).by_key == {cipher.ring.newest.key_id: 8}
    values = _values(engine)
    assert all(is_sealed(v) for v in values)
    assert word_hits(b"".join(values), filter_words(filters)) == 0
    open_cipher(settings, engine)  # starts now
    reg = linkage.Registry(engine, scope=SCOPE, create_tables=False, codec=cipher)
    assert sorted(map(bytes, reg.state().filters)) == sorted(map(bytes, filters))


def test_sealed_filters_without_their_key_refuse_to_start(
    engine, tmp_path, people, person_schema, secret
):
    ring = DataKeyRing.generate()
    _link(engine, people, person_schema, secret, FilterCipher(ring))
    kid = ring.newest.key_id
    missing = tmp_path / "gone" / "data-keys"
    with pytest.raises(
        DataKeyError,
        match=f"8 encrypted filters \\(data key\\(s\\) {kid}\\) and there is no data-key file",
    ):
        open_cipher(_settings(engine, data_key_file=missing), engine)
    assert not missing.exists()  # no new key that would hide the lost one
    other = DataKeyRing.generate().write(tmp_path / "other")
    with pytest.raises(DataKeyError, match=f"encrypted under data key\\(s\\) {kid}, which the"):
        open_cipher(_settings(engine, data_key_file=other), engine)
    hexes = ring.newest.secret.hex()
    with pytest.raises(DataKeyError, match="not both"):
        open_cipher(_settings(engine, data_keys=hexes, data_key_file=other), engine)
    assert open_cipher(_settings(engine, data_keys=hexes), engine).ring.ids == (kid,)


def test_a_key_is_dropped_only_once_no_stored_filter_needs_it(
    engine, tmp_path, people, person_schema, secret
):
    path = DataKeyRing.generate().write(tmp_path / "data-keys")
    first = DataKeyRing.from_file(path)
    _link(engine, people, person_schema, secret, FilterCipher(first))
    old = first.newest.key_id
    with pytest.raises(DataKeyError, match="newest key"):
        drop_key(engine, path, old)
    first.with_new_key().write(path)
    with pytest.raises(DataKeyError, match=f"8 stored filters are still encrypted under {old}"):
        drop_key(engine, path, old)
    report = reseal(engine, FilterCipher.from_file(path))
    assert report.resealed == 8 and report.unused == (old,)
    assert drop_key(engine, path, old).ids == (report.key_id,)
    with pytest.raises(DataKeyError, match="holds no key"):
        drop_key(engine, path, old)
