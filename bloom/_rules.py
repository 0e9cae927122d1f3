"""What an encoded batch may hold: the rule for record refs and the rule for segment layouts.

Both rules live here once. The batch reader, the batch writer and ``caselink encode`` apply
them, and so does the service (through the reader), so every database stores the same refs.

A **record ref** is the agency's own opaque id of a record. It is 1 to ``MAX_REF_LENGTH``
characters (Unicode code points, which is what PostgreSQL's ``varchar(256)`` counts), not
blank (only space characters, Unicode Zs), and holds no control character (Unicode Cc: NUL,
tab, CR, LF and the like) and no invisible format or line-separator character (Unicode Cf,
Zl, Zp: zero-width characters, bidirectional overrides, the byte-order mark, U+2028 and
U+2029). Those are refused because two refs that print the same must be the same ref, and a
ref must survive a CSV export, a terminal and a log line unchanged. The categories are those
of the regular-expression engine in pyarrow (RE2).

A **segment layout** is the list of ``(name, bits)`` runs a filter is made of, in order. Names
follow the linkage schema's rule for identifiers (``$defs/identifier`` in
``linkage-schema.v1.json``) and are unique; each segment has a positive multiple of 64 bits;
the bits add up to the filter's width.

Problems name rows by position (from 1) and the rule broken, never a ref's value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bloom._i18n import N_, gettext, ngettext, number, pgettext
from bloom._schema import _validator

__all__ = [
    "MAX_REF_LENGTH",
    "Layout",
    "as_layout",
    "duplicate_pairs",
    "duplicate_problem",
    "layout_problems",
    "ref_problems",
    "rows_text",
    "segment_name_pattern",
    "strip_spaces",
]

MAX_REF_LENGTH = 256
MAX_ROWS_LISTED = 10
WORD_BITS = 64
Layout = tuple[tuple[str, int], ...]

# the rules a ref breaks, as the messages say them (translated where shown: rule_text)
EMPTY = N_("is empty")
BLANK = N_("is blank (only space characters)")
TOO_LONG = N_("is longer than 256 characters")
CONTROL = N_("holds a control character (such as NUL, tab, CR or LF)")
INVISIBLE = N_(
    "holds an invisible format or line-separator character (such as U+200B, U+202E, "
    "U+FEFF or U+2028)"
)
_CONTROL = r"\p{Cc}"
_INVISIBLE = r"[\p{Cf}\p{Zl}\p{Zp}]"
_BLANK = r"^\p{Zs}+$"
_OUTER_SPACES = r"^\p{Zs}+|\p{Zs}+$"


def rule_text(rule: str) -> str:
    """A ref rule (:data:`EMPTY`...) as the language in use says it."""
    return gettext(rule)


def listed(items: Sequence[str], total: int) -> str:
    """``4, 8, 12`` or ``4, 8, 12 and 7 more``: the items shown of ``total``."""
    shown = pgettext("list separator", ", ").join(items)
    if total <= len(items):
        return shown
    more = total - len(items)
    return ngettext("{shown} and {more} more", "{shown} and {more} more", more).format(
        shown=shown, more=number(more)
    )


def rows_text(rows: Sequence[int] | np.ndarray, limit: int = MAX_ROWS_LISTED) -> str:
    """``3 rows (4, 8, 12)``: a count and the first ``limit`` row numbers, as given."""
    n = len(rows)
    return ngettext("{count} row ({rows})", "{count} rows ({rows})", n).format(
        count=number(n), rows=listed([str(r) for r in rows[:limit]], n)
    )


def ref_problems(refs: pa.Array | pa.ChunkedArray | Iterable[str | None]) -> dict[str, np.ndarray]:
    """Positions (from 0) of the refs breaking each rule; empty when every ref is good.

    A null counts as an empty ref. ``refs`` must be valid UTF-8 (Arrow strings read from a
    file may not be: see :func:`bloom._batch.read_batch`).
    """
    if not isinstance(refs, pa.Array | pa.ChunkedArray):
        refs = pa.array(list(refs), pa.string())
    refs = pc.fill_null(refs.cast(pa.large_string()), "")
    lengths = pc.utf8_length(refs)
    found = {
        EMPTY: pc.equal(lengths, 0),
        BLANK: pc.match_substring_regex(refs, _BLANK),
        TOO_LONG: pc.greater(lengths, MAX_REF_LENGTH),
        CONTROL: pc.match_substring_regex(refs, _CONTROL),
        INVISIBLE: pc.match_substring_regex(refs, _INVISIBLE),
    }
    out = {}
    for rule, mask in found.items():
        rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        if rows.size:
            out[rule] = rows
    return out


def strip_spaces(refs: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Refs without the space characters (Zs) around them, as ``caselink encode`` reads a
    register; other characters are left for :func:`ref_problems` to judge, never dropped."""
    return pc.replace_substring_regex(refs, _OUTER_SPACES, "")


def duplicate_pairs(refs: np.ndarray | Sequence[str]) -> list[tuple[int, int]]:
    """``(earlier, later)`` positions (from 0) of refs that repeat one another, in order.

    Missing refs (None) are not compared: they break the ref rule already."""
    codes = pd.factorize(pd.Series(np.asarray(refs, dtype=object)))[0]
    order = np.argsort(codes, kind="stable")  # positions rise within each ref's group
    ordered = codes[order]
    same = np.flatnonzero((ordered[1:] == ordered[:-1]) & (ordered[1:] >= 0))
    return sorted((int(order[k]), int(order[k + 1])) for k in same)


def duplicate_problem(pairs: Sequence[tuple[int, int]]) -> str:
    """The one message for duplicate refs; ``pairs`` are positions from 0."""
    shown = [
        gettext("rows {first} and {second}").format(first=a + 1, second=b + 1)
        for a, b in pairs[:MAX_ROWS_LISTED]
    ]
    n = len(pairs)
    return ngettext(
        "record_ref is duplicated: {count} pair ({pairs}); each record needs its own ref",
        "record_ref is duplicated: {count} pairs ({pairs}); each record needs its own ref",
        n,
    ).format(count=number(n), pairs=listed(shown, n))


@lru_cache(maxsize=1)
def segment_name_pattern() -> str:
    """The linkage schema's rule for segment names (its ``identifier``), as a regex."""
    return str(_validator().schema["$defs"]["identifier"]["pattern"])


@lru_cache(maxsize=1)
def _max_segments() -> int:
    filt = _validator().schema["properties"]["filter"]["properties"]
    return int(filt["segments"]["maxItems"])


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _segment(item: Any) -> tuple[Any, Any] | None:
    """``(name, bits)`` of ``{"name", "bits"}`` or of a ``[name, bits]`` pair; else None."""
    if isinstance(item, Mapping):
        return (item["name"], item["bits"]) if set(item) == {"name", "bits"} else None
    if isinstance(item, Sequence) and not isinstance(item, str | bytes) and len(item) == 2:
        return item[0], item[1]
    return None


def _segment_problems(segments: Sequence[Any], prefix: str) -> list[str]:
    problems: list[str] = []
    names = re.compile(segment_name_pattern())
    for i, item in enumerate(segments):
        seg = _segment(item)
        where = f"{prefix}segments/{i}"
        if seg is None:
            problems.append(f"{where}: a segment is {{name, bits}} and nothing else")
            continue
        name, bits = seg
        if not isinstance(name, str) or not names.fullmatch(name):
            problems.append(
                f"{where}/name: use 1-64 letters, digits or '_', not starting with a digit"
            )
        if not _is_int(bits) or bits <= 0 or bits % WORD_BITS:
            found = f" (found {int(bits)})" if _is_int(bits) else ""
            problems.append(f"{where}/bits: must be a positive multiple of 64{found}")
    return problems


def layout_problems(segments: Any, filter_bits: Any, *, prefix: str = "") -> list[str]:
    """Every problem with a segment layout and the filter width it must add up to.

    ``segments`` is a list of ``{"name", "bits"}`` objects or ``[name, bits]`` pairs;
    ``prefix`` goes before each location (``metadata/`` for a batch file's metadata).
    """
    if not isinstance(segments, Sequence) or isinstance(segments, str | bytes) or not segments:
        return [f"{prefix}segments: a list of at least one {{name, bits}} is needed"]
    if len(segments) > _max_segments():
        return [f"{prefix}segments: at most {_max_segments()} segments"]
    problems = _segment_problems(segments, prefix)
    parsed = [_segment(s) for s in segments]
    names = [s[0] for s in parsed if s is not None and isinstance(s[0], str)]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        if re.fullmatch(segment_name_pattern(), dup):  # echoed only when well-formed
            problems.append(f"{prefix}segments: the name '{dup}' is used more than once")
    bits = [s[1] for s in parsed if s is not None and _is_int(s[1])]
    total = sum(int(b) for b in bits) if len(bits) == len(parsed) else None
    if not _is_int(filter_bits) or filter_bits <= 0 or filter_bits % WORD_BITS:
        problems.append(f"{prefix}filter_bits: must be a positive multiple of 64")
    elif total is not None and total != filter_bits:
        problems.append(
            f"{prefix}filter_bits: {filter_bits} differs from the sum of the segment bits ({total})"
        )
    return problems


def as_layout(segments: Iterable[Any]) -> Layout:
    """A checked layout (see :func:`layout_problems`) as a tuple of ``(name, bits)``."""
    out = []
    for item in segments:
        seg = _segment(item)
        assert seg is not None, "check the layout with layout_problems first"
        out.append((str(seg[0]), int(seg[1])))
    return tuple(out)
