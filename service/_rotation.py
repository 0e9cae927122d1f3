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
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from linkage import DataKeyError, DataKeyRing, Registry
from linkage.sealing import FilterCipher, SealedColumn, reseal_column
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


def _pending() -> SealedColumn:
    b = batch_records.c
    return SealedColumn(
        column=b.bloom,
        select=lambda last: (
            sa.select(b.batch_id, b.position, b.agreement_id, b.agency_id, b.record_ref, b.bloom)
            .where(b.bloom.is_not(None), sa.tuple_(b.batch_id, b.position) > last)
            .order_by(b.batch_id, b.position)
        ),
        key=lambda x: (x.batch_id, x.position),
        first=("", -1),
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
        for table in (Registry.sealed_column(), _pending()):
            n, p = reseal_column(engine, cipher, table, chunk)
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
