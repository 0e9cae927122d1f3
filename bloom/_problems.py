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
from bloom._i18n import gettext, ngettext, number, pgettext
from bloom._rules import BLANK, CONTROL, EMPTY, INVISIBLE, TOO_LONG, listed, rows_text
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
        """``code: what: rows``, in the language in use (the code as it is)."""
        if self.listed is not None:
            rows = self.listed
        elif self.about_rows:
            rows = rows_text(self.rows, limit=LISTED)
        else:
            return f"{self.code}: {self.what}"
        # the code stays first and as it is, whatever the language: scripts grep for it
        return f"{self.code}: " + gettext("{problem}: {rows}").format(problem=self.what, rows=rows)


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
            gettext("(warning) {problem}").format(problem=p.sentence()) for p in self.warnings
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
    shown = [
        gettext("rows {first} and {second}").format(first=a, second=b)
        for a, b in pairs[:LISTED].tolist()
    ]
    n = len(pairs)
    return ngettext("{count} pair ({pairs})", "{count} pairs ({pairs})", n).format(
        count=number(n), pairs=listed(shown, n)
    )


# -- what a field's problem says ----------------------------------------------------------
def _names(fields: Sequence[Field]) -> str:
    return pgettext("list separator", ", ").join(f"'{f.name}'" for f in fields)


def _where(column: str, fields: Sequence[Field]) -> str:
    return ngettext(
        "column '{column}' (field {names})", "column '{column}' (fields {names})", len(fields)
    ).format(column=column, names=_names(fields))


def _order(f: Field) -> str:
    if f.date_order:
        return gettext("{order}, the date order in use").format(order=f.date_order)
    return gettext(
        "{order}, as the schema's formats are written (it declares no date_order)"
    ).format(order=written_order(f.date_formats))


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
    order, other = (_order(f), str(f.alt_date_order)) if f.type == "date" else ("", "")
    if code == "missing_value":
        text = gettext("{where} is empty and the schema rejects missing values")
        return text.format(where=where), level
    if code == "ambiguous_date":
        text = gettext(
            "{where} holds dates whose day and month could be swapped (both 12 or less): "
            "read as {order}; if the register writes them as {other}, pass "
            "--date-order {other}"
        )
        return text.format(where=where, order=order, other=other), level
    if code == "invalid_date":
        text = gettext("{where} holds values that are not dates in the formats {formats}")
        what = text.format(where=where, formats=", ".join(f.date_formats))
    elif code == "wrong_date_order":
        text = gettext(
            "{where} holds dates that are not valid read as {order}, but are as "
            "{other}: check the order the register writes dates in (caselink "
            "encode --date-order, or date_order in the schema)"
        )
        what = text.format(where=where, order=order, other=other)
    elif code == "unknown_category":
        text = gettext(
            "{where} holds values that are none of the schema's categories "
            "({categories}) nor one of their spellings: list the spelling under "
            "its value in category.values, or fix the rows"
        )
        what = text.format(where=where, categories=", ".join(f.categories))
    else:  # invalid_number
        what = gettext("{where} holds values that are not numbers").format(where=where)
    if level == "warning":
        option = "category.on_unknown" if code == "unknown_category" else "date.on_invalid"
        text = gettext("{problem}; encoded as missing ({option} is 'missing')")
        return text.format(problem=what, option=option), level
    if f.type == "date":
        text = gettext(
            "{problem}; the schema rejects them (fix the rows, or set date.on_invalid to 'missing')"
        )
        return text.format(problem=what), level
    if code == "invalid_number":
        return gettext("{problem}; the schema rejects them").format(problem=what), level
    return what, level
