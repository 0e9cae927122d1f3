"""Data-key rotation: every stored filter re-encrypted under the newest key, then old keys go.

:func:`reseal` walks ``registry_records`` and ``batch_records`` in chunks of :data:`CHUNK`
rows, one transaction each, and re-encrypts every value that names another key than the
ring's newest — or that is stored in the clear, from before encryption at rest. A row the
running service changed meanwhile is left as it is (the update matches the old bytes) and the
next pass takes it; passes repeat until no value names another key. On SQLite the file is then
vacuumed and its write-ahead log truncated, so the pages the old values freed no longer hold
them. :func:`drop_key` takes a key out of the key file once no stored value names it.

The running service follows the key file (:class:`linkage.FilterCipher` reads it again when
it changes), so it reads values sealed under the new key at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from linkage._datakeys import DataKeyRing
from linkage._registry import records_table, registry_aad
from linkage._sealing import FilterCipher, is_sealed, sealed_key_id
from linkage._types import DataKeyError, SealedValueError
from service._batches import batch_aad
from service._datakeys import inventory, key_problems
from service._tables import batch_records

__all__ = ["CHUNK", "RotationReport", "drop_key", "reseal"]

CHUNK = 2000
PASSES = 5


@dataclass(frozen=True)
class RotationReport:
    key_id: str  # the newest key, which now seals every stored filter
    resealed: int  # values re-encrypted (counted over every pass)
    was_plain: int  # of those, values that had been stored in the clear
    unused: tuple[str, ...]  # keys of the ring no stored value names any more


def _new_value(cipher: FilterCipher, value: bytes, aad: bytes, where: str) -> bytes | None:
    """The value re-sealed under the newest key; None if it is sealed under it already."""
    if sealed_key_id(value) == cipher.ring.newest.key_id:
        return None
    if is_sealed(value):
        try:
            plain = cipher.decrypt(value, aad)
        except (SealedValueError, DataKeyError) as e:
            raise type(e)(f"the stored filter of {where} {e}") from None
    elif len(value) % 8 == 0:
        plain = value
    else:
        raise SealedValueError(f"the stored filter of {where} has no known format")
    return cipher.encrypt(plain, aad)


@dataclass(frozen=True)
class _Stored:
    """One table of stored filters, as a rotation pass walks it in key order."""

    select: Callable[[Any], Any]  # the rows after the last key seen, in key order
    key: Callable[[Any], Any]  # a row's key
    aad: Callable[[Any], bytes]  # what its value is bound to
    where: Callable[[Any], str]  # the row, named for an error
    update: Any  # sets ``new`` where the row's key and ``old`` value match
    params: Callable[[Any], dict]  # the update's key parameters for a row


def _registry() -> _Stored:
    r = records_table.c
    return _Stored(
        select=lambda last: (
            sa.select(r.id, r.scope, r.agency, r.record_ref, r.bloom)
            .where(r.id > last)
            .order_by(r.id)
        ),
        key=lambda x: x.id,
        aad=lambda x: registry_aad(x.scope, x.agency, x.record_ref),
        where=lambda x: f"registry record {x.id}",
        update=records_table.update()
        .where(r.id == sa.bindparam("k_id"), r.bloom == sa.bindparam("old"))
        .values(bloom=sa.bindparam("new")),
        params=lambda x: {"k_id": x.id},
    )


def _pending() -> _Stored:
    b = batch_records.c
    return _Stored(
        select=lambda last: (
            sa.select(b.batch_id, b.position, b.agreement_id, b.agency_id, b.record_ref, b.bloom)
            .where(b.bloom.is_not(None), sa.tuple_(b.batch_id, b.position) > last)
            .order_by(b.batch_id, b.position)
        ),
        key=lambda x: (x.batch_id, x.position),
        aad=lambda x: batch_aad(x.agreement_id, x.agency_id, x.record_ref),
        where=lambda x: f"batch {x.batch_id} record {x.position}",
        update=batch_records.update()
        .where(
            b.batch_id == sa.bindparam("k_bid"),
            b.position == sa.bindparam("k_pos"),
            b.bloom == sa.bindparam("old"),
        )
        .values(bloom=sa.bindparam("new")),
        params=lambda x: {"k_bid": x.batch_id, "k_pos": x.position},
    )


def _pass(
    engine: sa.Engine, cipher: FilterCipher, chunk: int, table: _Stored, first: Any
) -> tuple[int, int]:
    """Re-encrypt one table in chunks, a transaction each: (values resealed, of them plain)."""
    last, done, plain = first, 0, 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(table.select(last).limit(chunk)).all()
            if not rows:
                return done, plain
            changes = []
            for x in rows:
                new = _new_value(cipher, x.bloom, table.aad(x), table.where(x))
                if new is not None:
                    changes.append({**table.params(x), "old": x.bloom, "new": new})
                    plain += not is_sealed(x.bloom)
            if changes:
                done += conn.execute(table.update, changes).rowcount
            last = table.key(rows[-1])


def _registry_pass(engine: sa.Engine, cipher: FilterCipher, chunk: int) -> tuple[int, int]:
    return _pass(engine, cipher, chunk, _registry(), -1)


def _batch_pass(engine: sa.Engine, cipher: FilterCipher, chunk: int) -> tuple[int, int]:
    return _pass(engine, cipher, chunk, _pending(), ("", -1))


def _vacuum(engine: sa.Engine) -> None:
    """SQLite: rewrite the file without the freed pages, and empty the write-ahead log."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    with sqlite3.connect(str(url.database), timeout=60, isolation_level=None) as conn:
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def reseal(engine: sa.Engine, cipher: FilterCipher, *, chunk: int = CHUNK) -> RotationReport:
    """Re-encrypt every stored filter under ``cipher``'s newest key (see the module)."""
    problems = key_problems(inventory(engine), cipher.ring, plain_ok=True)
    if problems:
        raise DataKeyError("cannot rotate: " + "; ".join(problems))
    done = plain = 0
    for _ in range(PASSES):
        for one_pass in (_registry_pass, _batch_pass):
            n, p = one_pass(engine, cipher, chunk)
            done, plain = done + n, plain + p
        held = inventory(engine)
        if set(held.by_key) <= {cipher.ring.newest.key_id} and not held.plain:
            break
    else:
        raise DataKeyError(
            f"stored filters kept changing under other keys for {PASSES} passes; "
            "run the rotation again (or stop the service first)"
        )
    _vacuum(engine)
    unused = tuple(k for k in cipher.ring.ids if k not in held.by_key)
    return RotationReport(cipher.ring.newest.key_id, done, plain, unused)


def drop_key(engine: sa.Engine, path: Path, key_id: str) -> DataKeyRing:
    """Remove ``key_id`` from the key file at ``path``; refused while anything needs it."""
    ring = DataKeyRing.from_file(path)
    if ring.get(key_id) is None:
        raise DataKeyError(
            f"the key file {path} holds no key {key_id} (it holds {', '.join(ring.ids)})"
        )
    if key_id == ring.newest.key_id:
        raise DataKeyError(
            f"{key_id} is the newest key, which encrypts; rotate to a new key "
            "first (caselink admin rotate-data-key)"
        )
    still = inventory(engine).by_key.get(key_id, 0)
    if still:
        raise DataKeyError(
            f"{still:,} stored filters are still encrypted under {key_id}; re-encrypt them "
            "first (caselink admin rotate-data-key --no-new-key)"
        )
    kept = ring.without(key_id)
    kept.write(path)
    return kept
