"""The problems of a register: every message ``caselink encode`` prints and every line of its
``--problems-out`` file.

A problem has a stable code (``invalid_date``, ``too_few_fields``...), a sentence naming the
column and fields it concerns -- never a value -- a severity, and the rows it was found in:
true row numbers, the header being row 0 and the first record row 1. An *error* refuses the
register; a *warning* lets it encode (a value read as missing, a date whose day and month
could be swapped). A message lists the first :data:`LISTED` rows of a problem and counts the
rest; the problems file lists every row: ``row, line, column, problem, severity``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bloom._dateorder import written_order
from bloom._rules import BLANK, CONTROL, EMPTY, INVISIBLE, TOO_LONG, rows_text
from bloom._schema import Field

__all__ = [
    "LISTED",
    "REF_CODES",
    "Problem",
    "Problems",
    "field_problem",
    "pairs_text",
    "severity",
]

LISTED = 20
Severity = Literal["error", "warning"]
REF_CODES = {
    EMPTY: "empty_ref",
    BLANK: "blank_ref",
    TOO_LONG: "ref_too_long",
    CONTROL: "ref_control_character",
    INVISIBLE: "ref_invisible_character",
}


@dataclass
class Problem:
    code: str
    what: str  # names the column and fields; never a value
    severity: Severity = "error"
    column: str = ""  # the CSV column; '' for a whole row or the file
    parts: list[np.ndarray] = field(default_factory=list)  # true row numbers, in pieces
    listed: str | None = None  # what the message lists in place of the rows (duplicate pairs)
    about_rows: bool = True

    _rows: np.ndarray | None = field(default=None, repr=False)

    @property
    def rows(self) -> np.ndarray:
        """The true rows, sorted, each once."""
        if self._rows is None:
            self._rows = np.unique(np.concatenate(self.parts)) if self.parts else _NONE
        return self._rows

    def sentence(self) -> str:
        head = f"{self.code}: {self.what}"
        if self.listed is not None:
            return f"{head}: {self.listed}"
        return f"{head}: {rows_text(self.rows, limit=LISTED)}" if self.about_rows else head


_NONE = np.empty(0, dtype=np.int64)


class Problems:
    """Problems in the order found; the same problem found again gains the new rows."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str, str, str], Problem] = {}

    def add(
        self,
        code: str,
        what: str,
        *,
        severity: Severity = "error",
        column: str = "",
        rows: np.ndarray | Sequence[int] | None = None,
        listed: str | None = None,
    ) -> None:
        key = (code, column, severity, what)
        problem = self._found.setdefault(
            key, Problem(code, what, severity, column, about_rows=rows is not None)
        )
        if rows is not None:
            problem.parts.append(np.asarray(rows, dtype=np.int64))
            problem._rows = None
        if listed is not None:
            problem.listed = listed

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._found.values())

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self if p.severity == "warning"]

    def sentences(self) -> list[str]:
        """Errors, then warnings marked as such: what an error lists."""
        return [p.sentence() for p in self.errors] + [
            f"(warning) {p.sentence()}" for p in self.warnings
        ]

    def write_csv(
        self, path: str | os.PathLike[str], line_of: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        """``row, line, column, problem, severity``: one line per row of each problem (a
        problem of the whole file has no row), in row order; ``line_of`` gives rows' lines."""
        parts = []
        for p in self:
            rows = p.rows if p.about_rows else np.array([-1], dtype=np.int64)
            parts.append(
                pa.table(
                    {
                        "row": pa.array(rows, mask=rows < 0),
                        "line": pa.array(line_of(np.maximum(rows, 0)), mask=rows < 0),
                        "column": pa.array([p.column] * len(rows), pa.string()),
                        "problem": pa.array([p.code] * len(rows), pa.string()),
                        "severity": pa.array([p.severity] * len(rows), pa.string()),
                    }
                )
            )
        table = pa.concat_tables(parts) if parts else _EMPTY_TABLE
        order = pc.sort_indices(  # problems of the whole file (no row) first
            table, [("row", "ascending", "at_start"), ("problem", "ascending", "at_end")]
        )
        table = table.take(order)
        options = pacsv.WriteOptions(quoting_style="needed")
        pacsv.write_csv(table, os.fspath(path), write_options=options)


_EMPTY_TABLE = pa.table(
    {
        "row": pa.array([], pa.int64()),
        "line": pa.array([], pa.int64()),
        "column": pa.array([], pa.string()),
        "problem": pa.array([], pa.string()),
        "severity": pa.array([], pa.string()),
    }
)


def pairs_text(pairs: np.ndarray) -> str:
    """``2 pairs (rows 3 and 8, rows 4 and 9)``: true row numbers, the first few; ``pairs`` is
    (k, 2)."""
    shown = ", ".join(f"rows {a} and {b}" for a, b in pairs[:LISTED].tolist())
    more = f" and {len(pairs) - LISTED:,} more" if len(pairs) > LISTED else ""
    return f"{len(pairs):,} pair{'s' if len(pairs) != 1 else ''} ({shown}{more})"


# -- what a field's problem says ----------------------------------------------------------
def _where(column: str, fields: Sequence[Field]) -> str:
    names = ", ".join(f"'{f.name}'" for f in fields)
    return f"column '{column}' (field{'s' if len(fields) > 1 else ''} {names})"


def _order(f: Field) -> str:
    if f.date_order:
        return f"{f.date_order}, the date order in use"
    written = written_order(f.date_formats)
    return f"{written}, as the schema's formats are written (it declares no date_order)"


def severity(code: str, f: Field) -> Severity:
    """Whether ``code`` in field ``f`` refuses the register: missing and unreadable values
    do unless the schema keeps them as missing; an ambiguous date never does."""
    if code == "ambiguous_date":
        return "warning"
    if code == "unknown_category":
        return "warning" if f.on_unknown == "missing" else "error"
    if code in ("invalid_date", "wrong_date_order"):
        return "warning" if f.on_invalid == "missing" else "error"
    return "error"  # missing_value (flagged only when rejected), invalid_number


def field_problem(code: str, column: str, fields: Sequence[Field]) -> tuple[str, Severity]:
    """The sentence and severity of a value problem of ``fields`` (all reading ``column``)."""
    f, where = fields[0], _where(column, fields)
    level = severity(code, f)
    if code == "missing_value":
        return f"{where} is empty and the schema rejects missing values", level
    if code == "ambiguous_date":
        return (
            f"{where} holds dates whose day and month could be swapped (both 12 or less): "
            f"read as {_order(f)}; if the register writes them as {f.alt_date_order}, pass "
            f"--date-order {f.alt_date_order}",
            level,
        )
    if code == "invalid_date":
        what = f"{where} holds values that are not dates in the formats {', '.join(f.date_formats)}"
    elif code == "wrong_date_order":
        what = (
            f"{where} holds dates that are not valid read as {_order(f)}, but are as "
            f"{f.alt_date_order}: check the order the register writes dates in (caselink "
            "encode --date-order, or date_order in the schema)"
        )
    elif code == "unknown_category":
        what = (
            f"{where} holds values that are none of the schema's categories "
            f"({', '.join(f.categories)}) nor one of their spellings: list the spelling under "
            "its value in category.values, or fix the rows"
        )
    else:  # invalid_number
        what = f"{where} holds values that are not numbers"
    if level == "warning":
        option = "category.on_unknown" if code == "unknown_category" else "date.on_invalid"
        return f"{what}; encoded as missing ({option} is 'missing')", level
    if f.type == "date":
        return (
            f"{what}; the schema rejects them (fix the rows, or set date.on_invalid to 'missing')",
            level,
        )
    return f"{what}; the schema rejects them" if code == "invalid_number" else what, level
