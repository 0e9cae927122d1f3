"""Date orders: which of day and month a register writes first, and what that does to formats.

A schema lists its date formats (``%d/%m/%Y``...) and may declare the order the register
writes dates in: ``DMY``, ``MDY`` or ``YMD`` (``date_order``; ``caselink encode --date-order``
overrides it). The order rewrites every *day-month* format -- one with ``%d``, ``%m`` and a
year that does not start with the year -- into that order, keeping its separators:
``%d/%m/%Y`` is read as ``%m/%d/%Y`` under ``MDY`` and as ``%Y/%m/%d`` under ``YMD``.
Year-first formats (``%Y-%m-%d``, ``%Y%m%d``) are ISO's order and read the same under every
order, and so does a format without a day or a month (``%m/%Y``, ``%Y``). With no order
declared the formats are read as written.

The same person's date gives the same parts whatever order the register writes, so the
order is an agency's own input setting and stays out of the schema's fingerprint.

In a day-month format a date whose day and month are both 12 or less (and differ) reads as
another date in the other order: it is *ambiguous*, and ``caselink encode`` reports it.
"""

from __future__ import annotations

import re

__all__ = ["DATE_ORDERS", "alternative_order", "is_day_month", "reorder", "written_order"]

DATE_ORDERS = ("DMY", "MDY", "YMD")
_DIRECTIVE = re.compile(r"%%|%[dmYy]")  # a literal % or a date part
_PART = {"%d": "D", "%m": "M", "%Y": "Y", "%y": "Y"}


def _parts(fmt: str) -> list[str]:
    return [m.group(0) for m in _DIRECTIVE.finditer(fmt) if m.group(0) != "%%"]


def is_day_month(fmt: str) -> bool:
    """A format with a day, a month and a year, not starting with the year."""
    parts = _parts(fmt)
    kinds = [_PART[p] for p in parts]
    return sorted(kinds) == ["D", "M", "Y"] and kinds[0] != "Y"


def _written(fmt: str) -> str:
    return "".join(_PART[p] for p in _parts(fmt))


def reorder(formats: tuple[str, ...], order: str | None) -> tuple[str, ...]:
    """The formats as ``order`` reads them (see the module doc); duplicates dropped."""
    if order is None:
        return formats
    out: list[str] = []
    for fmt in formats:
        fmt = _in_order(fmt, order) if is_day_month(fmt) else fmt
        if fmt not in out:
            out.append(fmt)
    return tuple(out)


def _in_order(fmt: str, order: str) -> str:
    """A day-month format with its day, month and year in ``order``, separators kept."""
    year = next(p for p in _parts(fmt) if _PART[p] == "Y")
    wanted = iter({"D": "%d", "M": "%m", "Y": year}[k] for k in order)
    return _DIRECTIVE.sub(lambda m: m.group(0) if m.group(0) == "%%" else next(wanted), fmt)


def written_order(formats: tuple[str, ...]) -> str | None:
    """The order of the first day-month format, as written (``DMY`` or ``MDY``); None if none."""
    found = next((_written(f) for f in formats if is_day_month(f)), None)
    return found if found in ("DMY", "MDY") else None


def alternative_order(formats: tuple[str, ...], order: str | None) -> str | None:
    """The order a date that is invalid under ``order`` is next most likely written in:
    day and month swapped (``YMD``: ``DMY``); None when the formats have no day-month one."""
    current = order or written_order(formats)
    if current is None or not any(is_day_month(f) for f in formats):
        return None
    return {"DMY": "MDY", "MDY": "DMY", "YMD": "DMY"}[current]
