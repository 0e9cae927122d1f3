"""The shared secret: 32 random bytes held only by the agencies of one agreement.

It is read from a file (raw 32 bytes, or 64 hex characters) or from the ``CASELINK_SECRET``
environment variable (64 hex characters) -- never from a command-line argument, which would
land in shell history. Its ``repr`` never shows the bytes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from bloom._i18n import gettext
from caselink_errors import SecretError

__all__ = ["SECRET_BYTES", "SECRET_ENV", "Secret"]

SECRET_BYTES = 32
SECRET_ENV = "CASELINK_SECRET"


class Secret:
    """A 32-byte shared secret. Compare, hash and pass it around; it never prints itself."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise SecretError("a secret must be given as bytes")
        if len(key) != SECRET_BYTES:
            raise SecretError(
                gettext(
                    "a secret must be exactly {bytes} bytes; got {got} bytes. "
                    "Make one with `caselink keygen --out secret.key`."
                ).format(bytes=SECRET_BYTES, got=len(key))
            )
        self._key = bytes(key)

    @classmethod
    def generate(cls) -> Secret:
        """A fresh secret from the operating system's cryptographic random source."""
        return cls(secrets.token_bytes(SECRET_BYTES))

    @classmethod
    def from_hex(cls, text: str, *, source: str = "the secret") -> Secret:
        cleaned = "".join(text.split())
        if len(cleaned) != 2 * SECRET_BYTES:
            raise SecretError(
                gettext(
                    "{source} must hold {hex} hex characters ({bytes} bytes); found {found} "
                    "characters. Make one with `caselink keygen`."
                ).format(
                    source=source, hex=2 * SECRET_BYTES, bytes=SECRET_BYTES, found=len(cleaned)
                )
            )
        try:
            return cls(bytes.fromhex(cleaned))
        except ValueError as e:
            raise SecretError(
                gettext("{source} is not valid hexadecimal").format(source=source)
            ) from e

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Secret:
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError as e:
            raise SecretError(gettext("secret file {path} does not exist").format(path=p)) from e
        except OSError as e:
            raise SecretError(
                gettext("secret file {path} cannot be read: {reason}").format(
                    path=p, reason=e.strerror
                )
            ) from e
        if len(data) == SECRET_BYTES:
            return cls(data)
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise SecretError(
                gettext(
                    "secret file {path} holds {found} bytes; a secret is {bytes} raw bytes or "
                    "{hex} hex characters. Make one with `caselink keygen`."
                ).format(path=p, found=len(data), bytes=SECRET_BYTES, hex=2 * SECRET_BYTES)
            ) from None
        return cls.from_hex(text, source=gettext("secret file {path}").format(path=p))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Secret:
        env = os.environ if environ is None else environ
        value = env.get(SECRET_ENV)
        if not value:
            raise SecretError(gettext("{variable} is not set").format(variable=SECRET_ENV))
        return cls.from_hex(value, source=SECRET_ENV)

    @classmethod
    def resolve(cls, path: str | os.PathLike[str] | None) -> Secret:
        """The secret from ``path`` if given, else from ``CASELINK_SECRET``."""
        if path is not None:
            return cls.from_file(path)
        if os.environ.get(SECRET_ENV):
            return cls.from_env()
        raise SecretError(
            gettext(
                "no secret given: pass --secret FILE or set {variable} to its 64 hex characters"
            ).format(variable=SECRET_ENV)
        )

    def write(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the secret as hex to ``path`` with mode 0600 (readable by the owner only)."""
        p = Path(path)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            fd = os.open(p, flags, 0o600)
        except FileExistsError as e:
            raise SecretError(f"{p} already exists; refusing to overwrite a secret") from e
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(self._key.hex() + "\n")
        os.chmod(p, 0o600)
        return p

    @property
    def key_bytes(self) -> bytes:
        """The raw 32 bytes, for key derivation only."""
        return self._key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return "Secret(<32 bytes hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[type[Secret], tuple[bytes]]:
        # picklable for worker processes, still never printed
        return (Secret, (self._key,))
