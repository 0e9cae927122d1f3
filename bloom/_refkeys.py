"""Duplicate record refs in a register, found in one pass without keeping the refs.

Each ref is kept as a 128-bit key (:func:`bloom._arrowparse.string_keys`: two unrelated 64-bit
hashes) with its row; at the end a compiled open-addressing table finds, for every key, the
last earlier row with the same key, in one pass over the keys. Two different refs share a key
with odds of about 2^-128, so what it reports as duplicates are duplicates. It costs 12 bytes
per ref while reading and a 4-byte table slot per ref at the end.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bloom._arrays import I64, U64
from bloom._arrowparse import string_keys
from bloom._jit import njit

__all__ = ["RefKeys"]


@njit(nogil=True)
def _previous_equal(keys: U64) -> I64:  # pragma: no cover - compiled
    """For each key (a row of ``keys``), the index of the last earlier equal key; -1: none."""
    n = keys.shape[0]
    size = 2
    while size < n + n // 2:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, dtype=np.int32)
    prev = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        slot = keys[i, 1] & mask
        while True:
            j = table[slot]
            if j < 0:
                table[slot] = i
                break
            if keys[j, 0] == keys[i, 0] and keys[j, 1] == keys[i, 1]:
                prev[i] = j
                table[slot] = i  # the next equal key pairs with this one
                break
            slot = (slot + np.uint64(1)) & mask
    return prev


class RefKeys:
    """The keys of the refs read so far, with their rows (as read, from 1)."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []

    def add(self, refs: pa.Array, first_row: int) -> None:
        """Keep the keys of a chunk's refs; empty refs are not compared (the ref rule refuses
        them already)."""
        lengths = pc.binary_length(refs).to_numpy(zero_copy_only=False)
        present = np.flatnonzero(lengths > 0)
        kept = refs if present.size == len(refs) else refs.take(pa.array(present))
        self._keys.append(string_keys(kept) if present.size else np.empty((0, 2), np.uint64))
        self._rows.append((present + first_row).astype(np.int32))

    def duplicates(self) -> np.ndarray:
        """(earlier, later) rows of equal refs, each later row with the one before it: (k, 2),
        in the order of the later rows."""
        if not self._keys:
            return np.empty((0, 2), np.int64)
        keys = np.concatenate(self._keys)
        rows = np.concatenate(self._rows).astype(np.int64)
        prev = _previous_equal(keys)
        later = np.flatnonzero(prev >= 0)
        return np.stack([rows[prev[later]], rows[later]], axis=1)
