"""BLAKE3 keyed XOF in numba, for many short tokens at once (at most one 1024-byte chunk each).

``positions_from_messages`` gives exactly ``TokenHasher.positions_many`` -- the bit positions
read from the keyed XOF output -- without a Python call per token: the tokens are packed into
one byte buffer with offsets, and the compression function runs in a compiled loop. The tests
hold it to the ``blake3`` package on random tokens.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["CHUNK_LEN", "key_words", "positions_from_messages"]

CHUNK_LEN = 1024  # longer messages need the tree mode: they take the blake3 package
_IV = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB,
     0x5BE0CD19],
    dtype=np.uint32,
)  # fmt: skip
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


@njit(cache=True, inline="always")
def _rotr(x, n):  # pragma: no cover - compiled
    return (x >> np.uint32(n)) | (x << np.uint32(32 - n))


@njit(cache=True, inline="always")
def _g(s, a, b, c, d, x, y):  # pragma: no cover - compiled
    s[a] = s[a] + s[b] + x
    s[d] = _rotr(s[d] ^ s[a], 16)
    s[c] = s[c] + s[d]
    s[b] = _rotr(s[b] ^ s[c], 12)
    s[a] = s[a] + s[b] + y
    s[d] = _rotr(s[d] ^ s[a], 8)
    s[c] = s[c] + s[d]
    s[b] = _rotr(s[b] ^ s[c], 7)


@njit(cache=True)
def _compress(cv, m, counter, block_len, flags, s):  # pragma: no cover - compiled
    """The 16 output words of compressing block ``m`` (16 words) into ``s``."""
    for i in range(8):
        s[i] = cv[i]
        s[8 + i] = _IV[i] if i < 4 else np.uint32(0)
    s[12] = np.uint32(counter & 0xFFFFFFFF)
    s[13] = np.uint32(counter >> 32)
    s[14] = np.uint32(block_len)
    s[15] = np.uint32(flags)
    for r in range(7):
        o = _SCHEDULE[r]
        _g(s, 0, 4, 8, 12, m[o[0]], m[o[1]])
        _g(s, 1, 5, 9, 13, m[o[2]], m[o[3]])
        _g(s, 2, 6, 10, 14, m[o[4]], m[o[5]])
        _g(s, 3, 7, 11, 15, m[o[6]], m[o[7]])
        _g(s, 0, 5, 10, 15, m[o[8]], m[o[9]])
        _g(s, 1, 6, 11, 12, m[o[10]], m[o[11]])
        _g(s, 2, 7, 8, 13, m[o[12]], m[o[13]])
        _g(s, 3, 4, 9, 14, m[o[14]], m[o[15]])
    for i in range(8):
        s[i] ^= s[8 + i]
        s[8 + i] ^= cv[i]


@njit(cache=True)
def _load_block(data, lo, hi, m):  # pragma: no cover - compiled
    """Bytes data[lo:hi] (at most 64) as 16 little-endian words, zero-padded."""
    for i in range(16):
        m[i] = np.uint32(0)
    for i in range(hi - lo):
        m[i >> 2] |= np.uint32(data[lo + i]) << np.uint32(8 * (i & 3))


@njit(cache=True, nogil=True)
def positions_from_messages(key, data, offsets, weight, bits, offset):  # pragma: no cover
    """``(n, weight)`` positions: message t is data[offsets[t]:offsets[t+1]] (<= 1024 bytes)."""
    n = offsets.shape[0] - 1
    out = np.empty((n, weight), dtype=np.int64)
    cv, s, m = np.empty(8, np.uint32), np.empty(16, np.uint32), np.empty(16, np.uint32)
    modulus = np.uint64(bits)
    for t in range(n):
        lo, hi = offsets[t], offsets[t + 1]
        cv[:] = key
        start, flags = lo, _KEYED_HASH | _CHUNK_START
        while hi - start > 64:  # every block but the last chains into the next
            _load_block(data, start, start + 64, m)
            _compress(cv, m, 0, 64, flags, s)
            cv[:] = s[:8]
            start, flags = start + 64, _KEYED_HASH
        _load_block(data, start, hi, m)
        flags |= _CHUNK_END | _ROOT
        j, block = 0, 0
        while j < weight:  # root output blocks: 64 bytes = 8 uint64 each
            _compress(cv, m, block, hi - start, flags, s)
            for w in range(8):
                if j < weight:
                    v = np.uint64(s[2 * w]) | (np.uint64(s[2 * w + 1]) << np.uint64(32))
                    out[t, j] = np.int64(v % modulus) + offset
                    j += 1
            block += 1
    return out
