"""Keyed hashing: from tokens to bit positions, with keys derived from the shared secret.

* Per-domain keys come from BLAKE3's key-derivation mode: the context string is fixed and
  global to caselink; the key material is the 32-byte secret followed by the domain name.
  Different domains (or secrets) give unrelated keys.
* Each token's ``k`` bit positions are read from BLAKE3 keyed XOF output (``8k`` bytes as
  little-endian uint64, each reduced modulo the segment length). Every position is an
  independent pseudo-random function of the token -- not double hashing, whose arithmetic
  progressions of positions are attackable.
* The XOF runs in a compiled BLAKE3 (``_blake3``) over many tokens at once; tokens longer
  than one 1024-byte chunk go to the ``blake3`` package. Both give the same bytes.
* Everything is explicit about byte order, so the same secret and input give the same bits on
  any machine.
"""

from __future__ import annotations

from typing import cast

import blake3
import numpy as np

from bloom._blake3 import CHUNK_LEN, key_words, positions_from_messages
from bloom._jit import read_only
from bloom._secret import Secret

__all__ = ["TokenHasher", "derive_key", "xof_uint64"]

_FIELD_CONTEXT = "caselink 2026-11 bloom field key v1"
_HARDENING_CONTEXT = "caselink 2026-11 bloom hardening key v1"


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
    """Maps a tagged token to its ``weight`` absolute bit positions in one segment."""

    __slots__ = ("_bits", "_key", "_offset", "_words")

    def __init__(self, key: bytes, offset: int, bits: int) -> None:
        self._key = key
        self._words = read_only(key_words(key))  # see positions_packed
        self._offset = offset
        self._bits = bits

    def positions(self, token: str, weight: int) -> np.ndarray:
        return cast(np.ndarray, self.positions_many([token], weight)[0])

    def positions_many(self, tokens: list[str], weight: int) -> np.ndarray:
        """``(len(tokens), weight)`` positions: one keyed XOF per token, in one compiled pass."""
        encoded = [t.encode("utf-8") for t in tokens]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        if len(encoded) and np.diff(offsets).max() > CHUNK_LEN:
            return self._positions_blake3(encoded, weight)
        return self.positions_packed(np.frombuffer(b"".join(encoded), np.uint8), offsets, weight)

    def positions_packed(self, data: np.ndarray, offsets: np.ndarray, weight: int) -> np.ndarray:
        """Positions of the messages ``data[offsets[t]:offsets[t+1]]`` (each <= 1024 bytes)."""
        # read-only inputs whoever made them (np.frombuffer's are): one compiled signature
        data, offsets = read_only(data), read_only(offsets)
        return positions_from_messages(self._words, data, offsets, weight, self._bits, self._offset)

    def _positions_blake3(self, encoded: list[bytes], weight: int) -> np.ndarray:
        key, length = self._key, 8 * weight
        raw = b"".join([blake3.blake3(t, key=key).digest(length=length) for t in encoded])
        pos = np.frombuffer(raw, dtype="<u8") % np.uint64(self._bits) + np.uint64(self._offset)
        return pos.astype(np.int64).reshape(len(encoded), weight)
