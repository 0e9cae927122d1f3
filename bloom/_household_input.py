"""Reading a register's household columns: the group id, the relationship, the consent scopes.

Which columns: the schema's ``household`` and ``consent`` sections name them
(:mod:`bloom._household_schema`) and ``--group-column``, ``--relationship-column`` and
``--consent-column`` override them. A column the schema declares and the register lacks is
not carried (the report says so, and the batch has no such column); a column an option names
and the register lacks is an error naming the option.

What each becomes, chunk by chunk, each distinct value looked at once:

* the group id -> its keyed pseudonym (:func:`bloom._households.group_keys`, under the
  secret and the agency; an empty cell: 0, no group). The id itself never leaves here.
* the relationship -> its code (:func:`bloom._households.relationship_codes`, with the
  schema's spellings); an empty cell: -1. A value that is no relationship is the problem
  ``unknown_relationship``: a warning and -1, or an error where the schema says
  ``relationship_on_unknown: reject``.
* the consent cell -> its scopes (:func:`~bloom._households.split_scopes`, each word a scope
  or a spelling of some), stored joined (:func:`~bloom._households.join_scopes`); an empty
  cell: ``""``. A word that is neither is the error ``unknown_consent_scope``.

Problems are listed by row and column, never with the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bloom._encoder import factorize
from bloom._household_batch import CONSENT, GROUP, RELATIONSHIP, HouseholdCounter, HouseholdCounts
from bloom._household_schema import ConsentSpec, HouseholdSpec
from bloom._households import (
    RELATIONSHIPS,
    group_keys,
    join_scopes,
    relationship_codes,
    split_scopes,
)
from bloom._i18n import gettext, pgettext
from bloom._problems import Problems, Severity
from bloom._schema import Schema
from bloom._secret import Secret
from caselink_errors import EncodingError

__all__ = [
    "HOUSEHOLD_CODES",
    "HouseholdChunk",
    "HouseholdColumns",
    "HouseholdReader",
    "check_options",
    "household_columns",
    "not_carried_text",
]

HOUSEHOLD_CODES = ("unknown_relationship", "unknown_consent_scope")
_OPTIONS = {
    GROUP: "--group-column",
    RELATIONSHIP: "--relationship-column",
    CONSENT: "--consent-column",
}


@dataclass(frozen=True)
class HouseholdColumns:
    """The register's columns each fact is read from (None: the batch does not carry it)."""

    group: str | None = None
    relationship: str | None = None
    consent: str | None = None
    not_carried: tuple[tuple[str, str], ...] = ()  # (fact, column) declared but not in the input

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for c in (self.group, self.relationship, self.consent) if c))


def _declared(schema: Schema) -> dict[str, str | None]:
    house, consent = schema.household, schema.consent
    return {
        GROUP: house.group_column if house else None,
        RELATIONSHIP: house.relationship_column if house else None,
        CONSENT: consent.column if consent else None,
    }


def check_options(schema: Schema, consent_column: str | None) -> None:
    """What is wrong before any input is read: consent scopes to read a consent column by."""
    if consent_column is not None and schema.consent is None:
        text = gettext(
            '--consent-column: the schema declares no consent scopes; add a "consent" '
            'section with its "scopes" to the schema'
        )
        raise EncodingError([text])


def household_columns(
    header: list[str],
    schema: Schema,
    group_column: str | None = None,
    relationship_column: str | None = None,
    consent_column: str | None = None,
) -> tuple[HouseholdColumns, list[tuple[str, str, str]]]:
    """The columns to read, and ``(code, column, sentence)`` for each option's column the
    input lacks and each such column its header names twice."""
    have = set(header)
    given = {GROUP: group_column, RELATIONSHIP: relationship_column, CONSENT: consent_column}
    chosen: dict[str, str | None] = {}
    not_carried: list[tuple[str, str]] = []
    problems: list[tuple[str, str, str]] = []
    for fact, declared in _declared(schema).items():
        option = given[fact]
        if option is not None:
            chosen[fact] = option
            if option not in have:
                text = gettext("{option} '{column}' is not in the input")
                problems.append(
                    (
                        f"missing_{fact}_column",
                        option,
                        text.format(option=_OPTIONS[fact], column=option),
                    )
                )
        elif declared is not None and declared not in have:
            chosen[fact] = None
            not_carried.append((fact, declared))
        else:
            chosen[fact] = declared
    for column in sorted({c for c in header if header.count(c) > 1} & set(chosen.values())):
        text = gettext(
            "the header names column '{column}' more than once: rename all but one"
        ).format(column=column)
        problems.append(("duplicate_column", column, text))
    columns = HouseholdColumns(
        group=chosen[GROUP],
        relationship=chosen[RELATIONSHIP],
        consent=chosen[CONSENT],
        not_carried=tuple(not_carried),
    )
    return columns, problems


def not_carried_text(fact: str, column: str) -> str:
    """What the data officer reads about a declared column the register lacks."""
    if fact == GROUP:
        text = gettext(
            "household groups: the schema's column '{column}' is not in the register, so the "
            "batch carries no household"
        )
    elif fact == RELATIONSHIP:
        text = gettext(
            "relationships: the schema's column '{column}' is not in the register, so the "
            "batch carries no relationship"
        )
    else:
        text = gettext(
            "consent: the schema's column '{column}' is not in the register, so the batch "
            "carries no consent scopes (its records are used for every purpose, as before)"
        )
    return text.format(column=column)


@dataclass
class HouseholdChunk:
    """A chunk's household arrays (None: not carried) and the rows of each problem."""

    groups: np.ndarray | None = None
    relationships: np.ndarray | None = None
    consent: np.ndarray | None = None
    flagged: dict[str, np.ndarray] = field(default_factory=dict)  # code -> rows (as read)


class HouseholdReader:
    """Reads the household columns of one register's chunks; keeps the problems and counts."""

    def __init__(self, schema: Schema, secret: Secret, agency: str, columns: HouseholdColumns):
        self.columns = columns
        self._secret, self._agency = secret, agency
        self._house = schema.household or HouseholdSpec()
        self._consent: ConsentSpec | None = schema.consent
        self._flagged: dict[str, list[np.ndarray]] = {}
        self._counter = HouseholdCounter()

    @property
    def carries(self) -> bool:
        return bool(self.columns.columns)

    def severity(self, code: str) -> Severity:
        reject = code == "unknown_consent_scope" or self._house.relationship_on_unknown == "reject"
        return "error" if reject else "warning"

    def read(self, data: Mapping[str, Any], first_row: int) -> HouseholdChunk:
        """The household arrays of a chunk given as columns (rows numbered from
        ``first_row``); problems are kept for :meth:`collect`."""
        chunk = HouseholdChunk()
        cols = self.columns
        if cols.group is not None:
            codes, uniques = factorize(data[cols.group])
            keys = group_keys(self._secret, self._agency, uniques.to_pylist())
            chunk.groups = np.append(keys, np.uint64(0))[codes]
        if cols.relationship is not None:
            codes, uniques = factorize(data[cols.relationship])
            found, unknown = relationship_codes(uniques.to_pylist(), self._house.spellings)
            chunk.relationships = np.append(found, np.int8(-1))[codes]
            self._flag(chunk, "unknown_relationship", np.isin(codes, unknown), first_row)
        if cols.consent is not None:
            assert self._consent is not None  # check_options made sure
            codes, uniques = factorize(data[cols.consent])
            stored, bad = self._scopes(uniques.to_pylist())
            chunk.consent = np.append(np.asarray(stored, dtype=object), "")[codes]
            self._flag(chunk, "unknown_consent_scope", np.isin(codes, bad), first_row)
        self._counter.add(chunk.groups, chunk.relationships, chunk.consent)
        return chunk

    def _scopes(self, cells: list[str]) -> tuple[list[str], np.ndarray]:
        """Each distinct cell's stored scopes, and which cells hold a word that is no scope."""
        assert self._consent is not None
        stored, bad = [], []
        for k, cell in enumerate(cells):
            scopes: list[str] = []
            for word in split_scopes(cell):
                read = self._consent.read(word)
                if read is None:
                    bad.append(k)
                else:
                    scopes.extend(read)
            stored.append(join_scopes(scopes))
        return stored, np.asarray(bad, dtype=np.int64)

    def _flag(self, chunk: HouseholdChunk, code: str, rows: np.ndarray, first_row: int) -> None:
        found = np.flatnonzero(rows)
        if found.size:
            chunk.flagged[code] = found + first_row
            self._flagged.setdefault(code, []).append(found + first_row)

    def refuses(self, chunk: HouseholdChunk) -> bool:
        return any(self.severity(code) == "error" for code in chunk.flagged)

    def collect(self, found: Problems, renumber: Callable[[np.ndarray], np.ndarray]) -> None:
        """Add each problem found to ``found``, rows renumbered to true rows."""
        columns = {
            "unknown_relationship": self.columns.relationship,
            "unknown_consent_scope": self.columns.consent,
        }
        for code in HOUSEHOLD_CODES:
            if code in self._flagged:
                rows = renumber(np.concatenate(self._flagged[code]))
                column, level = columns[code] or "", self.severity(code)
                what = self._problem(code, column, level)
                found.add(code, what, severity=level, column=column, rows=rows)

    def _problem(self, code: str, column: str, level: Severity) -> str:
        sep = pgettext("list separator", ", ")
        if code == "unknown_consent_scope":
            assert self._consent is not None
            text = gettext(
                "column '{column}' holds consent scopes that are none of the schema's "
                "({scopes}) nor one of their spellings: list the spelling under "
                "consent.spellings in the schema, or fix the rows"
            )
            return text.format(column=column, scopes=sep.join(self._consent.scopes))
        text = gettext(
            "column '{column}' holds relationships that are none of {relationships} nor a "
            "known spelling of one: add the spelling to household.relationship_spellings in "
            "the schema, or fix the rows"
        )
        what = text.format(column=column, relationships=sep.join(RELATIONSHIPS))
        if level == "warning":
            text = gettext(
                "{problem}; read as not given (household.relationship_on_unknown is 'missing')"
            )
            return text.format(problem=what)
        return gettext("{problem}; the schema rejects them").format(problem=what)

    def counts(self) -> HouseholdCounts | None:
        return self._counter.counts()
