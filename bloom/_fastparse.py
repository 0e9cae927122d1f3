"""Fast equivalents of ``_tokens.normalise_text`` and ``_tokens.parse_date``.

The encoder calls these once per distinct value of a chunk. They give exactly the results of
the reference functions in ``_tokens`` (tests hold them to it) but take the cheap road where
one exists: ASCII text goes through ``str.translate`` tables, other text through a per-character
cache; numeric date formats are matched with the same regular expressions ``strptime`` builds,
without its overhead, and parsed dates are cached.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Any, Literal, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bloom._tokens import _MAX_YEAR, _MIN_YEAR, ParsedDate, parse_date_with_format

__all__ = ["DateParser", "TextNormaliser", "fixed_spans", "valid_dates"]

_ASCII_PUNCT = [chr(i) for i in range(128) if unicodedata.category(chr(i))[0] in "PS"]
_ASCII_CONTROL = [chr(i) for i in range(128) if unicodedata.category(chr(i))[0] == "C"]


def _ascii_table(punctuation: str) -> dict[int, str | None]:
    table: dict[int, str | None] = {
        ord(c): (" " if c in "\t\n\r" else None) for c in _ASCII_CONTROL
    }
    if punctuation != "keep":
        table.update({ord(c): (" " if punctuation == "space" else None) for c in _ASCII_PUNCT})
    return table


@lru_cache(maxsize=16)
def _ascii_actions(casefold: bool, punctuation: str) -> np.ndarray:
    """What each ASCII byte becomes: a code point, 32 for a word break, -1 for nothing."""
    table, out = _ascii_table(punctuation), np.empty(128, dtype=np.int64)
    for c in range(128):
        text = (chr(c).lower() if casefold else chr(c)).translate(table)
        out[c] = -1 if text == "" else (32 if text.isspace() else ord(text))
    return out


class TextNormaliser:
    """``normalise_text`` for one field's options, fast on ASCII and cached per character."""

    def __init__(self, opts: dict[str, Any]) -> None:
        self._opts = opts
        self._ascii = _ascii_table(opts["punctuation"])
        self._chars: dict[str, str] = {}
        self._particles = frozenset(opts.get("particles") or ())
        self._remove_ws = opts["whitespace"] == "remove"
        self.joins_words = not self._remove_ws
        self.bytewise_ascii = not self._particles  # ASCII values normalise byte by byte
        self.ascii_actions = _ascii_actions(bool(opts["casefold"]), opts["punctuation"])

    def _char(self, ch: str) -> str:
        cat = unicodedata.category(ch)
        if cat[0] == "C":
            out = " " if ch in "\t\n\r" else ""
        elif cat[0] in "PS" and self._opts["punctuation"] != "keep":
            out = " " if self._opts["punctuation"] == "space" else ""
        else:
            out = ch
        self._chars[ch] = out
        return out

    def many(self, values: list[str]) -> list[str]:
        """Normalise a list; the common options take an inlined ASCII fast path."""
        o = self._opts
        if o["casefold"] and not self._particles and not self._remove_ws:
            table, one = self._ascii, self.__call__
            return [
                " ".join(v.lower().translate(table).split()) if v.isascii() else one(v)
                for v in values
            ]
        return [self(v) for v in values]

    def __call__(self, value: str) -> str:
        o = self._opts
        if value.isascii():
            text = (value.lower() if o["casefold"] else value).translate(self._ascii)
        else:
            text = unicodedata.normalize("NFKD" if o["strip_accents"] else o["unicode"], value)
            if o["strip_accents"]:
                text = unicodedata.normalize(
                    o["unicode"], "".join(c for c in text if not unicodedata.combining(c))
                )
            if o["casefold"]:
                text = text.casefold()
            chars = self._chars
            text = "".join([chars[c] if c in chars else self._char(c) for c in text])
        parts = text.split()
        if self._particles:
            parts = [p for p in parts if p not in self._particles] or parts
        return "".join(parts) if self._remove_ws else " ".join(parts)


_DIRECTIVES = {
    "Y": r"(?P<Y>\d\d\d\d)",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "d": r"(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])",
}


@lru_cache(maxsize=64)
def _numeric_format(fmt: str) -> re.Pattern[str] | None:
    """strptime's own pattern for formats made of %Y, %m, %d and literals; else None."""
    pattern, i = "", 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            if i + 1 >= len(fmt) or fmt[i + 1] not in _DIRECTIVES:
                return None
            pattern += _DIRECTIVES[fmt[i + 1]]
            i += 2
            continue
        pattern += r"\s+" if ch.isspace() else re.escape(ch)
        i += 1
    return re.compile(pattern, re.IGNORECASE)


_WIDTH = {"Y": 4, "m": 2, "d": 2}
_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


@lru_cache(maxsize=64)
def _fixed_layout(fmt: str) -> tuple[str, dict[str, tuple[int, int]]] | None:
    """For %Y/%m/%d formats with non-space literals: the full-width regex and field spans.

    A value of exactly that layout whose fields are in range parses under strptime's rules to
    the same date as plain slicing; anything else goes through the one-by-one parser.
    """
    if _numeric_format(fmt) is None or any(c.isspace() for c in fmt):
        return None
    pattern, spans, pos, i = "^", {}, 0, 0
    while i < len(fmt):
        if fmt[i] == "%":
            key = fmt[i + 1]
            if key in spans:
                return None
            spans[key] = (pos, pos + _WIDTH[key])
            pattern += f"[0-9]{{{_WIDTH[key]}}}"
            pos += _WIDTH[key]
            i += 2
        else:
            pattern += re.escape(fmt[i])
            pos += 1
            i += 1
    return pattern + "$", spans


def fixed_spans(fmt: str) -> tuple[np.ndarray, np.ndarray] | None:
    """For ``_fixed_layout`` formats with ASCII literals: (byte template, (3, 2) spans).

    The template holds -1 where a digit goes and the literal byte elsewhere; the spans are the
    (start, end) of %Y, %m and %d, (0, 0) for a part the format lacks.
    """
    layout = _fixed_layout(fmt)
    if layout is None or not fmt.isascii():
        return None
    spans = np.zeros((3, 2), dtype=np.int64)
    for p, key in enumerate("Ymd"):
        if key in layout[1]:
            spans[p] = layout[1][key]
    width, template, i = int(spans[:, 1].max()), [], 0
    while i < len(fmt):
        if fmt[i] == "%":
            template += [-1] * _WIDTH[fmt[i + 1]]
            i += 2
        else:
            template.append(ord(fmt[i]))
            i += 1
    assert len(template) >= width
    return np.array(template, dtype=np.int64), spans


def _number(digits: np.ndarray, start: int, end: int) -> np.ndarray:
    out = np.zeros(digits.shape[0], dtype=np.int64)
    for c in range(start, end):
        out = out * 10 + digits[:, c]
    return out


def _valid(y: np.ndarray, m: np.ndarray | None, d: np.ndarray | None) -> np.ndarray:
    ok = (y >= _MIN_YEAR) & (y <= _MAX_YEAR)
    if m is not None:
        ok &= (m >= 1) & (m <= 12)
    if d is not None:
        mm = np.clip(m if m is not None else np.ones_like(d), 1, 12)
        leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
        dim = _DAYS[mm] - ((mm == 2) & ~leap)
        ok &= (d >= 1) & (d <= dim)
    return ok


valid_dates = _valid


class DateParser:
    """``parse_date`` for one field's formats, with a bounded cache of parsed values."""

    _LIMIT = 500_000

    def __init__(self, formats: tuple[str, ...]) -> None:
        self._formats = formats
        self.formats = formats
        self._fast = all(_numeric_format(f) is not None for f in formats)
        self._cache: dict[str, tuple[ParsedDate | None, int]] = {}

    def many(self, values: list[str]) -> list[ParsedDate | None]:
        """Parse a list; values in the first format's full-width layout are sliced at once."""
        layout = _fixed_layout(self._formats[0]) if self._formats else None
        if layout is None or not values:
            return [self(v) for v in values]
        pattern, spans = layout
        arr = pa.array(values, type=pa.string())
        fits = pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False)
        out: list[ParsedDate | None] = [None] * len(values)
        idx = np.flatnonzero(fits)
        if idx.size:
            width = max(e for _, e in spans.values())
            codes = np.array([values[i] for i in idx], dtype=f"<U{width}").view(np.uint32)
            digits = codes.reshape(idx.size, width).astype(np.int64) - 48
            parts = {k: _number(digits, s, e) for k, (s, e) in spans.items()}
            y = parts.get("Y", np.full(idx.size, 1900))
            m, d = parts.get("m"), parts.get("d")
            ok = _valid(y, m, d)
            for k, i in enumerate(idx):
                if ok[k]:
                    out[i] = (
                        int(y[k]),
                        int(m[k]) if m is not None else None,
                        int(d[k]) if d is not None else None,
                    )
        for i in np.flatnonzero(
            ~fits | np.isin(np.arange(len(values)), idx[~ok] if idx.size else [])
        ):
            out[i] = self(values[i])
        return out

    def __call__(self, raw: str) -> ParsedDate | None:
        return self.with_format(raw)[0]

    def with_format(self, raw: str) -> tuple[ParsedDate | None, int]:
        """The parsed date and the index of the format that read it (-1: none did)."""
        hit: tuple[ParsedDate | None, int] | Literal[False] = self._cache.get(raw, False)
        if hit is not False:
            return hit
        found = self._parse_fast(raw) if self._fast else parse_date_with_format(raw, self._formats)
        if len(self._cache) >= self._LIMIT:
            self._cache.clear()
        self._cache[raw] = found
        return found

    def _parse_fast(self, raw: str) -> tuple[ParsedDate | None, int]:
        text = raw.strip()
        if not text:
            return None, -1
        for k, fmt in enumerate(self._formats):
            m = cast("re.Pattern[str]", _numeric_format(fmt)).match(text)  # self._fast: not None
            if m is None or m.end() != len(text):  # strptime: "unconverted data remains"
                continue
            g = m.groupdict()
            year, month, day = int(g["Y"]) if "Y" in g else 1900, g.get("m"), g.get("d")
            try:
                date(year, int(month or 1), int(day or 1))
            except ValueError:
                continue
            if not _MIN_YEAR <= year <= _MAX_YEAR:
                return None, -1
            return (year, int(month) if month else None, int(day) if day else None), k
        return parse_date_with_format(text, ())  # zero-filled parts and nothing else
