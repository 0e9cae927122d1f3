"""Keyed hashing: from tokens to bit positions, with keys derived from the shared secret.

* Per-domain keys come from BLAKE3's key-derivation mode: the context string is fixed and
  global to caselink; the key material is the 32-byte secret followed by the domain name.
  Different domains (or secrets) give unrelated keys.
* Each token's ``k`` bit positions are read from BLAKE3 keyed XOF output (``8k`` bytes as
  little-endian uint64, each reduced modulo the segment length). Every position is an
  independent pseudo-random function of the token -- not double hashing, whose arithmetic
  progressions of positions are attackable.
* Everything is explicit about byte order, so the same secret and input give the same bits on
  any machine.
"""

from __future__ import annotations

import blake3
import numpy as np

from bloom._secret import Secret

__all__ = ["TokenHasher", "derive_key", "xof_uint64"]

_FIELD_CONTEXT = "caselink 2026-11 bloom field key v1"
_HARDENING_CONTEXT = "caselink 2026-11 bloom hardening key v1"
_CACHE_LIMIT = 2_000_000


def derive_key(secret: Secret, purpose: str, name: str) -> bytes:
    """A 32-byte key for ``purpose`` ('field' or a hardening step) and a domain/segment name."""
    context = _FIELD_CONTEXT if purpose == "field" else _HARDENING_CONTEXT
    material = secret.key_bytes + f"{purpose}\x00{name}".encode()
    return blake3.blake3(material, derive_key_context=context).digest()


def xof_uint64(key: bytes, label: bytes, count: int) -> np.ndarray:
    """``count`` pseudo-random uint64 values from the keyed XOF of ``label``."""
    data = blake3.blake3(label, key=key).digest(length=8 * count)
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)


class TokenHasher:
    """Maps tagged tokens to absolute bit positions in one segment, with a bounded cache."""

    __slots__ = ("_bits", "_cache", "_key", "_offset")

    def __init__(self, key: bytes, offset: int, bits: int) -> None:
        self._key = key
        self._offset = offset
        self._bits = bits
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    def positions(self, token: str, weight: int) -> np.ndarray:
        hit = self._cache.get((token, weight))
        if hit is not None:
            return hit
        raw = blake3.blake3(token.encode("utf-8"), key=self._key).digest(length=8 * weight)
        pos = np.frombuffer(raw, dtype="<u8") % np.uint64(self._bits) + np.uint64(self._offset)
        pos = pos.astype(np.int64)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[(token, weight)] = pos
        return pos
