"""BLAKE3 keyed XOF in numba, for many short tokens at once (at most one 1024-byte chunk each).

``positions_from_messages`` gives exactly ``TokenHasher.positions_many`` -- the bit positions
read from the keyed XOF output -- without a Python call per token: the tokens are packed into
one byte buffer with offsets, and the compression function runs in a compiled loop. The tests
hold it to the ``blake3`` package on random tokens.
"""

from __future__ import annotations

import numpy as np

from bloom._arrays import I64, U8, U32, Int, Ints
from bloom._jit import njit

__all__ = ["CHUNK_LEN", "key_words", "positions_from_messages"]

CHUNK_LEN = 1024  # longer messages need the tree mode: they take the blake3 package
_IV = np.array(
    [
        0x6A09E667,
        0xBB67AE85,
        0x3C6EF372,
        0xA54FF53A,
        0x510E527F,
        0x9B05688C,
        0x1F83D9AB,
        0x5BE0CD19,
    ],
    dtype=np.uint32,
)
_PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]


def _schedule() -> np.ndarray:
    """Message word order of each of the 7 rounds (the permutation applied r times)."""
    rows, order = [], list(range(16))
    for _ in range(7):
        rows.append(order)
        order = [order[p] for p in _PERM]
    return np.array(rows, dtype=np.int64)


_SCHEDULE = _schedule()
_CHUNK_START, _CHUNK_END, _ROOT, _KEYED_HASH = 1, 2, 8, 16


def key_words(key: bytes) -> np.ndarray:
    """The 32-byte key as the eight little-endian words BLAKE3 starts from."""
    return np.frombuffer(key, dtype="<u4").astype(np.uint32)


@njit(inline="always")
def _rotr(x: np.uint32, n: int) -> np.uint32:  # pragma: no cover - compiled
    return np.uint32((x >> np.uint32(n)) | (x << np.uint32(32 - n)))


@njit(inline="always")
def _g(
    a: np.uint32, b: np.uint32, c: np.uint32, d: np.uint32, x: np.uint32, y: np.uint32
) -> tuple[np.uint32, np.uint32, np.uint32, np.uint32]:  # pragma: no cover - compiled
    a = np.uint32(a + b + x)
    d = _rotr(d ^ a, 16)
    c = np.uint32(c + d)
    b = _rotr(b ^ c, 12)
    a = np.uint32(a + b + y)
    d = _rotr(d ^ a, 8)
    c = np.uint32(c + d)
    b = _rotr(b ^ c, 7)
    return a, b, c, d


@njit
def _compress(
    cv: U32, m: U32, counter: Int, block_len: Int, flags: int, s: U32
) -> None:  # pragma: no cover - compiled
    """The 16 output words of compressing block ``m`` (16 words) into ``s``."""
    s0, s1, s2, s3, s4, s5, s6, s7 = cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7]
    s8, s9, s10, s11 = _IV[0], _IV[1], _IV[2], _IV[3]
    s12, s13 = np.uint32(counter & 0xFFFFFFFF), np.uint32(counter >> 32)
    s14, s15 = np.uint32(block_len), np.uint32(flags)
    for r in range(7):  # state in locals, so it stays in registers
        o = _SCHEDULE[r]
        s0, s4, s8, s12 = _g(s0, s4, s8, s12, m[o[0]], m[o[1]])
        s1, s5, s9, s13 = _g(s1, s5, s9, s13, m[o[2]], m[o[3]])
        s2, s6, s10, s14 = _g(s2, s6, s10, s14, m[o[4]], m[o[5]])
        s3, s7, s11, s15 = _g(s3, s7, s11, s15, m[o[6]], m[o[7]])
        s0, s5, s10, s15 = _g(s0, s5, s10, s15, m[o[8]], m[o[9]])
        s1, s6, s11, s12 = _g(s1, s6, s11, s12, m[o[10]], m[o[11]])
        s2, s7, s8, s13 = _g(s2, s7, s8, s13, m[o[12]], m[o[13]])
        s3, s4, s9, s14 = _g(s3, s4, s9, s14, m[o[14]], m[o[15]])
    s[0], s[1], s[2], s[3] = s0 ^ s8, s1 ^ s9, s2 ^ s10, s3 ^ s11
    s[4], s[5], s[6], s[7] = s4 ^ s12, s5 ^ s13, s6 ^ s14, s7 ^ s15
    s[8], s[9], s[10], s[11] = s8 ^ cv[0], s9 ^ cv[1], s10 ^ cv[2], s11 ^ cv[3]
    s[12], s[13], s[14], s[15] = s12 ^ cv[4], s13 ^ cv[5], s14 ^ cv[6], s15 ^ cv[7]


@njit
def _load_block(data: U8, lo: Int, hi: Int, m: U32) -> None:  # pragma: no cover - compiled
    """Bytes data[lo:hi] (at most 64) as 16 little-endian words, zero-padded."""
    for i in range(16):
        m[i] = np.uint32(0)
    for i in range(hi - lo):
        m[i >> 2] |= np.uint32(data[lo + i]) << np.uint32(8 * (i & 3))


@njit(nogil=True)
def positions_from_messages(
    key: U32, data: U8, offsets: Ints, weight: int, bits: int, offset: int
) -> I64:  # pragma: no cover
    """``(n, weight)`` positions: message t is data[offsets[t]:offsets[t+1]] (<= 1024 bytes)."""
    n = offsets.shape[0] - 1
    out = np.empty((n, weight), dtype=np.int64)
    cv, s, m = np.empty(8, np.uint32), np.empty(16, np.uint32), np.empty(16, np.uint32)
    modulus = np.uint64(bits)
    for t in range(n):
        lo, hi = offsets[t], offsets[t + 1]
        for w in range(8):  # copied by index: see bloom._jit on slice assignment
            cv[w] = key[w]
        start, flags = lo, _KEYED_HASH | _CHUNK_START
        while hi - start > 64:  # every block but the last chains into the next
            _load_block(data, start, start + 64, m)
            # np.int64, not 0 and 64: numba compiles _compress again for literal arguments
            _compress(cv, m, np.int64(0), np.int64(64), flags, s)
            for w in range(8):
                cv[w] = s[w]
            start, flags = start + 64, _KEYED_HASH
        _load_block(data, start, hi, m)
        flags |= _CHUNK_END | _ROOT
        j, block = 0, np.int64(0)
        while j < weight:  # root output blocks: 64 bytes = 8 uint64 each
            _compress(cv, m, block, hi - start, flags, s)
            for w in range(8):
                if j < weight:
                    v = np.uint64(s[2 * w]) | (np.uint64(s[2 * w + 1]) << np.uint64(32))
                    out[t, j] = np.int64(v % modulus) + offset
                    j += 1
            block += 1
    return out
