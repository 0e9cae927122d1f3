"""Looking for filters in stored bytes: the check behind every encryption-at-rest test.

A filter is found if any of its 64-bit words with at least ``MIN_BITS`` bits set appears in
the bytes, at any byte offset (sparser words could occur by chance in a page of a database).
"""

from __future__ import annotations

import numpy as np

MIN_BITS = 8


def filter_words(filters: np.ndarray) -> np.ndarray:
    """The distinct words of ``filters`` (``(n, words)`` uint64) that identify them."""
    words = np.ascontiguousarray(filters, dtype=np.uint64).reshape(-1)
    bits = np.unpackbits(words.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
    return np.unique(words[bits >= MIN_BITS])


def word_hits(blob: bytes, words: np.ndarray) -> int:
    """How many of ``words`` occur in ``blob`` (little-endian, at any of the 8 alignments)."""
    raw = np.frombuffer(blob, dtype=np.uint8)
    hits = 0
    for offset in range(8):
        n = (len(raw) - offset) // 8
        if n > 0:
            view = raw[offset : offset + 8 * n].view("<u8")
            hits += int(np.isin(view, words).sum())
    return hits
