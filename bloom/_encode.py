"""Public encoding entry points: a DataFrame in memory, or a CSV streamed in blocks.

Both validate first and store nothing on failure: problems across the whole input are
collected (rows listed by number, values never shown) and raised once as an EncodingError.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bloom._batch import (
    BatchMetadata,
    BatchWriter,
    EncodedBatch,
    _ContentHasher,
    check_agency,
)
from bloom._csvrows import renumber, uneven_rows
from bloom._encoder import ChunkResult, Encoder
from bloom._keycheck import key_check_value
from bloom._rules import (
    duplicate_pairs,
    duplicate_problem,
    ref_problems,
    rows_text,
    strip_spaces,
)
from bloom._schema import Schema
from bloom._secret import Secret
from caselink_errors import EncodingError

__all__ = ["DEFAULT_CHUNK_BYTES", "EncodeReport", "encode", "encode_csv"]

DEFAULT_CHUNK_BYTES = 4 << 20  # about 40,000 rows of a typical register


@dataclass
class EncodeReport:
    """What an encode run did: counts only, never values."""

    records: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    rejected: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    ref_problems: dict[str, list[int]] = field(default_factory=dict)
    metadata: BatchMetadata | None = None

    def add(self, chunk: ChunkResult, rows: int) -> None:
        self.records += rows
        for k, v in chunk.missing.items():
            self.missing[k] = self.missing.get(k, 0) + v
        for k, v in chunk.invalid.items():
            self.invalid[k] = self.invalid.get(k, 0) + v
        for key, rows_ in chunk.rejected.items():
            self.rejected.setdefault(key, []).extend(rows_)

    def problems(self, schema: Schema) -> list[str]:
        out = []
        for (fname, rule), rows in sorted(self.rejected.items()):
            col = schema.field(fname).column
            what = (
                "is empty and the schema rejects missing values"
                if rule == "missing"
                else "cannot be parsed (the schema rejects invalid values; fix the rows or set "
                "date.on_invalid to 'missing')"
            )
            out.append(f"column '{col}' (field '{fname}') {what}: {rows_text(rows)}")
        for rule, rows in sorted(self.ref_problems.items()):
            out.append(f"record_ref {rule}: {rows_text(rows)}")
        return out


def _check_columns(columns: list[str], schema: Schema, id_column: str | None) -> None:
    have = set(columns)
    needed: dict[str, list[str]] = {}  # missing column -> the fields reading it
    for f in schema.fields:
        if f.column not in have:
            needed.setdefault(f.column, []).append(f"'{f.name}'")
    problems = [
        f"column '{column}' (field{'s' if len(fields) > 1 else ''} {', '.join(fields)}) is not "
        f"in the input; the columns are: {', '.join(columns) or '(none)'}"
        for column, fields in needed.items()
    ]
    if id_column is not None and id_column not in have:
        problems.append(f"--id-column '{id_column}' is not in the input")
    if problems:
        raise EncodingError(problems)


def _refs(column: Any, n: int, first_row: int, report: EncodeReport) -> pa.Array:
    """The record refs of a chunk (row numbers when there is no id column), checked."""
    if column is None:
        return pa.array(np.arange(first_row, first_row + n)).cast(pa.string())
    if not isinstance(column, pa.ChunkedArray | pa.Array):
        column = pa.array(column.reset_index(drop=True).map(str, na_action="ignore"), pa.string())
    refs = strip_spaces(pc.fill_null(column.cast(pa.string()), ""))
    for rule, rows in ref_problems(refs).items():
        report.ref_problems.setdefault(rule, []).extend((rows + first_row).tolist())
    return refs.combine_chunks() if isinstance(refs, pa.ChunkedArray) else refs


def encode(
    data: pd.DataFrame,
    schema: Schema,
    secret: Secret,
    *,
    agency: str = "local",
    id_column: str | None = None,
) -> EncodedBatch:
    """Encode a register held in memory. Rows are numbered from 1 in error messages.

    ``id_column`` names the column of opaque record refs; without it refs are row numbers.
    """
    check_agency(agency)
    if not isinstance(data, pd.DataFrame):
        raise EncodingError(["data must be a pandas DataFrame"])
    _check_columns([str(c) for c in data.columns], schema, id_column)
    if len(data) == 0:
        raise EncodingError(["the input has no records"])
    report = EncodeReport()
    ref_arr = _refs(data[id_column] if id_column else None, len(data), 1, report)
    refs = ref_arr.to_numpy(zero_copy_only=False).astype(object)
    columns = {c: data[c].reset_index(drop=True) for c in schema.columns}
    chunk = Encoder(schema, secret).encode_chunk(columns, len(data), 1)
    report.add(chunk, len(data))
    problems = report.problems(schema)
    if problems:
        raise EncodingError(problems)
    dups = duplicate_pairs(refs)
    if dups:
        raise EncodingError([duplicate_problem(dups)])
    hasher = _ContentHasher()
    hasher.update(ref_arr, chunk.filters)
    meta = BatchMetadata.written_now(
        schema_fingerprint=schema.fingerprint,
        agency=agency,
        record_count=len(refs),
        filter_bits=schema.filter_bits,
        segments=schema.layout,
        content_hash=hasher.hexdigest(),
        key_check=key_check_value(secret),
    )
    return EncodedBatch(record_refs=refs, filters=chunk.filters, metadata=meta)


# -- streaming CSV -----------------------------------------------------------------------

_worker_encoder: Encoder | None = None


def _init_worker(document: dict[str, Any], secret: Secret) -> None:
    global _worker_encoder
    _worker_encoder = Encoder(Schema.from_dict(document), secret)


def _encode_in_worker(batch: pa.RecordBatch, first_row: int) -> ChunkResult:
    assert _worker_encoder is not None
    return _worker_encoder.encode_chunk(_columns(batch), batch.num_rows, first_row)


def _columns(batch: pa.RecordBatch) -> dict[str, pa.Array]:
    return {name: batch.column(i) for i, name in enumerate(batch.schema.names)}


class _BadRows:
    """Counts the rows whose column count differs from the header's; the reader skips them.

    Their numbers are not known while streaming (see :mod:`bloom._csvrows`)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, row: Any) -> str:
        self.count += 1
        return "skip"


def _open_csv(
    fh: BinaryIO, columns: list[str], chunk_bytes: int, encoding: str, bad: _BadRows
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        fh,
        read_options=pacsv.ReadOptions(block_size=chunk_bytes, encoding=encoding),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=bad),
        convert_options=pacsv.ConvertOptions(
            include_columns=columns,
            column_types={c: pa.string() for c in columns},
            null_values=[""],  # "NA", "Null" and "None" can be real names
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


def _header(src: Path, encoding: str) -> list[str]:
    try:
        options = pacsv.ReadOptions(block_size=1 << 16, encoding=encoding)
        with pacsv.open_csv(src, read_options=options) as reader:
            return list(reader.schema.names)
    except pa.ArrowInvalid as e:
        if "Empty CSV file" in str(e):
            raise EncodingError([f"{src} is empty: it needs a header row and records"]) from None
        raise EncodingError([_csv_message(src, encoding, e)]) from None


def _csv_message(src: Path, encoding: str, e: Exception) -> str:
    text = str(e)
    if "UTF8" in text or "UTF-8" in text or "decode" in text.lower():
        return (
            f"{src} is not valid {encoding} text (a bad byte sequence in the file); "
            "save it as UTF-8, or pass --input-encoding with the file's real encoding"
        )
    # Arrow's messages may quote the offending line: never pass them on
    return f"{src} is not a readable CSV file; check the quoting and the separator (,)"


def encode_csv(
    source: str | os.PathLike[str],
    schema: Schema,
    secret: Secret,
    *,
    agency: str,
    out: str | os.PathLike[str],
    id_column: str | None = None,
    jobs: int = 1,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    input_encoding: str = "utf-8",
    on_progress: Callable[[int, int], None] | None = None,
) -> EncodeReport:
    """Stream a CSV register into a batch file in bounded memory; all-or-nothing.

    The file is read in blocks of ``chunk_bytes``; ``on_progress(bytes_read, total_bytes)`` is
    called after each. Every problem in the whole file is collected before failing.
    """
    check_agency(agency)
    if jobs < 1:
        raise EncodingError(["--jobs must be at least 1"])
    src = Path(source)
    if not src.is_file():
        raise EncodingError([f"{src} does not exist or is not a file"])
    total = src.stat().st_size
    wanted = list(dict.fromkeys([*schema.columns, *([id_column] if id_column else [])]))
    report, bad = EncodeReport(), _BadRows()
    with open(src, "rb") as fh:
        reader = _reader(fh, src, wanted, schema, id_column, chunk_bytes, input_encoding, bad)
        with BatchWriter.for_schema(out, schema, agency, key_check_value(secret)) as writer:
            try:
                for first, batch, result in _encoded(reader, schema, secret, jobs):
                    ids = batch.column(id_column) if id_column else None
                    refs = _refs(ids, batch.num_rows, first, report)
                    report.add(result, batch.num_rows)
                    if not (report.rejected or report.ref_problems or bad.count):
                        writer.write(refs, result.filters)
                    if on_progress is not None:
                        on_progress(min(fh.tell(), total), total)
            except pa.ArrowInvalid as e:
                raise EncodingError([_csv_message(src, input_encoding, e)]) from None
            problems = _problems(report, schema, bad, src, input_encoding)
            if problems:
                raise EncodingError(problems)
            report.metadata = writer.close()
    return report


def _problems(
    report: EncodeReport, schema: Schema, bad: _BadRows, src: Path, encoding: str
) -> list[str]:
    """Every problem, rows numbered among all rows (skipped ones too: see _csvrows)."""
    if not bad.count:
        return report.problems(schema)
    skipped = uneven_rows(src, encoding)
    for key, rows in report.rejected.items():
        report.rejected[key] = renumber(rows, skipped)
    for rule, rows in report.ref_problems.items():
        report.ref_problems[rule] = renumber(rows, skipped)
    what = rows_text(skipped) if skipped else f"{bad.count} rows"
    return [
        *report.problems(schema),
        f"rows with more or fewer columns than the header: {what}",
    ]


def _reader(
    fh: BinaryIO,
    src: Path,
    wanted: list[str],
    schema: Schema,
    id_column: str | None,
    chunk_bytes: int,
    encoding: str,
    bad: _BadRows,
) -> pacsv.CSVStreamingReader:
    """The streaming reader of the wanted columns; when it cannot open, say why, by column."""
    try:
        return _open_csv(fh, wanted, chunk_bytes, encoding, bad)
    except (pa.ArrowInvalid, pa.ArrowKeyError) as e:
        _check_columns(_header(src, encoding), schema, id_column)  # raises for what is wrong
        raise EncodingError([_csv_message(src, encoding, e)]) from None


def _encoded(
    reader: pacsv.CSVStreamingReader, schema: Schema, secret: Secret, jobs: int
) -> Iterator[tuple[int, pa.RecordBatch, ChunkResult]]:
    """(first row number, batch, result) per block, in input order.

    With ``jobs > 1`` the second block is read before the first is encoded: an input of one
    block is encoded in this process, as worker processes would only add their start-up.
    """
    batches: Iterator[pa.RecordBatch] = iter(reader)
    head = list(islice(batches, 2)) if jobs > 1 else []
    if jobs == 1 or len(head) < 2:
        encoder, first = Encoder(schema, secret), 1
        for batch in chain(head, batches):
            yield first, batch, encoder.encode_chunk(_columns(batch), batch.num_rows, first)
            first += batch.num_rows
        return
    yield from _encoded_in_pool(chain(head, batches), schema, secret, jobs)


def _encoded_in_pool(
    batches: Iterator[pa.RecordBatch], schema: Schema, secret: Secret, jobs: int
) -> Iterator[tuple[int, pa.RecordBatch, ChunkResult]]:
    first = 1
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_init_worker, initargs=(schema.document, secret)
    ) as pool:
        pending: deque[tuple[int, pa.RecordBatch, Future[ChunkResult]]] = deque()
        for batch in batches:
            pending.append((first, batch, pool.submit(_encode_in_worker, batch, first)))
            first += batch.num_rows
            while len(pending) > 2 * jobs:
                f0, b0, fut = pending.popleft()
                yield f0, b0, fut.result()
        while pending:
            f0, b0, fut = pending.popleft()
            yield f0, b0, fut.result()
