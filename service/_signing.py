"""The service's audit signing key: an Ed25519 key held in a file, never in the database.

The key file is PEM (PKCS#8, unencrypted) at ``CASELINK_AUDIT_KEY_FILE``, or
``CASELINK_STATE_DIR/audit-signing.key`` when that is unset. ``caselink serve`` creates it on
first start — the directory with mode 0700, the file with mode 0600, never overwriting one
that exists — and ``caselink admin audit-key`` prints its public key for the parties to keep.
A key is named by its *key id*: the first 16 hex digits of BLAKE3 of the raw public key.

Only the public key is needed to check a checkpoint; the private key signs and should be
readable by the service's user alone, on storage the database's holder cannot reach.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from caselink_errors import AuditKeyError

__all__ = ["AuditKeyError", "AuditSigner", "PublicKey", "load_signer", "parse_public_key"]

logger = logging.getLogger(__name__)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class PublicKey:
    """An Ed25519 public key that checks checkpoint signatures, with its key id."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.hex = self.raw.hex()
        self.key_id = blake3.blake3(self.raw).hexdigest()[:16]

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class AuditSigner:
    """The private key: signs canonical checkpoint bytes."""

    def __init__(self, key: Ed25519PrivateKey, path: Path | None = None) -> None:
        self._key, self.path = key, path
        self.public = PublicKey(key.public_key())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def _create(path: Path) -> bool:
    """Write a new key to ``path`` (0600, never over an existing file); False if one exists."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False  # another process made it first: use that one
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    logger.info("created the audit signing key %s (mode 0600); keep it off the database", path)
    return True


def load_signer(path: Path, *, create: bool = False) -> AuditSigner:
    """The signing key in ``path``; made there first when ``create`` and there is none."""
    try:
        if create and not path.exists():
            _create(path)
        mode = path.stat().st_mode
        pem = path.read_bytes()
    except OSError as e:
        hint = "start the service once or run 'caselink admin audit-key --create'"
        raise AuditKeyError(
            f"audit signing key {path}: cannot read it ({e.strerror}); {hint}, "
            "or set CASELINK_AUDIT_KEY_FILE"
        ) from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("the audit signing key %s is open to other users; chmod 600 it", path)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise AuditKeyError(f"audit signing key {path}: not an unencrypted PEM private key") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"audit signing key {path}: not an Ed25519 key")
    return AuditSigner(key, path)


def parse_public_key(text: str, *, where: str = "--public-key") -> PublicKey:
    """A public key from its 64 hex digits (as ``caselink admin audit-key`` prints it), or
    from a file holding them."""
    value = text.strip().lower()
    if not _HEX64.match(value):
        path = Path(text.strip())
        try:
            value = path.read_text(encoding="utf-8").strip().lower()
        except (OSError, UnicodeDecodeError) as e:
            raise AuditKeyError(
                f"{where}: give the 64 hex digits 'caselink admin audit-key' prints, "
                "or a file holding them"
            ) from e
        if not _HEX64.match(value):
            raise AuditKeyError(f"{where}: {path} does not hold 64 hex digits of a public key")
    return PublicKey(Ed25519PublicKey.from_public_bytes(bytes.fromhex(value)))
