"""Normalising and date-parsing distinct values straight from Arrow string buffers.

The encoder dictionary-encodes each column of a chunk; these functions read the dictionary's
offset and byte buffers in compiled loops, without making a Python string per value. ASCII
values (nearly all of most registers) are normalised byte by byte with a 128-entry table built
from ``TextNormaliser``'s own options; dates in the first format's fixed-width layout are read
digit by digit. Every other value takes ``TextNormaliser`` / ``DateParser``, one by one. The
results equal those of ``_tokens.normalise_text`` and ``_tokens.parse_date`` (tests hold them
to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pyarrow as pa

from bloom._arrays import I64, U8, U32, U64, Bools, Int, Ints
from bloom._fastparse import DateParser, TextNormaliser, fixed_spans, valid_dates
from bloom._jit import njit

__all__ = [
    "FlatText",
    "ParsedDates",
    "hash_strings",
    "normalise_dictionary",
    "parse_dates_dictionary",
    "string_buffers",
    "string_keys",
]

_DROP, _GAP = -1, 32


@dataclass
class FlatText:
    """Normalised values as code points: value u is ``codes[offsets[u]:offsets[u+1]]``."""

    codes: np.ndarray  # uint32
    offsets: np.ndarray  # int64, len(values) + 1

    @classmethod
    def from_strings(cls, values: list[str]) -> FlatText:
        codes = np.frombuffer("".join(values).encode("utf-32-le"), dtype=np.uint32)
        offsets = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, values), np.int64, len(values)), out=offsets[1:])
        return cls(codes, offsets)

    def strings(self) -> list[str]:
        text = self.codes.astype("<u4", copy=False).tobytes().decode("utf-32-le")
        bounds = self.offsets.tolist()
        return [text[a:b] for a, b in pairwise(bounds)]


def string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, int64 offsets) of a string array without nulls; value u is bytes[o[u]:o[u+1]]."""
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.int64)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf else np.zeros(0, np.uint8)
    return data, offsets.astype(np.int64)


@njit(inline="always")
def _hash_bytes(data: U8, lo: Int, hi: Int) -> np.uint64:  # pragma: no cover - compiled
    """FNV-1a of data[lo:hi] and its length, finished with the splitmix64 mixer."""
    h = np.uint64(0xCBF29CE484222325) ^ np.uint64(hi - lo)
    for i in range(lo, hi):
        h = (h ^ np.uint64(data[i])) * np.uint64(0x100000001B3)
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@njit(nogil=True)
def _hash_values(data: U8, offsets: Ints) -> U64:  # pragma: no cover - compiled
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for u in range(n):
        out[u] = _hash_bytes(data, offsets[u], offsets[u + 1])
    return out


def hash_strings(arr: pa.Array) -> np.ndarray:
    """A 64-bit hash of each value of a null-free string array (equal strings, equal hashes)."""
    return _hash_values(*string_buffers(arr))


@njit(nogil=True)
def _keys128(data: U8, offsets: Ints) -> U64:  # pragma: no cover - compiled
    """Per value, ``_hash_bytes`` and a second, unrelated hash (multiply-rotate over the bytes
    from the end, finished with murmur3's mixer): 128 bits that differ for different values."""
    n = offsets.shape[0] - 1
    out = np.empty((n, 2), dtype=np.uint64)
    for u in range(n):
        lo, hi = offsets[u], offsets[u + 1]
        out[u, 0] = _hash_bytes(data, lo, hi)
        h = np.uint64(0x9E3779B97F4A7C15) + np.uint64(hi - lo)
        for i in range(hi - 1, lo - 1, -1):
            h = (h ^ np.uint64(data[i])) * np.uint64(0xC2B2AE3D27D4EB4F)
            h = (h << np.uint64(29)) | (h >> np.uint64(35))
        h = (h ^ (h >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)
        h = (h ^ (h >> np.uint64(33))) * np.uint64(0xC4CEB9FE1A85EC53)
        out[u, 1] = h ^ (h >> np.uint64(33))
    return out


def string_keys(arr: pa.Array) -> np.ndarray:
    """(n, 2) uint64: a 128-bit key of each value of a null-free string array. Equal strings
    have equal keys; two different strings share one with odds of about 2^-128."""
    return _keys128(*string_buffers(arr))


@njit(nogil=True)
def _normalise_ascii(
    data: U8, offsets: Ints, action: Ints, join_words: bool
) -> tuple[U32, I64, Bools]:  # pragma: no cover - compiled
    """Normalised code points of the ASCII values; non-ASCII ones are flagged and left empty."""
    n = offsets.shape[0] - 1
    out = np.empty(max(offsets[n] - offsets[0], 1), dtype=np.uint32)
    out_offsets = np.empty(n + 1, dtype=np.int64)
    ascii_ = np.ones(n, dtype=np.bool_)
    pos = 0
    for u in range(n):
        start = out_offsets[u] = pos
        gap = False
        for i in range(offsets[u], offsets[u + 1]):
            b = data[i]
            if b >= 128:
                ascii_[u] = False
                break
            a = action[b]
            if a == _GAP:
                gap = True
            elif a != _DROP:
                if gap and join_words and pos > start:
                    out[pos] = _GAP
                    pos += 1
                gap = False
                out[pos] = a
                pos += 1
        if not ascii_[u]:
            pos = start
    out_offsets[n] = pos
    return out[:pos], out_offsets, ascii_


@njit(nogil=True)
def _splice(
    codes: U32, offsets: Ints, is_ascii: Bools, extra: U32, extra_offsets: Ints
) -> tuple[U32, I64]:  # pragma: no cover - compiled
    """Values in order: ASCII ones from (codes, offsets), the others from (extra, ...)."""
    n = offsets.shape[0] - 1
    lengths = np.empty(n, dtype=np.int64)
    k = 0
    for u in range(n):
        if is_ascii[u]:
            lengths[u] = offsets[u + 1] - offsets[u]
        else:
            lengths[u] = extra_offsets[k + 1] - extra_offsets[k]
            k += 1
    new_offsets = np.zeros(n + 1, dtype=np.int64)
    for u in range(n):
        new_offsets[u + 1] = new_offsets[u] + lengths[u]
    out = np.empty(new_offsets[n], dtype=np.uint32)
    k = 0
    for u in range(n):  # copied by index: see bloom._jit on slice assignment
        lo = new_offsets[u]
        if is_ascii[u]:
            for c in range(lengths[u]):
                out[lo + c] = codes[offsets[u] + c]
        else:
            for c in range(lengths[u]):
                out[lo + c] = extra[extra_offsets[k] + c]
            k += 1
    return out, new_offsets


def normalise_dictionary(values: pa.Array, normaliser: TextNormaliser) -> FlatText:
    """Every value of a null-free string array, normalised by ``normaliser``."""
    if not normaliser.bytewise_ascii:
        return FlatText.from_strings(normaliser.many(values.to_pylist()))
    data, offsets = string_buffers(values)
    actions, joins = normaliser.ascii_actions, normaliser.joins_words
    codes, out_offsets, is_ascii = _normalise_ascii(data, offsets, actions, joins)
    if is_ascii.all():
        return FlatText(codes, out_offsets)
    others = values.filter(pa.array(~is_ascii)).to_pylist()
    extra = FlatText.from_strings(normaliser.many(others))
    return FlatText(*_splice(codes, out_offsets, is_ascii, extra.codes, extra.offsets))


@njit(nogil=True)
def _read_layout(
    data: U8, offsets: Ints, template: Ints, spans: Ints
) -> tuple[I64, I64, I64, Bools]:  # pragma: no cover - compiled
    """(y, m, d, fits): values of exactly the template's layout (digit where template < 0)."""
    n, width = offsets.shape[0] - 1, template.shape[0]
    parts = np.zeros((3, n), dtype=np.int64)
    fits = np.zeros(n, dtype=np.bool_)
    for u in range(n):
        lo = offsets[u]
        if offsets[u + 1] - lo != width:
            continue
        ok = True
        for i in range(width):
            b = data[lo + i]
            if (template[i] < 0 and not 48 <= b <= 57) or (template[i] >= 0 and b != template[i]):
                ok = False
                break
        if not ok:
            continue
        fits[u] = True
        for p in range(3):
            v = 0
            for i in range(spans[p, 0], spans[p, 1]):
                v = v * 10 + data[lo + i] - 48
            parts[p, u] = v
    return parts[0], parts[1], parts[2], fits


@dataclass
class ParsedDates:
    """Distinct date values parsed: (n, 3) year, month, day (0: unknown), parsed or not,
    blank or not, and the index of the format that read each (-1: none)."""

    ymd: np.ndarray
    ok: np.ndarray
    blank: np.ndarray
    format: np.ndarray


def parse_dates_dictionary(values: pa.Array, parser: DateParser) -> ParsedDates:
    """``parse_date`` of each value of a null-free string array (see :class:`ParsedDates`)."""
    n = len(values)
    ymd = np.zeros((n, 3), dtype=np.int64)
    fits = np.zeros(n, dtype=np.bool_)
    layout = fixed_spans(parser.formats[0]) if parser.formats else None
    if layout is not None:
        data, offsets = string_buffers(values)
        template, spans = layout
        y, m, d, fits = _read_layout(data, offsets, template, spans)
        y = np.where(spans[0, 1] > spans[0, 0], y, 1900)  # no %Y: strptime's default year
        fits &= valid_dates(
            y, m if spans[1, 1] > spans[1, 0] else None, d if spans[2, 1] > spans[2, 0] else None
        )
        ymd[:, 0], ymd[:, 1], ymd[:, 2] = y, m, d
    ok, blank = fits.copy(), np.zeros(n, dtype=np.bool_)
    which = np.where(fits, 0, -1).astype(np.int64)
    rest = np.flatnonzero(~fits)
    if rest.size:  # one by one, gathered into the arrays at once
        raws = values.take(rest).to_pylist()
        found = [parser.with_format(raw) for raw in raws]
        which[rest] = [w for _, w in found]
        hit = [k for k, (parsed, _) in enumerate(found) if parsed is not None]
        if hit:
            dates = [found[k][0] for k in hit]
            ymd[rest[hit]] = [(d[0], d[1] or 0, d[2] or 0) for d in dates if d is not None]
            ok[rest[hit]] = True
        blank[rest] = [not raw.strip() for raw in raws]
    return ParsedDates(ymd, ok, blank, which)
