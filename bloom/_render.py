"""Integer token keys rendered, in compiled loops, to the UTF-8 bytes that get hashed.

``render_keys`` gives for every key the bytes of ``prefix + text``, where the text is exactly
what ``_vocab.unpack_gram`` (packed q-grams) or ``_datekeys.render_date_key`` (date parts)
returns, so hashing the packed bytes gives the positions of hashing those strings.
``render_texts`` does the same for whole normalised values held as code points.
"""

from __future__ import annotations

import numpy as np

from bloom._arrays import I64, U8, U64, Int, Ints
from bloom._jit import njit

__all__ = ["DATE_KEYS", "GRAM_KEYS", "render_keys", "render_texts"]

GRAM_KEYS, DATE_KEYS = 0, 1
_CODE_BITS, _CODE_MASK = 21, (1 << 21) - 1
_TAG_SHIFT, _VALUE_MASK = 40, (1 << 40) - 1
# per date part (the order of _datekeys._PARTS): lead bytes, then one or more numbers
_Y, _W, _M, _D = ord("y"), ord("w"), ord("m"), ord("d")


@njit(inline="always")
def _put_utf8(out: U8, pos: int, c: Int) -> int:  # pragma: no cover - compiled
    if c < 0x80:
        out[pos] = c
        return pos + 1
    if c < 0x800:
        out[pos], out[pos + 1] = 0xC0 | (c >> 6), 0x80 | (c & 63)
        return pos + 2
    if c < 0x10000:
        out[pos], out[pos + 1] = 0xE0 | (c >> 12), 0x80 | ((c >> 6) & 63)
        out[pos + 2] = 0x80 | (c & 63)
        return pos + 3
    out[pos], out[pos + 1] = 0xF0 | (c >> 18), 0x80 | ((c >> 12) & 63)
    out[pos + 2], out[pos + 3] = 0x80 | ((c >> 6) & 63), 0x80 | (c & 63)
    return pos + 4


@njit(inline="always")
def _put_int(out: U8, pos: int, v: Int) -> int:  # pragma: no cover - compiled
    """Decimal digits of v >= 0."""
    digits = 1
    x = v
    while x >= 10:
        x //= 10
        digits += 1
    for i in range(digits - 1, -1, -1):
        out[pos + i] = 48 + v % 10
        v //= 10
    return pos + digits


@njit
def _put_gram(out: U8, pos: int, key: np.uint64) -> int:  # pragma: no cover - compiled
    n = 0
    codes = np.empty(8, dtype=np.int64)
    while key:
        codes[n] = np.int64(key & np.uint64(_CODE_MASK))
        key >>= np.uint64(_CODE_BITS)
        n += 1
    for i in range(n - 1, -1, -1):
        pos = _put_utf8(out, pos, codes[i])
    return pos


@njit
def _put_date(out: U8, pos: int, key: np.uint64) -> int:  # pragma: no cover - compiled
    part, v = np.int64(key >> np.uint64(_TAG_SHIFT)), np.int64(key & np.uint64(_VALUE_MASK))
    if part == 0:
        out[pos] = _Y
        return _put_int(out, pos + 1, v)
    if part <= 2:  # "w0:" / "w1:"
        out[pos], out[pos + 1], out[pos + 2] = _W, 48 + part - 1, 58
        return _put_int(out, pos + 3, v)
    if part == 3:
        out[pos] = _M
        return _put_int(out, pos + 1, v)
    if part == 4:  # "ym{y}-{m}"
        out[pos], out[pos + 1] = _Y, _M
        pos = _put_int(out, pos + 2, v >> 4)
        out[pos] = 45
        return _put_int(out, pos + 1, v & 15)
    if part == 5:
        out[pos] = _D
        return _put_int(out, pos + 1, v)
    if part == 6:  # "dm{a}-{b}"
        out[pos], out[pos + 1] = _D, _M
        pos = _put_int(out, pos + 2, v >> 5)
        out[pos] = 45
        return _put_int(out, pos + 1, v & 31)
    out[pos] = 102  # "f{y}-{m}-{d}"
    pos = _put_int(out, pos + 1, v >> 9)
    out[pos] = 45
    pos = _put_int(out, pos + 1, (v >> 5) & 15)
    out[pos] = 45
    return _put_int(out, pos + 1, v & 31)


@njit(nogil=True)
def render_keys(keys: U64, prefix: U8, kind: int) -> tuple[U8, I64]:  # pragma: no cover - compiled
    """(bytes, offsets): message t is bytes[offsets[t]:offsets[t+1]] = prefix + text of key t."""
    n, lp = keys.shape[0], prefix.shape[0]
    out = np.empty(n * (lp + 32), dtype=np.uint8)  # a gram is <= 24 bytes, a date part <= 30
    offsets = np.empty(n + 1, dtype=np.int64)
    pos = 0
    for t in range(n):
        offsets[t] = pos
        for c in range(lp):  # copied by index: see bloom._jit on slice assignment
            out[pos + c] = prefix[c]
        pos += lp
        pos = _put_gram(out, pos, keys[t]) if kind == GRAM_KEYS else _put_date(out, pos, keys[t])
    offsets[n] = pos
    return out[:pos], offsets


@njit(nogil=True)
def render_texts(
    keys: Ints, prefix: U8, codes: Ints, offsets: Ints
) -> tuple[U8, I64]:  # pragma: no cover - compiled
    """(bytes, offsets): message t is prefix + UTF-8 of text ``keys[t]`` (code points)."""
    n, lp = keys.shape[0], prefix.shape[0]
    size = 0
    for t in range(n):
        size += lp + 4 * (offsets[keys[t] + 1] - offsets[keys[t]])
    out = np.empty(size, dtype=np.uint8)
    out_offsets = np.empty(n + 1, dtype=np.int64)
    pos = 0
    for t in range(n):
        out_offsets[t] = pos
        for c in range(lp):  # copied by index: see bloom._jit on slice assignment
            out[pos + c] = prefix[c]
        pos += lp
        for i in range(offsets[keys[t]], offsets[keys[t] + 1]):
            pos = _put_utf8(out, pos, np.int64(codes[i]))
    out_offsets[n] = pos
    return out[:pos], out_offsets
