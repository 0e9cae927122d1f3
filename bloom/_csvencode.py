"""``encode_csv``: a CSV register streamed into a batch file in bounded memory, all or nothing.

One pass over the input finds every problem it has: Arrow reads the values in blocks while
:class:`~bloom._csvinput.RegisterStream` scans the same bytes for the rows Arrow skips or
cannot read, so every problem is named by its true row (records after the header, from 1;
``--problems-out`` adds the line). Values are encoded block by block -- in worker processes
with ``jobs > 1`` -- and written to a temporary batch file that appears only when the whole
register was good. Every problem is collected, then raised once (:class:`EncodingError`),
and optionally written to a problems file: rows, columns and codes, never a value.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bloom._batch import BatchWriter, check_agency
from bloom._blocks import encoded
from bloom._csvinput import (
    RegisterStream,
    check_encoding,
    delimiter_hint,
    delimiter_name,
    parse_delimiter,
)
from bloom._csvscan import CsvShape
from bloom._encode import DEFAULT_CHUNK_BYTES, EncodeReport, check_columns, record_refs
from bloom._household_input import (
    HouseholdColumns,
    HouseholdReader,
    check_options,
    household_columns,
)
from bloom._i18n import gettext, ngettext, pgettext
from bloom._keycheck import key_check_value
from bloom._problems import Problems
from bloom._schema import Schema
from bloom._secret import Secret
from caselink_errors import EncodingError

__all__ = ["encode_csv"]

Source = str | os.PathLike[str] | BinaryIO


class _StopError(Exception):
    """The register cannot be read further; what is wrong is in the problems found."""


def encode_csv(
    source: Source,
    schema: Schema,
    secret: Secret,
    *,
    agency: str,
    out: str | os.PathLike[str],
    id_column: str | None = None,
    jobs: int = 1,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    input_encoding: str | None = None,
    delimiter: str = ",",
    problems_out: str | os.PathLike[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    group_column: str | None = None,
    relationship_column: str | None = None,
    consent_column: str | None = None,
) -> EncodeReport:
    """Stream a CSV register into a batch file in bounded memory; all-or-nothing.

    ``source`` is a path or a binary stream (standard input). Text is UTF-8 unless
    ``input_encoding`` says otherwise; a byte-order mark decides where there is one. The
    file is read in blocks of ``chunk_bytes``; ``on_progress(bytes_read, total_bytes)`` is
    called after each (total 0 for a stream). Every problem of the whole file is collected
    before failing; ``problems_out`` lists each problem's rows (errors and warnings).

    The household columns are read as :func:`bloom.encode` reads them (the schema's, or
    ``group_column``, ``relationship_column`` and ``consent_column``); the report's
    ``households`` counts what they hold and ``not_carried`` names the schema's columns the
    file lacks.
    """
    check_agency(agency)
    if jobs < 1:
        raise EncodingError([gettext("--jobs must be at least 1")])
    check_options(schema, consent_column)
    _check_outputs(source, out, problems_out)
    overrides = (group_column, relationship_column, consent_column)
    run = _Run(schema, secret, id_column, jobs, chunk_bytes, overrides)
    try:
        with _opened(source, run.found) as (raw, name, total):
            run.read(raw, name, total, input_encoding, delimiter, agency, out, on_progress)
    except _StopError:
        pass
    finally:
        if problems_out is not None:
            run.found.write_csv(problems_out, run.line_of)
    if run.found.errors:
        error = EncodingError(run.found.sentences())
        error.lists_rows = any(p.about_rows for p in run.found)
        raise error
    run.report.problems = list(run.found)
    return run.report


def _check_outputs(
    source: Source, out: str | os.PathLike[str], problems_out: str | os.PathLike[str] | None
) -> None:
    """Neither output may replace the register, and each goes to a folder that exists."""
    problems = []
    for option, path in (("--out", out), ("--problems-out", problems_out)):
        if path is None:
            continue
        target = Path(path)
        if isinstance(source, str | os.PathLike) and target.resolve() == Path(source).resolve():
            text = gettext("{option} {path} is the register itself: write it elsewhere")
            problems.append(text.format(option=option, path=target))
        elif not target.resolve().parent.is_dir():
            text = gettext("{option} {path}: the folder {folder} does not exist")
            problems.append(text.format(option=option, path=target, folder=target.parent))
    if problems:
        raise EncodingError(problems)


@contextlib.contextmanager
def _opened(source: Source, found: Problems) -> Iterator[tuple[BinaryIO, str, int]]:
    """(binary stream, name for messages, size in bytes or 0) of a path or a stream."""
    if not isinstance(source, str | os.PathLike):
        yield source, str(getattr(source, "name", gettext("the input"))), 0
        return
    path = Path(source)
    if not path.is_file():
        text = gettext("{path} does not exist or is not a file").format(path=path)
        found.add("no_such_file", text)
        raise _StopError
    with open(path, "rb") as fh:
        yield fh, str(path), path.stat().st_size


class _Run:
    """One encode: the reading, the report and the problems found."""

    def __init__(
        self,
        schema: Schema,
        secret: Secret,
        id_column: str | None,
        jobs: int,
        chunk_bytes: int,
        overrides: tuple[str | None, str | None, str | None] = (None, None, None),
    ) -> None:
        self.schema, self.secret, self.id_column = schema, secret, id_column
        self.jobs, self.chunk_bytes = jobs, chunk_bytes
        self.overrides = overrides  # --group-column, --relationship-column, --consent-column
        self.household = HouseholdColumns()
        self.found, self.report = Problems(), EncodeReport()
        self.shape: CsvShape | None = None
        self.header: list[str] = []
        self.read_rows = 0  # records Arrow read before it stopped (when it did)
        self.stopped = False  # Arrow stopped before the end of the input

    def line_of(self, rows: np.ndarray) -> np.ndarray:
        return self.shape.line_of(rows) if self.shape is not None else rows + 1

    def read(
        self,
        raw: BinaryIO,
        name: str,
        total: int,
        encoding: str | None,
        delimiter: str,
        agency: str,
        out: str | os.PathLike[str],
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        stream = self._open(raw, name, encoding, delimiter)
        wanted = self._columns(stream)
        bad = _BadRows()
        try:
            reader = _open_csv(stream, wanted, self.chunk_bytes, chr(stream.scan.delimiter), bad)
        except pa.ArrowInvalid:
            self._stop_reading(stream, wanted)
            return
        check = key_check_value(self.secret)
        household = HouseholdReader(self.schema, self.secret, agency, self.household)
        with BatchWriter.for_schema(out, self.schema, agency, check) as writer:
            try:
                for first, batch, result in encoded(reader, self.schema, self.secret, self.jobs):
                    ids = batch.column(self.id_column) if self.id_column else None
                    refs = record_refs(ids, batch.num_rows, first, self.report)
                    self.report.add(result, batch.num_rows, self.schema)
                    facts = household.read(
                        {c: batch.column(c) for c in self.household.columns}, first
                    )
                    self.report.refused |= household.refuses(facts)
                    if not (self.report.refused or bad.count):
                        writer.write(
                            refs,
                            result.filters,
                            groups=facts.groups,
                            relationships=facts.relationships,
                            consent=facts.consent,
                        )
                    if on_progress is not None:
                        on_progress(stream.consumed, total)
            except pa.ArrowInvalid:
                self.stopped = True
                stream.drain()
            if stream.undecodable is not None:  # the input ended where decoding failed
                self.stopped = True
            self.read_rows = self.report.records
            self.shape = stream.finish()
            self._problems(stream, wanted, bad)
            household.collect(self.found, self.shape.true_rows)
            if self.found.errors:
                raise _StopError  # the writer leaves nothing behind
            self.report.metadata = writer.close()
            self.report.households = household.counts()
            self.report.not_carried = self.household.not_carried

    def _open(
        self, raw: BinaryIO, name: str, encoding: str | None, delimiter: str
    ) -> RegisterStream:
        code = "bad_option"
        try:
            codec, delim = check_encoding(encoding), parse_delimiter(delimiter)
            code = "utf16_without_bom"  # the one thing the stream refuses on opening
            return RegisterStream(raw, name=name, encoding=codec, delimiter=delim)
        except EncodingError as e:
            for text in e.problems:
                self.found.add(code, text)
            raise _StopError from None

    def _columns(self, stream: RegisterStream) -> list[str]:
        """The columns to read; stops (scanning the rest) when the header lacks some."""
        header = stream.header()
        if stream.scan.header_fields < 0:
            text = gettext("{name} is empty: it needs a header row and records")
            self.found.add("empty_file", text.format(name=stream.name))
            raise _StopError
        missing = check_columns(header, self.schema, self.id_column)
        self.household, wrong = household_columns(header, self.schema, *self.overrides)
        missing += wrong
        hint = delimiter_hint(header, chr(stream.scan.delimiter))
        if missing and hint is not None:
            times = header[0].count(hint)
            text = ngettext(
                "the header is one column holding {delimiter} {count} time, so the file is "
                "probably separated by {delimiter}: pass --delimiter {delimiter}",
                "the header is one column holding {delimiter} {count} times, so the file is "
                "probably separated by {delimiter}: pass --delimiter {delimiter}",
                times,
            )
            self.found.add(
                "wrong_delimiter", text.format(delimiter=delimiter_name(hint), count=times)
            )
        elif missing:
            for code, column, text in missing:
                self.found.add(code, text, column=column)
        wanted = [*self.schema.columns, *([self.id_column] if self.id_column else [])]
        wanted = list(dict.fromkeys([*wanted, *self.household.columns]))
        if missing:
            self.shape = stream.drain()
            self._structure(stream, header, wanted, arrow_failed=False)
            raise _StopError
        self.header = header
        return wanted

    def _stop_reading(self, stream: RegisterStream, wanted: list[str]) -> None:
        self.stopped = True
        self.shape = stream.drain()
        self._structure(stream, self.header, wanted, arrow_failed=True)
        raise _StopError

    def _problems(self, stream: RegisterStream, wanted: list[str], bad: _BadRows) -> None:
        assert self.shape is not None
        self._structure(stream, self.header, wanted, arrow_failed=self.stopped)
        if not self.stopped and bad.count != len(self.shape.wrong_fields):
            text = gettext(
                "the reader skipped {skipped} rows where {wrong} have the wrong number of "
                "fields: row numbers after the first of them may be off"
            )
            self.found.add(
                "row_numbers_uncertain",
                text.format(skipped=bad.count, wrong=len(self.shape.wrong_fields)),
            )
        self.report.collect(self.schema, self.id_column, self.found, self.shape.true_rows)
        if self.report.records == 0 and not self.found.errors:
            self.found.add("no_records", gettext("the input has no records, only a header"))

    def _structure(
        self, stream: RegisterStream, header: list[str], wanted: list[str], arrow_failed: bool
    ) -> None:
        """Problems with the rows themselves: fields, quotes, text encoding."""
        shape = self.shape
        assert shape is not None
        _field_counts(self.found, shape)
        if shape.unclosed_quote is not None:
            row, line = shape.unclosed_quote
            text = gettext(
                "a quote opens a value in this row (line {line}) and is never closed, so the "
                "rest of the file reads as part of that value: close the quote, or remove it"
            )
            self.found.add("unclosed_quote", text.format(line=line), rows=[row])
        _bad_text(self.found, shape, stream, header, wanted)
        if arrow_failed and not self.found.errors:
            text = gettext(
                "the file cannot be read as CSV past row {row}: check its quoting and its "
                "separator ({delimiter}); a quoted value longer than a block needs a larger "
                "--chunk-mb"
            )
            delimiter = delimiter_name(chr(stream.scan.delimiter))
            self.found.add("unreadable", text.format(row=self.read_rows, delimiter=delimiter))
        if self.stopped:
            last = int(shape.true_rows(np.array([self.read_rows]))[0]) if self.read_rows else 0
            if last:
                text = gettext(
                    "the values of the rows after row {row} were not checked, as the file "
                    "cannot be read past the problems above: fix them and run encode again"
                ).format(row=last)
            else:
                text = gettext(
                    "the values of the rows were not checked, as the file cannot be read past "
                    "the problems above: fix them and run encode again"
                )
            self.found.add("not_checked", text, severity="warning")


def _field_counts(found: Problems, shape: CsvShape) -> None:
    rows, counts = shape.wrong_fields[:, 0], shape.wrong_fields[:, 1]
    for code, mask, text in (
        (
            "too_many_fields",
            counts > shape.header_fields,
            gettext(
                "rows with more fields than the header's {fields} (a value that holds the "
                "separator or a line break must be in quotes)"
            ),
        ),
        (
            "too_few_fields",
            counts < shape.header_fields,
            gettext(
                "rows with fewer fields than the header's {fields} (a value that holds the "
                "separator or a line break must be in quotes)"
            ),
        ),
    ):
        if mask.any():
            found.add(code, text.format(fields=shape.header_fields), rows=rows[mask])


def _bad_text(
    found: Problems, shape: CsvShape, stream: RegisterStream, header: list[str], wanted: list[str]
) -> None:
    """Rows that are not UTF-8 in the columns read, or where the encoding given failed."""
    if stream.undecodable is not None:
        row, line = stream.undecodable
        text = gettext(
            "the file is not {encoding} text from this row on (line {line}): pass its real "
            "encoding with --input-encoding"
        )
        found.add("not_in_encoding", text.format(encoding=stream.encoding, line=line), rows=[row])
    read = [i for i, name in enumerate(header) if name in wanted]
    bad = shape.bad_utf8[np.isin(shape.bad_utf8[:, 1], read)]
    if len(bad):
        sep = pgettext("list separator", ", ")
        columns = sep.join(f"'{header[i]}'" for i in sorted(set(bad[:, 1].tolist())))
        text = gettext(
            "rows holding bytes that are not UTF-8 text (in {columns}): the file is in another "
            "encoding; pass it with --input-encoding (cp1252 is what Excel on Windows saves, "
            "latin-1 what many older systems do)"
        )
        found.add("invalid_utf8", text.format(columns=columns), rows=bad[:, 0])


class _BadRows:
    """Counts the rows Arrow skips for their number of fields (the scan says which)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, row: Any) -> str:
        self.count += 1
        return "skip"


def _open_csv(
    stream: RegisterStream, columns: list[str], chunk_bytes: int, delimiter: str, bad: _BadRows
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=chunk_bytes),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=bad
        ),
        convert_options=pacsv.ConvertOptions(
            include_columns=columns,
            column_types={c: pa.string() for c in columns},
            null_values=[""],  # "NA", "Null" and "None" can be real names
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
