"""Compiled bit kernels over ``(n, words)`` uint64 filters: setting bits and hardening, and
the one home of the Dice coefficient (:func:`dice` in compiled loops, :func:`dice_array` on
arrays), which every package's kernels use.

Each kernel loops over uint64 words or bit indices inside numba; nothing here loops in Python
per record or per bit. Bit ``p`` of a filter is bit ``p % 64`` of word ``p // 64``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import types
from numba.extending import intrinsic

from bloom._arrays import I64, U64, Int, Ints
from bloom._jit import njit

if TYPE_CHECKING:
    from numba.core.typing.context import BaseContext
    from numba.core.typing.templates import Signature

    def _word_intrinsic(
        defn: Callable[[BaseContext, types.Type], object],
    ) -> Callable[[np.uint64 | np.int64 | int], int]:
        """How compiled kernels call the intrinsic: on one 64-bit word, for an int64. (numba's
        stub types the call from CPython instead: with the typing context, and raising.)"""

else:
    _word_intrinsic = intrinsic

__all__ = [
    "apply_balance",
    "dice",
    "dice_array",
    "apply_blip",
    "apply_diffusion",
    "apply_xor_fold",
    "fisher_yates",
    "popcount",
    "popcount_rows",
    "set_bits",
]

_ONE = np.uint64(1)


@_word_intrinsic
def popcount(
    typingctx: BaseContext, x: types.Type
) -> tuple[Signature, Callable[[Any, Any, Signature, Any], Any]] | None:  # pragma: no cover
    """Set bits of a 64-bit integer via ``llvm.ctpop.i64``, typed as int64."""
    # numba's stub of types.Integer omits its bitwidth attribute
    if not isinstance(x, types.Integer) or x.bitwidth != 64:  # type: ignore[attr-defined]
        return None

    def codegen(context: Any, builder: Any, signature: Signature, args: Any) -> Any:
        return builder.ctpop(args[0])

    return types.int64(x), codegen


@njit(nogil=True, inline="always")
def dice(inter: Int, total: Int) -> float:  # pragma: no cover - compiled
    """Dice of two filters from their common bits and their two popcounts' sum:
    ``2·inter / total`` in float64; 0.0 when both are empty (``total == 0``)."""
    if total == 0:
        return 0.0
    return (2.0 * inter) / total


def dice_array(inter: np.ndarray, total: np.ndarray) -> np.ndarray:
    """:func:`dice` element-wise over arrays (broadcast), in float64."""
    inter, total = np.asarray(inter), np.asarray(total)
    out = np.zeros(np.broadcast_shapes(inter.shape, total.shape), dtype=np.float64)
    np.divide(2.0 * inter, total, out=out, where=total > 0)
    return out


@njit(nogil=True)
def set_bits(
    bits: U64, codes: Ints, indptr: Ints, positions: Ints
) -> None:  # pragma: no cover - compiled
    """OR into row r every position listed for value code ``codes[r]`` (code < 0: nothing)."""
    for r in range(codes.shape[0]):
        c = codes[r]
        if c < 0:
            continue
        for k in range(indptr[c], indptr[c + 1]):
            p = positions[k]
            bits[r, p >> 6] |= np.uint64(1) << np.uint64(p & 63)


@njit(nogil=True)
def _get(row: U64, p: int) -> Any:  # pragma: no cover - compiled
    return (row[p >> 6] >> np.uint64(p & 63)) & np.uint64(1)


@njit(nogil=True)
def apply_balance(
    src: U64, src_off: int, nbits: int, dst: U64, dst_off: int, perm: Ints
) -> None:  # pragma: no cover - compiled
    """dst segment (2*nbits) = keyed permutation of (segment, complement of segment)."""
    for r in range(src.shape[0]):
        for j in range(2 * nbits):
            s = perm[j]
            if s < nbits:
                b = _get(src[r], src_off + s)
            else:
                b = _get(src[r], src_off + s - nbits) ^ np.uint64(1)
            if b:
                q = dst_off + j
                dst[r, q >> 6] |= np.uint64(1) << np.uint64(q & 63)


@njit(nogil=True)
def apply_xor_fold(
    src: U64, src_word: int, nwords: int, dst: U64, dst_word: int
) -> None:  # pragma: no cover - compiled
    """dst segment (nwords/2 words) = first half XOR second half of the source segment."""
    half = nwords // 2
    for r in range(src.shape[0]):
        for w in range(half):
            dst[r, dst_word + w] = src[r, src_word + w] ^ src[r, src_word + half + w]


@njit(nogil=True)
def apply_diffusion(
    src: U64, off: int, nbits: int, dst: U64, taps: Ints
) -> None:  # pragma: no cover - compiled
    """Each output bit j of the segment is the XOR of the t input bits ``taps[j]``."""
    t = taps.shape[1]
    for r in range(src.shape[0]):
        for j in range(nbits):
            b = np.uint64(0)
            for i in range(t):
                b ^= _get(src[r], off + taps[j, i])
            if b:
                q = off + j
                dst[r, q >> 6] |= np.uint64(1) << np.uint64(q & 63)


@njit(nogil=True)
def _splitmix64(state: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover - compiled
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@njit(nogil=True)
def apply_blip(bits: U64, seeds: U64, threshold: np.uint64) -> None:  # pragma: no cover - compiled
    """Flip each bit of row r when the next 64-bit draw of its stream is below threshold."""
    nbits = bits.shape[1] * 64
    for r in range(bits.shape[0]):
        state = seeds[r]
        for p in range(nbits):
            state, z = _splitmix64(state)
            if z < threshold:
                bits[r, p >> 6] ^= np.uint64(1) << np.uint64(p & 63)


@njit
def fisher_yates(rand: U64) -> Ints:  # pragma: no cover - compiled
    """A permutation of range(len(rand)) driven by the given uint64 draws."""
    n = rand.shape[0]
    perm = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = rand[i] % np.uint64(i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


@njit(nogil=True)
def popcount_rows(bits: U64, word_lo: int, word_hi: int) -> I64:  # pragma: no cover - compiled
    """Set bits per row within words [word_lo, word_hi)."""
    out = np.zeros(bits.shape[0], dtype=np.int64)
    for r in range(bits.shape[0]):
        c = 0
        for w in range(word_lo, word_hi):
            c += popcount(bits[r, w])
        out[r] = c
    return out
