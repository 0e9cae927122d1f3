"""Encoding a register held in memory, and the report every encode keeps.

Both entry points (:func:`encode` here, :func:`bloom._csvencode.encode_csv` for a CSV file)
validate first and store nothing on failure: every problem across the whole input -- values,
refs, duplicate refs -- is collected and raised once as an EncodingError, rows listed by
number, values never shown. Both also read the register's household columns when it has them
(:mod:`bloom._household_input`): the batch then carries each record's household pseudonym,
relationship and consent scopes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bloom._batch import BatchMetadata, EncodedBatch, _ContentHasher, check_agency
from bloom._encoder import CODES, ChunkResult, Encoder
from bloom._household_batch import HouseholdCounts
from bloom._household_input import HouseholdReader, check_options, household_columns
from bloom._i18n import gettext, ngettext, pgettext
from bloom._keycheck import key_check_value
from bloom._problems import REF_CODES, Problem, Problems, field_problem, pairs_text, severity
from bloom._refkeys import RefKeys
from bloom._rules import ref_problems, rule_text, strip_spaces
from bloom._schema import Field, Schema
from bloom._secret import Secret
from caselink_errors import EncodingError

__all__ = ["DEFAULT_CHUNK_BYTES", "EncodeReport", "check_columns", "encode", "record_refs"]

DEFAULT_CHUNK_BYTES = 4 << 20  # about 40,000 rows of a typical register
Renumber = Callable[[np.ndarray], np.ndarray]  # rows as read -> true row numbers


@dataclass
class EncodeReport:
    """What an encode run did: counts and problems (rows, columns, codes), never values."""

    records: int = 0
    missing: dict[str, int] = field(default_factory=dict)  # per field: missing values
    invalid: dict[str, int] = field(default_factory=dict)  # per field: unreadable, as missing
    problems: list[Problem] = field(default_factory=list)  # errors refuse; warnings do not
    metadata: BatchMetadata | None = None
    refused: bool = False  # a problem so far refuses the register
    households: HouseholdCounts | None = None  # what the household columns hold, in counts
    not_carried: tuple[tuple[str, str], ...] = ()  # (fact, column) the schema declares, absent
    _flagged: dict[tuple[str, str], list[np.ndarray]] = field(default_factory=dict, repr=False)
    _bad_refs: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)
    _ref_keys: RefKeys = field(default_factory=RefKeys, repr=False)

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def add(self, chunk: ChunkResult, rows: int, schema: Schema) -> None:
        """Count a chunk of ``rows`` records in (its rows numbered as read)."""
        self.records += rows
        for k, v in chunk.missing.items():
            self.missing[k] = self.missing.get(k, 0) + v
        for (name, code), found in chunk.flagged.items():
            self._flagged.setdefault((name, code), []).append(found)
            self.refused |= severity(code, schema.field(name)) == "error"

    def add_refs(self, refs: pa.Array, first_row: int) -> None:
        """Check a chunk's refs against the ref rule; keep 128-bit keys for duplicates."""
        for rule, rows in ref_problems(refs).items():
            self._bad_refs.setdefault(rule, []).append(rows + first_row)
            self.refused = True
        self._ref_keys.add(refs, first_row)

    def collect(
        self, schema: Schema, id_column: str | None, found: Problems, renumber: Renumber
    ) -> None:
        """Add every value and ref problem to ``found``, rows renumbered to true rows. Fields
        that read one column and find the same problem are one problem naming them all."""
        groups: dict[tuple[str, str, str], list[Field]] = {}
        for f in schema.fields:
            for code in CODES:
                if (f.name, code) in self._flagged:
                    groups.setdefault((code, f.column, severity(code, f)), []).append(f)
        for (code, column, _), fields in groups.items():
            parts = [part for f in fields for part in self._flagged[(f.name, code)]]
            text, level = field_problem(code, column, fields)
            found.add(
                code, text, severity=level, column=column, rows=renumber(np.concatenate(parts))
            )
            if level == "warning" and code != "ambiguous_date":
                for f in fields:
                    count = sum(len(part) for part in self._flagged[(f.name, code)])
                    self.invalid[f.name] = self.invalid.get(f.name, 0) + count
        column = id_column or ""
        for rule, parts in self._bad_refs.items():
            what = gettext("record_ref (column '{column}') {rule}").format(
                column=column, rule=rule_text(rule)
            )
            found.add(REF_CODES[rule], what, column=column, rows=renumber(np.concatenate(parts)))
        pairs = self._duplicates(renumber)
        if len(pairs):
            what = gettext(
                "record_ref (column '{column}') is duplicated; each record needs its own ref"
            ).format(column=column)
            found.add(
                "duplicate_ref", what, column=column, rows=pairs.ravel(), listed=pairs_text(pairs)
            )
            self.refused = True

    def _duplicates(self, renumber: Renumber) -> np.ndarray:
        """(earlier, later) true rows of refs equal to one another, in row order: (k, 2)."""
        pairs = self._ref_keys.duplicates()
        pairs = renumber(pairs.ravel()).reshape(-1, 2)
        return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def check_columns(
    columns: list[str], schema: Schema, id_column: str | None
) -> list[tuple[str, str, str]]:
    """(code, column, sentence) for each column the schema (or ``--id-column``) needs that the
    input lacks, or that its header names twice."""
    have = set(columns)
    needed: dict[str, list[str]] = {}  # missing column -> the fields reading it
    for f in schema.fields:
        if f.column not in have:
            needed.setdefault(f.column, []).append(f"'{f.name}'")
    sep = pgettext("list separator", ", ")
    header = sep.join(columns) or gettext("(none)")
    problems = [
        (
            "missing_column",
            column,
            ngettext(
                "column '{column}' (field {names}) is not in the input; the columns are: {header}",
                "column '{column}' (fields {names}) is not in the input; the columns are: {header}",
                len(fields),
            ).format(column=column, names=sep.join(fields), header=header),
        )
        for column, fields in needed.items()
    ]
    if id_column is not None and id_column not in have:
        text = gettext("--id-column '{column}' is not in the input").format(column=id_column)
        problems.append(("missing_id_column", id_column, text))
    wanted = {*schema.columns, *([id_column] if id_column else [])}
    for column in sorted({c for c in columns if columns.count(c) > 1} & wanted):
        text = gettext(
            "the header names column '{column}' more than once: rename all but one"
        ).format(column=column)
        problems.append(("duplicate_column", column, text))
    return problems


def record_refs(column: Any, n: int, first_row: int, report: EncodeReport) -> pa.Array:
    """The record refs of a chunk (row numbers when there is no id column), checked."""
    if column is None:
        return pa.array(np.arange(first_row, first_row + n)).cast(pa.string())
    if not isinstance(column, pa.ChunkedArray | pa.Array):
        column = pa.array(column.reset_index(drop=True).map(str, na_action="ignore"), pa.string())
    refs = strip_spaces(pc.fill_null(column.cast(pa.string()), ""))
    refs = refs.combine_chunks() if isinstance(refs, pa.ChunkedArray) else refs
    report.add_refs(refs, first_row)
    return refs


def encode(
    data: pd.DataFrame,
    schema: Schema,
    secret: Secret,
    *,
    agency: str = "local",
    id_column: str | None = None,
    group_column: str | None = None,
    relationship_column: str | None = None,
    consent_column: str | None = None,
) -> EncodedBatch:
    """Encode a register held in memory. Rows are numbered from 1 in error messages.

    ``id_column`` names the column of opaque record refs; without it refs are row numbers.
    The household columns are the schema's (``household``, ``consent``) when the frame has
    them; ``group_column``, ``relationship_column`` and ``consent_column`` name others, which
    the frame must have. The batch's ``groups``, ``relationships`` and ``consent`` are None
    where no column was read.
    """
    check_agency(agency)
    if not isinstance(data, pd.DataFrame):
        raise EncodingError(["data must be a pandas DataFrame"])
    check_options(schema, consent_column)
    header = [str(c) for c in data.columns]
    missing = check_columns(header, schema, id_column)
    household, wrong = household_columns(
        header, schema, group_column, relationship_column, consent_column
    )
    if missing or wrong:
        raise EncodingError([f"{code}: {text}" for code, _, text in [*missing, *wrong]])
    if len(data) == 0:
        raise EncodingError([gettext("the input has no records")])
    report = EncodeReport()
    ref_arr = record_refs(data[id_column] if id_column else None, len(data), 1, report)
    columns = {c: data[c].reset_index(drop=True) for c in schema.columns}
    chunk = Encoder(schema, secret).encode_chunk(columns, len(data), 1)
    report.add(chunk, len(data), schema)
    reader = HouseholdReader(schema, secret, agency, household)
    facts = reader.read({c: data[c].reset_index(drop=True) for c in household.columns}, 1)
    found = Problems()
    report.collect(schema, id_column, found, lambda rows: rows)
    reader.collect(found, lambda rows: rows)
    if found.errors:  # the warnings of an in-memory frame are not reported
        raise EncodingError([p.sentence() for p in found.errors])
    hasher = _ContentHasher()
    hasher.update(
        ref_arr,
        chunk.filters,
        groups=facts.groups,
        relationships=facts.relationships,
        consent=facts.consent,
    )
    meta = BatchMetadata.written_now(
        schema_fingerprint=schema.fingerprint,
        agency=agency,
        record_count=len(ref_arr),
        filter_bits=schema.filter_bits,
        segments=schema.layout,
        content_hash=hasher.hexdigest(),
        key_check=key_check_value(secret),
    )
    refs = ref_arr.to_numpy(zero_copy_only=False).astype(object)
    return EncodedBatch(
        record_refs=refs,
        filters=chunk.filters,
        metadata=meta,
        groups=facts.groups,
        relationships=facts.relationships,
        consent=facts.consent,
    )
