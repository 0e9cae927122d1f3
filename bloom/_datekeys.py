"""Date tokens as integer keys, computed for all distinct dates of a chunk at once.

Each part of the ``date`` tokeniser gets a tag in the top bits of a uint64 key and its value in
the low bits; ``render_date_key`` turns a key back into exactly the token text that
``_tokens._date_tokens`` makes, which is what gets hashed.
"""

from __future__ import annotations

import numpy as np

from bloom._render import DATE_KEYS
from bloom._tokens import ParsedDate
from bloom._vocab import TokenCSR

__all__ = ["date_keys", "date_keys_ymd", "render_date_key"]

_TAG_SHIFT = 40
_PARTS = ("year", "w0", "w1", "month", "year_month", "day", "day_month", "full")
_NEEDS = {
    "year": 0,
    "w0": 0,
    "w1": 0,
    "month": 1,
    "year_month": 1,
    "day": 2,
    "day_month": 2,
    "full": 2,
}


def _payloads(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "year": y,
        "w0": y // 2,
        "w1": (y + 1) // 2,
        "month": m,
        "year_month": y * 16 + m,
        "day": d,
        "day_month": np.minimum(d, m) * 32 + np.maximum(d, m),
        "full": y * 512 + m * 32 + d,
    }


def render_date_key(key: int) -> str:
    part, v = _PARTS[key >> _TAG_SHIFT], key & ((1 << _TAG_SHIFT) - 1)
    if part == "year":
        return f"y{v}"
    if part in ("w0", "w1"):
        return f"{part}:{v}"
    if part == "month":
        return f"m{v}"
    if part == "year_month":
        return f"ym{v >> 4}-{v & 15}"
    if part == "day":
        return f"d{v}"
    if part == "day_month":
        return f"dm{v >> 5}-{v & 31}"
    return f"f{v >> 9}-{(v >> 5) & 15}-{v & 31}"


def date_keys(
    values: list[ParsedDate | None], live: np.ndarray, parts: tuple[str, ...]
) -> TokenCSR:
    """Keys of the requested parts for each date (``live`` false: no tokens)."""
    blank = (0, None, None)
    rows = [v if (ok and v) else blank for v, ok in zip(values, live, strict=True)]
    ymd = np.array([(y, m or 0, d or 0) for y, m, d in rows], dtype=np.int64).reshape(-1, 3)
    return date_keys_ymd(ymd, live, parts)


def date_keys_ymd(ymd: np.ndarray, live: np.ndarray, parts: tuple[str, ...]) -> TokenCSR:
    """``date_keys`` of dates given as (n, 3) year, month, day, with 0 for an unknown part."""
    n = ymd.shape[0]
    live = live.astype(bool)
    y, m, d = (np.where(live, ymd[:, i], 0) for i in range(3))
    known = (live, live & (m > 0), live & (m > 0) & (d > 0))
    wanted = [p for part in parts for p in (("w0", "w1") if part == "year_window" else (part,))]
    pay = _payloads(y, m, d)
    keys = np.stack([(np.int64(_PARTS.index(p)) << _TAG_SHIFT) | pay[p] for p in wanted], axis=1)
    mask = np.stack([known[_NEEDS[p]] for p in wanted], axis=1)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    return TokenCSR(indptr, keys[mask].astype(np.uint64), None, render_date_key, DATE_KEYS)
