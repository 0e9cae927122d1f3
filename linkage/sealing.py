"""Encryption at rest of stored filters: ChaCha20-Poly1305 under a ring of data keys.

A public module of ``linkage``: the sealing contract the case registry and the service's
batch store share (``linkage.sealing.seal_rows`` / ``open_rows`` / ``filter_aad`` ...).

A stored filter is *sealed*: encrypted and authenticated, one value at a time::

    offset  bytes   what
    0       1       format version (0xC1)
    1       4       id of the data key (:mod:`linkage._datakeys`)
    5       12      nonce, fresh from the operating system for every value
    17      n + 16  the n-byte filter, encrypted, then the 16-byte Poly1305 tag

A sealed value is n + 33 bytes long. A plain filter is a whole number of 64-bit words, a
sealed one never is, so neither is mistaken for the other. The associated data binds each
value to its row — the table and the row's identity (scope, agency, record_ref, see
:func:`filter_aad`) — and to its version and key id: a changed byte, or a value moved into
another row, fails to decrypt with :class:`SealedValueError`, never yields another filter.

:class:`FilterCipher` is the codec both the case registry and the service take
(``encrypt(value, aad)`` / ``decrypt(value, aad)``). A cipher read from a key file follows
the file: it looks at most every half second whether the file changed (a rotation added a
key), and at once when it meets a key id it does not hold. :func:`seal_rows` and
:func:`open_rows` are the loops every reader and writer of stored filters goes through; with
no codec (an agency's own offline registry) they keep filters in the clear, and refuse
sealed ones with a message that asks for the key.

A table of stored filters is described by a :class:`SealedColumn` (how to walk it in key
order, what each value is bound to, how to update one value if unchanged):
:func:`count_heads` counts its values by key id, :func:`reseal_column` re-encrypts them under
the newest key. The registry describes its own (``Registry.sealed_column()``), the service its
batch store; the tables themselves stay with their owners.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from linkage._datakeys import DataKeyRing
from linkage._types import DataKeyError, SealedValueError

__all__ = [
    "OVERHEAD",
    "VERSION",
    "FilterCipher",
    "FilterCodec",
    "SealedColumn",
    "count_heads",
    "filter_aad",
    "is_sealed",
    "open_rows",
    "registry_aad",
    "reseal_column",
    "seal_rows",
    "sealed_key_id",
]

VERSION = 0xC1
_NONCE = 12
_HEAD = 1 + 4 + _NONCE
OVERHEAD = _HEAD + 16
_RELOAD_SECONDS = 0.5
_AAD_LABEL = b"caselink sealed filter v1\x00"


class FilterCodec(Protocol):
    """Anything that seals a stored filter and opens it again, bound to ``aad``."""

    def encrypt(self, value: bytes, aad: bytes) -> bytes: ...

    def decrypt(self, value: bytes, aad: bytes) -> bytes: ...


def filter_aad(table: str, *identity: object) -> bytes:
    """Associated data naming a stored filter's row: its table and identity, each field
    length-prefixed (so ``("ab", "c")`` and ``("a", "bc")`` differ)."""
    out = bytearray(_AAD_LABEL)
    for field in (table, *identity):
        b = str(field).encode("utf-8")
        out += len(b).to_bytes(4, "big") + b
    return bytes(out)


def registry_aad(scope: str, agency: str, record_ref: str) -> bytes:
    """What a registered record's sealed filter is bound to: its row's identity."""
    return filter_aad("registry_records", scope, agency, record_ref)


def is_sealed(value: bytes) -> bool:
    return len(value) >= OVERHEAD and len(value) % 8 == 1 and value[0] == VERSION


def sealed_key_id(value: bytes) -> str | None:
    """The data key id a sealed value names; None for anything else."""
    return value[1:5].hex() if is_sealed(value) else None


class FilterCipher:
    """Seals and opens stored filters with a :class:`DataKeyRing` (the newest key seals)."""

    def __init__(self, ring: DataKeyRing, *, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._next_check = time.monotonic() + _RELOAD_SECONDS
        self._use(ring)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> FilterCipher:
        """A cipher over the ring in a key file, following later changes of the file."""
        return cls(DataKeyRing.from_file(path), path=path)

    @property
    def ring(self) -> DataKeyRing:
        return self._ring

    @property
    def path(self) -> Path | None:
        return self._path

    def _use(self, ring: DataKeyRing) -> None:
        aeads = {bytes.fromhex(k.key_id): ChaCha20Poly1305(k.secret) for k in ring.keys}
        newest = bytes.fromhex(ring.newest.key_id)
        self._ring, self._aeads, self._newest = ring, aeads, (newest, aeads[newest])

    def _file_stamp(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def reload(self, *, force: bool = False) -> None:
        """Read the key file again if it changed (a broken or missing file keeps the ring)."""
        if self._path is None:
            return
        now = time.monotonic()
        if not force and now < self._next_check:
            return
        with self._lock:
            self._next_check = now + _RELOAD_SECONDS
            stamp = self._file_stamp()
            if stamp is None or stamp == self._stamp:
                return
            try:
                ring = DataKeyRing.from_file(self._path)
            except DataKeyError:
                return
            if set(self._ring.ids) - set(ring.ids):
                # a dropped key still opens what it sealed
                kept = [k for k in self._ring.keys if k.key_id not in ring.ids]
                ring = DataKeyRing((*kept, *ring.keys))
            self._stamp = stamp
            self._use(ring)

    def encrypt(self, value: bytes, aad: bytes) -> bytes:
        self.reload()
        key_id, aead = self._newest
        head = bytes((VERSION,)) + key_id
        nonce = os.urandom(_NONCE)
        return head + nonce + aead.encrypt(nonce, value, head + aad)

    def decrypt(self, value: bytes, aad: bytes) -> bytes:
        if not is_sealed(value):
            if len(value) % 8 == 0:
                raise SealedValueError(
                    "holds a filter in the clear where an encrypted one belongs; encrypt "
                    "every stored filter with `caselink admin rotate-data-key`"
                )
            raise SealedValueError(f"is not a sealed filter ({len(value)} bytes, unknown format)")
        key_id = value[1:5]
        aead = self._aeads.get(key_id)
        if aead is None:
            self.reload(force=True)
            aead = self._aeads.get(key_id)
        if aead is None:
            raise DataKeyError(
                f"was encrypted under data key {key_id.hex()}, which is not in the key ring "
                f"({', '.join(self._ring.ids)}); restore the key file that holds it"
            )
        try:
            return aead.decrypt(value[5:_HEAD], value[_HEAD:], value[:5] + aad)
        except InvalidTag:
            raise SealedValueError(
                "fails authentication: it was altered, or moved here from another record"
            ) from None


def seal_rows(
    codec: FilterCodec | None, raw: Sequence[bytes], aad: Callable[[int], bytes]
) -> list[bytes]:
    """The values to store for plain filters ``raw`` (row ``k`` bound to ``aad(k)``)."""
    if codec is None:
        return list(raw)
    return [codec.encrypt(v, aad(k)) for k, v in enumerate(raw)]


def open_rows(
    codec: FilterCodec | None,
    values: Sequence[bytes],
    aad: Callable[[int], bytes],
    width: int,
    where: Callable[[int], str],
) -> bytes:
    """Stored values back as plain filters of ``width`` bytes, joined in order.

    A value that fails is named by ``where(k)`` (a row id, never a record_ref): altered or
    moved values raise :class:`SealedValueError`, a missing key :class:`DataKeyError`.
    """
    if codec is None:
        for k, v in enumerate(values):
            if len(v) != width:
                if is_sealed(v):
                    raise DataKeyError(
                        f"{where(k)} holds an encrypted filter (data key {sealed_key_id(v)}); "
                        "give the data keys it was encrypted with"
                    )
                raise SealedValueError(
                    f"{where(k)} holds {len(v)} bytes, not a {width * 8}-bit filter"
                )
        return b"".join(values)
    out = []
    for k, v in enumerate(values):
        try:
            plain = codec.decrypt(v, aad(k))
        except (SealedValueError, DataKeyError) as e:
            raise type(e)(f"the stored filter of {where(k)} {e}") from None
        if len(plain) != width:
            raise SealedValueError(
                f"the stored filter of {where(k)} holds {len(plain) * 8} "
                f"bits; {width * 8} were expected"
            )
        out.append(plain)
    return b"".join(out)


@dataclass(frozen=True)
class SealedColumn:
    """One table of stored filters, as a rotation walks it in key order."""

    column: Any  # the column of stored values (counted by :func:`count_heads`)
    select: Callable[[Any], Any]  # the rows after the last key seen, in key order
    key: Callable[[Any], Any]  # a row's key
    first: Any  # a key before every row's
    aad: Callable[[Any], bytes]  # what its value is bound to
    where: Callable[[Any], str]  # the row, named for an error (never a record_ref)
    update: Any  # sets ``new`` where the row's key and ``old`` value match
    params: Callable[[Any], dict[str, Any]]  # the update's key parameters for a row


def count_heads(conn: sa.Connection, column: Any) -> Counter[bytes | None]:
    """Values of one filter column by head: 5 bytes (version, key id) if sealed-shaped,
    ``b"plain"`` for whole 64-bit words, None for anything else (counted by the database)."""
    n = sa.func.length(column)
    head = sa.case(
        (n % 8 == 1, sa.func.substr(column, 1, 5)),
        (n % 8 == 0, sa.literal(b"plain", sa.LargeBinary)),
        else_=sa.null(),
    ).label("head")
    inner = sa.select(head).where(column.is_not(None)).subquery()
    rows = conn.execute(sa.select(inner.c.head, sa.func.count()).group_by(inner.c.head))
    return Counter({(bytes(h) if h is not None else None): int(c) for h, c in rows})


def _resealed(cipher: FilterCipher, value: bytes, aad: bytes, where: str) -> bytes | None:
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


def reseal_column(
    engine: sa.Engine, cipher: FilterCipher, table: SealedColumn, chunk: int
) -> tuple[int, int]:
    """Re-encrypt one table under the newest key in chunks of ``chunk`` rows, a transaction
    each: ``(values resealed, of them stored in the clear before)``. A row changed meanwhile
    keeps its value (the update matches the old bytes); the next pass takes it."""
    last, done, plain = table.first, 0, 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(table.select(last).limit(chunk)).all()
            if not rows:
                return done, plain
            changes = []
            for x in rows:
                new = _resealed(cipher, x.bloom, table.aad(x), table.where(x))
                if new is not None:
                    changes.append({**table.params(x), "old": x.bloom, "new": new})
                    plain += not is_sealed(x.bloom)
            if changes:
                done += conn.execute(table.update, changes).rowcount
            last = table.key(rows[-1])
