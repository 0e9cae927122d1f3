"""Token vocabularies: each distinct token of a field is hashed once, then looked up by row.

Tokens reach the encoder as integer keys per distinct value (compressed sparse rows):
q-grams packed into one uint64 (21 bits per code point, so q <= 3), other tokens as indices
into a list of strings. A :class:`TokenVocab` turns each distinct token of a chunk into a row
of a ``(rows, weight)`` table of bit positions, computed by the compiled BLAKE3 in one pass;
salted (salt, token) pairs are remembered across chunks and only new ones are hashed. A
compiled kernel then ORs the table rows into the filters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from bloom._arrays import I64, U64, Ints
from bloom._blake3 import CHUNK_LEN
from bloom._hashing import TokenHasher
from bloom._jit import njit, read_only
from bloom._render import GRAM_KEYS, render_keys, render_texts
from bloom._schema import Tokeniser

__all__ = [
    "TokenCSR",
    "TokenVocab",
    "add_token_bits",
    "expand_to_pairs",
    "or_masks",
    "qgram_keys",
    "qgram_keys_flat",
    "set_token_bits",
    "unique_keys",
]

_CODE_BITS = 21  # enough for any Unicode code point
_PAD_START, _PAD_END, _SPACE = 2, 3, 32


def unpack_gram(key: int) -> str:
    chars = []
    while key:
        chars.append(chr(key & ((1 << _CODE_BITS) - 1)))
        key >>= _CODE_BITS
    return "".join(reversed(chars))


@dataclass
class TokenCSR:
    """Tokens of one tokeniser for each distinct value: keys[indptr[u]:indptr[u+1]]."""

    indptr: np.ndarray  # int64, len(values) + 1
    keys: np.ndarray  # uint64: packed q-grams, date keys, or indices into strings
    strings: list[str] | None = None  # the token strings, when keys index them
    render: Callable[[int], str] = unpack_gram  # key -> token text, when keys carry meaning
    packed: int = GRAM_KEYS  # how ``render_keys`` renders the keys (when strings is None)
    texts: tuple[np.ndarray, np.ndarray] | None = None  # keys index these (codes, offsets)


@njit(nogil=True)
def _gram_pass(
    flat: Ints, offsets: Ints, q: int, padding: bool, per_part: bool, keys: U64, fill: bool
) -> I64:  # pragma: no cover
    counts = np.zeros(offsets.shape[0] - 1, dtype=np.int64)
    out = 0
    for u in range(offsets.shape[0] - 1):
        lo, hi = offsets[u], offsets[u + 1]
        start = lo
        while start < hi:
            end = start
            if per_part:
                while end < hi and flat[end] != _SPACE:
                    end += 1
            else:
                end = hi
            n = end - start + (2 if padding else 0)
            if n > 0:
                grams = n - q + 1 if n >= q else 1
                width = q if n >= q else n
                if fill:
                    for g in range(grams):
                        key = np.uint64(0)
                        for c in range(g, g + width):
                            if padding:
                                ch = (
                                    _PAD_START
                                    if c == 0
                                    else (_PAD_END if c == n - 1 else flat[start + c - 1])
                                )
                            else:
                                ch = flat[start + c]
                            key = (key << np.uint64(_CODE_BITS)) | np.uint64(ch)
                        keys[out] = key
                        out += 1
                counts[u] += grams
            start = end + 1
    return counts


def qgram_keys(values: list[str], q: int, padding: bool, per_part: bool) -> TokenCSR:
    """Packed q-gram keys for each value (values already normalised; '' gives none)."""
    joined = "".join(values)
    flat = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, values), np.int64, len(values)), out=offsets[1:])
    return qgram_keys_flat(flat, offsets, q, padding, per_part)


def qgram_keys_flat(
    codes: np.ndarray, offsets: np.ndarray, q: int, padding: bool, per_part: bool
) -> TokenCSR:
    """``qgram_keys`` of values given as code points: value u is codes[offsets[u]:...]."""
    empty = np.zeros(0, dtype=np.uint64)
    codes = read_only(codes)  # np.frombuffer's are read-only, an encoder's not: one signature
    counts = _gram_pass(codes, offsets, q, padding, per_part, empty, False)
    indptr = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    keys = np.empty(indptr[-1], dtype=np.uint64)
    _gram_pass(codes, offsets, q, padding, per_part, keys, True)
    return TokenCSR(indptr, keys)


def expand_to_pairs(csr: TokenCSR, value_of_pair: np.ndarray) -> TokenCSR:
    """Repeat each value's tokens for every (salt, value) pair that uses the value."""
    lens = np.diff(csr.indptr)[value_of_pair]
    indptr = np.zeros(len(value_of_pair) + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    within = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1], lens)
    idx = np.repeat(csr.indptr[:-1][value_of_pair], lens) + within
    return TokenCSR(indptr, csr.keys[idx], csr.strings, csr.render, csr.packed)


@njit(nogil=True)
def _unique_keys(keys: U64) -> tuple[I64, U64]:  # pragma: no cover - compiled
    size = 1
    while size < 2 * keys.shape[0]:
        size *= 2
    slots = np.full(size, -1, dtype=np.int64)
    uniq = np.empty(keys.shape[0], dtype=np.uint64)
    inverse = np.empty(keys.shape[0], dtype=np.int64)
    n, mask = 0, np.uint64(size - 1)
    for i in range(keys.shape[0]):
        k = keys[i]
        h = (k * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(17)
        while True:
            slot = np.int64(h & mask)
            j = slots[slot]
            if j < 0:
                slots[slot] = n
                uniq[n] = k
                inverse[i] = n
                n += 1
                break
            if uniq[j] == k:
                inverse[i] = j
                break
            h += np.uint64(1)
    return inverse, uniq[:n]


def unique_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each key among the distinct keys, the distinct keys in order of appearance)."""
    return _unique_keys(np.ascontiguousarray(keys, dtype=np.uint64))


@njit(nogil=True)
def set_token_bits(
    masks: U64, word0: int, indptr: Ints, rows: Ints, table: Ints
) -> None:  # pragma: no cover - compiled
    """OR into value u's mask the table rows of each of its tokens (masks start at word0)."""
    k = table.shape[1]
    for u in range(masks.shape[0]):
        for t in range(indptr[u], indptr[u + 1]):
            row = rows[t]
            for j in range(k):
                p = table[row, j] - word0 * 64
                masks[u, p >> 6] |= np.uint64(1) << np.uint64(p & 63)


@njit(nogil=True)
def _or_row_masks(
    masks: U64, word0: int, indptr: Ints, rows: Ints, table: Ints
) -> None:  # pragma: no cover - compiled
    """``set_token_bits`` by whole words: each table row's mask is made once, then ORed."""
    k, words = table.shape[1], masks.shape[1]
    row_masks = np.zeros((table.shape[0], words), dtype=np.uint64)
    for r in range(table.shape[0]):
        for j in range(k):
            p = table[r, j] - word0 * 64
            row_masks[r, p >> 6] |= np.uint64(1) << np.uint64(p & 63)
    for u in range(masks.shape[0]):
        for t in range(indptr[u], indptr[u + 1]):
            row = rows[t]
            for w in range(words):
                masks[u, w] |= row_masks[row, w]


def add_token_bits(
    masks: np.ndarray, word0: int, indptr: np.ndarray, rows: np.ndarray, table: np.ndarray
) -> None:
    """OR into value u's mask the table rows of its tokens, by words when rows are reused."""
    if table.shape[0] * 2 <= rows.shape[0]:
        _or_row_masks(masks, word0, indptr, rows, table)
    else:
        set_token_bits(masks, word0, indptr, rows, table)


@njit(nogil=True)
def or_masks(bits: U64, codes: Ints, masks: U64, word0: int) -> None:  # pragma: no cover - compiled
    """OR each record's value mask into its filter (code < 0: nothing)."""
    for r in range(codes.shape[0]):
        c = codes[r]
        if c >= 0:
            for w in range(masks.shape[1]):
                bits[r, word0 + w] |= masks[c, w]


class TokenVocab:
    """Token -> bit positions for one tokeniser of one field; salted rows kept across chunks."""

    _LIMIT = 4_000_000

    def __init__(self, hasher: TokenHasher, tok: Tokeniser) -> None:
        self._hasher = hasher
        self._tok = tok
        self._tag = tok.tag + "\x1f"
        self._prefix = np.frombuffer(self._tag.encode(), dtype=np.uint8)
        self._rows: dict[tuple[str, int | str], int] = {}
        self.table = np.zeros((256, tok.weight), dtype=np.int64)

    def rows(
        self, csr: TokenCSR, salt_of_key: np.ndarray | None, salts: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row per token occurrence in ``csr``, table of positions per row).

        Unsalted tokens are hashed in compiled code once per distinct key of the chunk (integer
        keys rendered there too); salted tokens go through the cache of rows across chunks.
        """
        if csr.keys.size == 0:
            return np.zeros(0, dtype=np.int64), self.table
        inverse, uniq = unique_keys(csr.keys)
        if salt_of_key is None:
            return inverse, self._positions(csr, uniq)
        inverse, combined = pd.factorize(inverse * len(salts) + salt_of_key)
        pairs = [(salts[c % len(salts)], uniq[c // len(salts)]) for c in combined.tolist()]
        if len(self._rows) + len(pairs) > self._LIMIT:
            self._rows.clear()
        return self._lookup(pairs, csr.strings, csr.render)[inverse], self.table

    def _positions(self, csr: TokenCSR, uniq: np.ndarray) -> np.ndarray:
        """Positions of the distinct unsalted keys ``uniq`` of ``csr``, in one compiled pass."""
        weight = self._tok.weight
        if csr.strings is not None:
            tokens = [self._tag + csr.strings[k] for k in uniq.tolist()]
            return self._hasher.positions_many(tokens, weight)
        if csr.texts is None:
            data, offsets = render_keys(uniq, self._prefix, csr.packed)
            return self._hasher.positions_packed(data, offsets, weight)
        codes, text_offsets = (read_only(x) for x in csr.texts)  # one compiled signature
        data, offsets = render_texts(uniq.astype(np.int64), self._prefix, codes, text_offsets)
        if offsets.size > 1 and np.diff(offsets).max() > CHUNK_LEN:  # rare: the blake3 package
            texts = [bytes(data[a:b]).decode() for a, b in pairwise(offsets.tolist())]
            return self._hasher.positions_many(texts, weight)
        return self._hasher.positions_packed(data, offsets, weight)

    def _lookup(
        self,
        pairs: list[tuple[str, int]],
        strings: list[str] | None,
        csr_render: Callable[[int], str],
    ) -> np.ndarray:
        """Rows for distinct (salt, key) pairs; hashes the new ones in one batch."""
        found = np.empty(len(pairs), dtype=np.int64)
        new_at, new_tokens, new_names = [], [], []
        rows, render = self._rows, csr_render
        for i, (salt, key) in enumerate(pairs):
            token: int | str = strings[key] if strings is not None else key
            hit = rows.get((salt, token))
            if hit is None:
                text = token if isinstance(token, str) else render(token)
                prefix = f"{salt}\x1e"
                new_at.append(i)
                new_tokens.append(prefix + self._tag + text)
                new_names.append((salt, token))
            else:
                found[i] = hit
        if new_tokens:
            start = len(rows)
            end = start + len(new_tokens)
            while end > self.table.shape[0]:
                self.table = np.concatenate([self.table, np.zeros_like(self.table)])
            self.table[start:end] = self._hasher.positions_many(new_tokens, self._tok.weight)
            rows.update(zip(new_names, range(start, end), strict=True))
            found[new_at] = np.arange(start, end)
        return found
