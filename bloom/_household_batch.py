"""The optional household columns of a batch file: their types, their values, their counts.

Beside ``record_ref`` and ``bloom`` a batch may hold, each only when the register carried it:

* ``group`` -- ``uint64``, the record's household pseudonym (:func:`bloom._households.
  group_keys`); null for a record in no group (``0`` in :attr:`EncodedBatch.groups`, and never
  written as a value).
* ``relationship`` -- string, one of :data:`~bloom._households.RELATIONSHIPS`; null where not
  given (``-1`` in :attr:`EncodedBatch.relationships`, which holds the index).
* ``consent`` -- string, never null: the record's scope codes, distinct, sorted, separated by
  one space (:func:`~bloom._households.join_scopes`); ``""`` for no scope.

The writer and the reader both hold values to these rules (:func:`fact_problems`), so a file
the writer makes the reader accepts, and a hand-made file with another type or value is
refused naming the column and the rows. :class:`HouseholdCounts` is what ``caselink encode``
and ``caselink inspect`` show of them: counts only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bloom._households import RELATIONSHIPS, SCOPE_PATTERN
from bloom._rules import rows_text

__all__ = [
    "CONSENT",
    "FACT_COLUMNS",
    "GROUP",
    "RELATIONSHIP",
    "HouseholdCounter",
    "HouseholdCounts",
    "arrow_fields",
    "fact_problems",
    "from_arrow",
    "to_arrow",
]

GROUP, RELATIONSHIP, CONSENT = "group", "relationship", "consent"
FACT_COLUMNS = (GROUP, RELATIONSHIP, CONSENT)  # in the order of the file and of the hash
_TYPES = {GROUP: pa.uint64(), RELATIONSHIP: pa.string(), CONSENT: pa.string()}
_WHAT = {
    GROUP: "uint64 (a household pseudonym)",
    RELATIONSHIP: "string (one of " + ", ".join(RELATIONSHIPS) + ")",
    CONSENT: "string (scope codes)",
}


def arrow_fields(present: tuple[str, ...]) -> list[pa.Field]:
    return [pa.field(c, _TYPES[c], nullable=c != CONSENT) for c in FACT_COLUMNS if c in present]


def _bad_consent(values: np.ndarray) -> np.ndarray:
    """Rows whose consent text is not distinct sorted scope codes joined by one space."""
    codes, uniques = _factorize(values)
    bad = np.array([not _consent_form(u) for u in uniques] + [True], dtype=bool)
    return np.flatnonzero(bad[codes])


def _consent_form(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    if text == "":
        return True
    parts = text.split(" ")
    return all(SCOPE_PATTERN.match(p) for p in parts) and parts == sorted(set(parts))


def _factorize(values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Codes per row (-1 for None) and the distinct values."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    return codes, list(uniques)


def fact_problems(
    n: int,
    groups: np.ndarray | None,
    relationships: np.ndarray | None,
    consent: np.ndarray | None,
    first_row: int = 1,
) -> list[str]:
    """What is wrong with the household arrays of ``n`` records (rows from ``first_row``)."""
    problems = []
    for name, values in ((GROUP, groups), (RELATIONSHIP, relationships), (CONSENT, consent)):
        if values is not None and (values.ndim != 1 or len(values) != n):
            problems.append(f"{name}: one value per record is needed ({n})")
    if problems:
        return problems
    if groups is not None and groups.dtype != np.uint64:
        problems.append(f"{GROUP}: the household pseudonyms must be uint64")
    if relationships is not None:
        if relationships.dtype != np.int8:
            problems.append(f"{RELATIONSHIP}: the relationship codes must be int8")
        else:
            bad = np.flatnonzero((relationships < -1) | (relationships >= len(RELATIONSHIPS)))
            if bad.size:
                problems.append(
                    f"{RELATIONSHIP}: not a relationship code (-1 to {len(RELATIONSHIPS) - 1}): "
                    + rows_text((bad + first_row).tolist())
                )
    if consent is not None:
        bad = _bad_consent(consent)
        if bad.size:
            problems.append(f"{CONSENT}: {_CONSENT_RULE}: {rows_text((bad + first_row).tolist())}")
    return problems


_CONSENT_RULE = "not scope codes, distinct and sorted, separated by one space"


def to_arrow(name: str, values: np.ndarray) -> pa.Array:
    """The file column of a household array (checked by :func:`fact_problems`)."""
    if name == GROUP:
        return pa.array(values, type=pa.uint64(), mask=values == 0)
    if name == RELATIONSHIP:
        names = pa.array(RELATIONSHIPS, pa.string())
        indices = pa.array(values, type=pa.int8(), mask=values < 0)
        return pa.DictionaryArray.from_arrays(indices, names).cast(pa.string())
    return pa.array(values, type=pa.string())


def from_arrow(name: str, column: pa.Array) -> tuple[np.ndarray | None, list[str]]:
    """The household array of a file column, or the problems of its type and values."""
    kind = column.type
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if not (kind == pa.uint64() if name == GROUP else text):
        return None, [f"column '{name}' has type {kind}; it must be {_WHAT[name]}"]
    if name == GROUP:
        values = pc.fill_null(column, 0).to_numpy(zero_copy_only=False).astype(np.uint64)
        zero = np.flatnonzero((values == 0) & column.is_valid().to_numpy(zero_copy_only=False))
        if zero.size:
            return None, [
                f"column '{GROUP}' holds 0, which is no household pseudonym (a record in no "
                f"group holds null): {rows_text((zero + 1).tolist())}"
            ]
        return values, []
    if name == RELATIONSHIP:
        index = pc.index_in(column, value_set=pa.array(RELATIONSHIPS, pa.string()))
        found = pc.fill_null(index, -1).to_numpy(zero_copy_only=False).astype(np.int8)
        bad = np.flatnonzero((found < 0) & column.is_valid().to_numpy(zero_copy_only=False))
        if bad.size:
            return None, [
                f"column '{RELATIONSHIP}' holds values that are none of "
                f"{', '.join(RELATIONSHIPS)}: {rows_text((bad + 1).tolist())}"
            ]
        return found, []
    values = column.to_numpy(zero_copy_only=False).astype(object)
    bad = _bad_consent(values)
    if bad.size:
        return None, [f"column '{CONSENT}' holds {_CONSENT_RULE}: {rows_text((bad + 1).tolist())}"]
    return values, []


@dataclass(frozen=True)
class HouseholdCounts:
    """What a batch's household columns hold, in counts (``None``: the batch has no such
    column). Nothing here names a group or a record."""

    records: int
    grouped: int | None = None  # records with a group
    groups: int | None = None  # distinct groups
    relationships: dict[str, int] | None = None  # records per relationship given
    relationship_not_given: int | None = None
    scopes: dict[str, int] | None = None  # records per consent scope
    no_scope: int | None = None  # records whose consent holds no scope

    @classmethod
    def of(
        cls,
        groups: np.ndarray | None,
        relationships: np.ndarray | None,
        consent: np.ndarray | None,
    ) -> HouseholdCounts | None:
        """The counts of a batch's arrays; None when it has none of the columns."""
        counter = HouseholdCounter()
        counter.add(groups, relationships, consent)
        return counter.counts()


class HouseholdCounter:
    """:class:`HouseholdCounts` gathered chunk by chunk."""

    def __init__(self) -> None:
        self.records = 0
        self._groups: list[np.ndarray] | None = None
        self._grouped = 0
        self._relationships: np.ndarray | None = None
        self._scopes: Counter[str] | None = None
        self._no_scope = 0

    def add(
        self,
        groups: np.ndarray | None,
        relationships: np.ndarray | None,
        consent: np.ndarray | None,
    ) -> None:
        present = [v for v in (groups, relationships, consent) if v is not None]
        if not present:
            return
        self.records += len(present[0])
        if groups is not None:
            self._groups = self._groups if self._groups is not None else []
            self._groups.append(np.unique(groups))
            self._grouped += int(np.count_nonzero(groups))
        if relationships is not None:
            codes = relationships.astype(np.int64) + 1  # 0: not given
            counts = np.bincount(codes, minlength=len(RELATIONSHIPS) + 1)
            before = self._relationships
            self._relationships = counts if before is None else before + counts
        if consent is not None:
            self._scopes = self._scopes if self._scopes is not None else Counter()
            codes, uniques = _factorize(consent)
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            for text, count in zip(uniques, counts.tolist(), strict=True):
                if text:
                    self._scopes.update(dict.fromkeys(str(text).split(" "), int(count)))
                else:
                    self._no_scope += int(count)

    def counts(self) -> HouseholdCounts | None:
        if self._groups is None and self._relationships is None and self._scopes is None:
            return None
        out: dict[str, Any] = {"records": self.records}
        if self._groups is not None:
            keys = np.unique(np.concatenate(self._groups))
            out["groups"] = int(np.count_nonzero(keys))
            out["grouped"] = self._grouped
        if self._relationships is not None:
            given = self._relationships[1:]
            out["relationships"] = {
                r: int(c) for r, c in zip(RELATIONSHIPS, given.tolist(), strict=True) if c
            }
            out["relationship_not_given"] = int(self._relationships[0])
        if self._scopes is not None:
            out["scopes"] = dict(sorted(self._scopes.items()))
            out["no_scope"] = self._no_scope
        return HouseholdCounts(**out)
