"""Rekey: a record-level keyed permutation chosen by a hidden, composite key.

A field salt keys a field's tokens by *one* other field's value. ``rekey`` keys whole segments
by *several*: the fields written into the key segment (say sex and birth year) set its hashed
bits as usual; each record's key is a keyed BLAKE3 of those bits, and every segment named in
``segments`` is permuted, record by record, by a keyed permutation drawn for that key. The key
segment then leaves the encoder empty, so no segment shows the key (a hidden salt).

Records with the same key values share one permutation, so matching records still agree bit
for bit; records with other key values see the same name on unrelated positions. What it
buys against pattern mining is exactly what a salt buys: the attacker must first find the
groups of one key (from the rekeyed bits alone) and then mine each group with only its
records. What it costs: a true match whose key fields disagree loses the rekeyed segments.
"""

from __future__ import annotations

import blake3
import numpy as np

from bloom._bitops import fisher_yates
from bloom._hashing import derive_key, xof_uint64
from bloom._schema import Schema
from bloom._secret import Secret

__all__ = ["Rekeyer"]


class Rekeyer:
    """Applies a schema's ``rekey`` to hashed filters (in place), before the other steps."""

    def __init__(self, schema: Schema, secret: Secret) -> None:
        h = schema.hardening
        if h.rekey_key is None:
            raise ValueError("the schema has no rekey step")
        self._key_seg = schema.segment(h.rekey_key)
        self._targets = tuple(schema.segment(s) for s in h.rekey_segments)
        self._record_key = derive_key(secret, "rekey", "record")
        self._perm_keys = {s.name: derive_key(secret, "rekey", s.name) for s in self._targets}

    def record_keys(self, hashed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct record keys (8-byte digests as uint64) and each row's index into them."""
        lo, hi = self._key_seg.offset // 64, (self._key_seg.offset + self._key_seg.bits) // 64
        keybits = np.ascontiguousarray(hashed[:, lo:hi])
        uniq, inverse = np.unique(keybits, axis=0, return_inverse=True)
        digests = np.fromiter(
            (
                int.from_bytes(
                    blake3.blake3(row.tobytes(), key=self._record_key).digest(length=8), "little"
                )
                for row in uniq
            ),
            dtype=np.uint64,
            count=len(uniq),
        )
        return digests, inverse.ravel()

    def apply(self, hashed: np.ndarray) -> None:
        """Permute each target segment of every row by its key's permutation; empty the key
        segment."""
        digests, inverse = self.record_keys(hashed)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(digests) + 1))
        for seg in self._targets:
            lo, hi = seg.offset // 64, (seg.offset + seg.bits) // 64
            words = np.ascontiguousarray(hashed[:, lo:hi])
            bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")
            out = np.empty_like(bits)
            for k, digest in enumerate(digests):
                rows = order[bounds[k] : bounds[k + 1]]
                label = b"perm" + int(digest).to_bytes(8, "little")
                perm = fisher_yates(xof_uint64(self._perm_keys[seg.name], label, seg.bits))
                out[rows] = bits[rows][:, perm]
            packed = np.packbits(out, axis=1, bitorder="little")
            hashed[:, lo:hi] = packed.view(np.uint64).reshape(len(hashed), hi - lo)
        klo, khi = self._key_seg.offset // 64, (self._key_seg.offset + self._key_seg.bits) // 64
        hashed[:, klo:khi] = 0
