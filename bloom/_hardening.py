"""Hardening: keyed transforms of the hashed filters that resist pattern-mining attacks.

Each step works segment by segment, so a schema's segments survive hardening (at a new size).
The steps run in a fixed order -- salting happens while hashing, then:

* **balance** (Schnell et al.): append the complement of the segment and permute the doubled
  segment with a keyed permutation. Every filter then has exactly half its bits set, which
  hides how many tokens (how long a name) went in. Doubles the segment length.
* **xor_fold** (Schnell et al.): XOR the two halves of the segment. Halves the length; a set
  bit no longer points back to one token. Costs some accuracy.
* **diffusion** (after Armknecht et al., PoPETs 2023): each output bit is the XOR of ``t``
  input bits chosen by a keyed table, so no output bit maps to a token's hash position.
  Similar inputs stay similar, less sharply.
* **rekey** (:mod:`bloom._harden_rekey`, runs first): each record's bits in the named
  segments are permuted by a keyed permutation chosen by its bits in a key segment (a hidden,
  composite salt), and the key segment is emptied.
* **blip** (BLoom-and-flIP, randomised response): each bit flips with probability
  ``f = 1 / (1 + e^epsilon)``, which makes every single bit epsilon-differentially private.
  The draws come from a keyed PRF of the record's filter, so re-encoding is reproducible and
  identical records stay identical; without the secret the flips look random.
"""

from __future__ import annotations

import math

import blake3
import numpy as np

from bloom._bitops import apply_balance, apply_blip, apply_diffusion, apply_xor_fold, fisher_yates
from bloom._harden_rekey import Rekeyer
from bloom._hashing import derive_key, xof_uint64
from bloom._schema import Schema, Segment
from bloom._secret import Secret

__all__ = ["Hardener", "blip_flip_probability"]


def blip_flip_probability(epsilon: float) -> float:
    return 1.0 / (1.0 + math.exp(epsilon))


def _diffusion_taps(key: bytes, nbits: int, t: int) -> np.ndarray:
    """For each output bit, t distinct input bits, drawn from the keyed XOF."""
    taps = np.empty((nbits, t), dtype=np.int64)
    draws = xof_uint64(key, b"taps", nbits * t * 2)
    k = 0
    for j in range(nbits):
        chosen: list[int] = []
        while len(chosen) < t:
            if k == len(draws):
                draws = xof_uint64(key, b"taps-more-%d" % j, nbits * t)
                k = 0
            c = int(draws[k] % np.uint64(nbits))
            k += 1
            if c not in chosen:
                chosen.append(c)
        taps[j] = chosen
    return taps


class Hardener:
    """Applies a schema's hardening to hashed filters; the keyed tables are built once."""

    def __init__(self, schema: Schema, secret: Secret) -> None:
        self._schema = schema
        self._h = schema.hardening
        self._perms: dict[str, np.ndarray] = {}
        self._taps: dict[str, np.ndarray] = {}
        for seg in schema.segments:
            if self._h.balance:
                key = derive_key(secret, "balance", seg.name)
                self._perms[seg.name] = fisher_yates(xof_uint64(key, b"perm", 2 * seg.bits))
            if self._h.diffusion_t:
                key = derive_key(secret, "diffusion", seg.name)
                self._taps[seg.name] = _diffusion_taps(key, seg.out_bits, self._h.diffusion_t)
        self._blip_key = derive_key(secret, "blip", "record") if self._h.blip_epsilon else b""
        self._rekeyer = Rekeyer(schema, secret) if self._h.rekey_key is not None else None

    def apply(self, hashed: np.ndarray) -> np.ndarray:
        """Hardened copy of ``hashed`` (n, hashed_bits/64) -> (n, filter_bits/64)."""
        h = self._h
        if self._rekeyer is not None:
            hashed = hashed.copy()
            self._rekeyer.apply(hashed)
        if not (h.balance or h.xor_fold or h.diffusion_t or h.blip_epsilon is not None):
            return hashed
        n = hashed.shape[0]
        out = np.zeros((n, self._schema.filter_words), dtype=np.uint64)
        for seg in self._schema.segments:
            out[:, seg.out_offset // 64 : (seg.out_offset + seg.out_bits) // 64] = self._segment(
                hashed, seg
            )
        if h.blip_epsilon is not None:
            self._blip(out, h.blip_epsilon)
        return out

    def _segment(self, hashed: np.ndarray, seg: Segment) -> np.ndarray:
        n = hashed.shape[0]
        cur = np.ascontiguousarray(hashed[:, seg.offset // 64 : (seg.offset + seg.bits) // 64])
        nbits = seg.bits
        if self._h.balance:
            dst = np.zeros((n, 2 * nbits // 64), dtype=np.uint64)
            apply_balance(cur, 0, nbits, dst, 0, self._perms[seg.name])
            cur, nbits = dst, 2 * nbits
        if self._h.xor_fold:
            dst = np.zeros((n, nbits // 128), dtype=np.uint64)
            apply_xor_fold(cur, 0, nbits // 64, dst, 0)
            cur, nbits = dst, nbits // 2
        if self._h.diffusion_t:
            dst = np.zeros_like(cur)
            apply_diffusion(cur, 0, nbits, dst, self._taps[seg.name])
            cur = dst
        return cur

    def _blip(self, bits: np.ndarray, epsilon: float) -> None:
        key = self._blip_key
        seeds = np.fromiter(
            (
                int.from_bytes(blake3.blake3(row.tobytes(), key=key).digest(length=8), "little")
                for row in bits
            ),
            dtype=np.uint64,
            count=bits.shape[0],
        )
        f = blip_flip_probability(epsilon)
        threshold = np.uint64(min(int(f * 2.0**64), 2**64 - 1))
        apply_blip(bits, seeds, threshold)
