"""Data keys for encryption at rest: a key ring, read from a file or from one line of text.

A data key is 32 random bytes. Its id is the first 4 bytes of a BLAKE3 key derivation of the
key (8 hex characters): it names the key in every value encrypted under it, and a key and
its id cannot disagree. A ring holds several keys, oldest first; the newest encrypts, any
decrypts. The key file is text, mode 0600, one key a line (``<id> <64 hex>``; ``#`` starts a
comment)::

    # caselink data keys, oldest first: the last line encrypts, every line decrypts.
    3f9a1c2e 8c1f...
    a07be415 19d2...

The environment form is the keys' hex, separated by commas, oldest first. Keys never appear
in a ``repr``, a message or a log line; only their ids do.
"""

from __future__ import annotations

import functools
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

import blake3

from linkage._types import DataKeyError

__all__ = ["DATA_KEY_BYTES", "DataKey", "DataKeyRing"]

DATA_KEY_BYTES = 32
_ID_CONTEXT = "caselink 2026 data key id v1"
_HEADER = (
    "# caselink data keys, oldest first: the last line encrypts, every line decrypts.\n"
    "# Keep this file apart from the database and its backups, and back it up on its own:\n"
    "# without it no stored filter can be read.\n"
)


@dataclass(frozen=True, repr=False)
class DataKey:
    """One data key; ``key_id`` is derived from it. Never prints its bytes."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != DATA_KEY_BYTES:
            raise DataKeyError(f"a data key is {DATA_KEY_BYTES} bytes; got {len(self.secret)}")

    @functools.cached_property
    def key_id(self) -> str:
        return blake3.blake3(self.secret, derive_key_context=_ID_CONTEXT).digest(4).hex()

    @classmethod
    def generate(cls) -> DataKey:
        return cls(secrets.token_bytes(DATA_KEY_BYTES))

    @classmethod
    def from_hex(cls, text: str, *, source: str) -> DataKey:
        if len(text) != 2 * DATA_KEY_BYTES:
            raise DataKeyError(
                f"{source}: a data key is {2 * DATA_KEY_BYTES} hex characters; "
                f"found {len(text)} characters"
            )
        try:
            return cls(bytes.fromhex(text))
        except ValueError:
            raise DataKeyError(f"{source}: a data key must be hexadecimal") from None

    def __repr__(self) -> str:
        return f"DataKey({self.key_id}, <32 bytes hidden>)"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class DataKeyRing:
    """Data keys, oldest first: ``newest`` encrypts, :meth:`get` finds any by id."""

    keys: tuple[DataKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise DataKeyError("a data key ring needs at least one key")
        ids = [k.key_id for k in self.keys]
        if len(set(ids)) != len(ids):
            raise DataKeyError("the data key ring holds the same key twice; remove the repeat")

    @property
    def newest(self) -> DataKey:
        return self.keys[-1]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in self.keys)

    def get(self, key_id: str) -> DataKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)

    def with_new_key(self) -> DataKeyRing:
        """This ring and a fresh key, which becomes the newest."""
        return DataKeyRing((*self.keys, DataKey.generate()))

    def without(self, key_id: str) -> DataKeyRing:
        return DataKeyRing(tuple(k for k in self.keys if k.key_id != key_id))

    @classmethod
    def generate(cls) -> DataKeyRing:
        return cls((DataKey.generate(),))

    @classmethod
    def from_env(cls, value: str, *, source: str = "CASELINK_DATA_KEYS") -> DataKeyRing:
        """Hex keys separated by commas (or white space), oldest first."""
        parts = [p for p in value.replace(",", " ").split() if p]
        return cls(
            tuple(DataKey.from_hex(p, source=f"{source} key {n}") for n, p in enumerate(parts, 1))
        )

    @classmethod
    def from_text(cls, text: str, *, source: str) -> DataKeyRing:
        keys = []
        for n, line in enumerate(text.splitlines(), 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) > 2:
                raise DataKeyError(f"{source} line {n}: write '<key id> <64 hex characters>'")
            key = DataKey.from_hex(fields[-1], source=f"{source} line {n}")
            if len(fields) == 2 and fields[0].lower() != key.key_id:
                raise DataKeyError(
                    f"{source} line {n}: the id {fields[0]} is not the id of the key on that "
                    f"line ({key.key_id}); the line was altered — restore the file from its backup"
                )
            keys.append(key)
        if not keys:
            raise DataKeyError(f"{source} holds no data key")
        return cls(tuple(keys))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> DataKeyRing:
        p = Path(path)
        try:
            text = p.read_text(encoding="ascii")
        except FileNotFoundError:
            raise DataKeyError(f"no data-key file at {p}") from None
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) else "not text"
            raise DataKeyError(f"data-key file {p} cannot be read ({reason})") from None
        return cls.from_text(text, source=f"data-key file {p}")

    def render(self) -> str:
        return _HEADER + "".join(f"{k.key_id} {k.secret.hex()}\n" for k in self.keys)

    def write(self, path: str | os.PathLike[str], *, exclusive: bool = False) -> Path:
        """Write the ring to ``path`` (mode 0600) in one step: readers see the old file or the
        new one. ``exclusive``: only if no file is there (DataKeyError otherwise)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(self.render())
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            if exclusive:
                try:
                    os.link(tmp, p)  # fails if the file exists: no one's key is overwritten
                except FileExistsError:
                    raise DataKeyError(f"{p} exists already; refusing to overwrite it") from None
            else:
                os.replace(tmp, p)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return p

    def __repr__(self) -> str:
        return f"DataKeyRing({', '.join(self.ids)})"

    __str__ = __repr__
