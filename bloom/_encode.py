"""Public encoding entry points: a DataFrame in memory, or a CSV streamed in chunks.

Both validate first and store nothing on failure: problems across the whole input are
collected (rows listed by number, values never shown) and raised once as an EncodingError.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from bloom._batch import MAX_REF_LENGTH, BatchMetadata, BatchWriter, EncodedBatch, check_agency
from bloom._encoder import MAX_ROWS_LISTED, ChunkResult, Encoder
from bloom._errors import EncodingError
from bloom._schema import Schema
from bloom._secret import Secret

__all__ = ["EncodeReport", "encode", "encode_csv"]

DEFAULT_CHUNK_ROWS = 50_000


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
        for k, rows_ in chunk.rejected.items():
            self.rejected.setdefault(k, []).extend(rows_)

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
            out.append(f"column '{col}' (field '{fname}') {what}: {_rows(rows)}")
        for rule, rows in sorted(self.ref_problems.items()):
            out.append(f"record_ref {rule}: {_rows(rows)}")
        return out


def _rows(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    more = f" and {len(rows) - MAX_ROWS_LISTED} more" if len(rows) > MAX_ROWS_LISTED else ""
    return f"{len(rows)} row{'s' if len(rows) != 1 else ''} ({shown}{more})"


def _check_columns(columns: list[str], schema: Schema, id_column: str | None) -> None:
    have = set(columns)
    problems = [
        f"column '{f.column}' (field '{f.name}') is not in the input; the columns are: "
        f"{', '.join(columns) or '(none)'}"
        for f in schema.fields
        if f.column not in have
    ]
    if id_column is not None and id_column not in have:
        problems.append(f"--id-column '{id_column}' is not in the input")
    if problems:
        raise EncodingError(problems)


def _refs(
    df: pd.DataFrame, id_column: str | None, first_row: int, report: EncodeReport
) -> np.ndarray:
    if id_column is None:
        return np.array([str(first_row + i) for i in range(len(df))], dtype=object)
    refs = df[id_column].fillna("").astype(str).str.strip()
    empty = np.flatnonzero((refs == "").to_numpy())
    if empty.size:
        report.ref_problems.setdefault("is empty", []).extend((empty + first_row).tolist())
    long = np.flatnonzero((refs.str.len() > MAX_REF_LENGTH).to_numpy())
    if long.size:
        report.ref_problems.setdefault(f"is longer than {MAX_REF_LENGTH} characters", []).extend(
            (long + first_row).tolist()
        )
    return refs.to_numpy(dtype=object)


def _as_text_frame(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    out = pd.DataFrame(index=range(len(df)))
    for c in columns:
        col = df[c].reset_index(drop=True)
        out[c] = col.where(col.isna(), col.astype(str)) if col.dtype != object else col
    return out


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
    refs = _refs(data, id_column, 1, report)
    chunk = Encoder(schema, secret).encode_chunk(_as_text_frame(data, schema.columns), 1)
    report.add(chunk, len(data))
    problems = report.problems(schema)
    if problems:
        raise EncodingError(problems)
    dup = pd.Series(refs).duplicated(keep=False).to_numpy()
    if dup.any():
        raise EncodingError(
            [f"record_ref is duplicated: {_rows((np.flatnonzero(dup) + 1).tolist())}"]
        )
    segs = tuple((s.name, s.out_bits) for s in schema.segments)
    meta = _in_memory_metadata(schema, agency, refs, chunk.filters, segs)
    return EncodedBatch(record_refs=refs, filters=chunk.filters, metadata=meta)


def _in_memory_metadata(schema, agency, refs, filters, segs) -> BatchMetadata:
    from datetime import UTC, datetime

    from bloom._batch import _ContentHasher, caselink_version

    h = _ContentHasher()
    h.update(list(refs), filters)
    return BatchMetadata(
        schema_fingerprint=schema.fingerprint,
        agency=agency,
        record_count=len(refs),
        filter_bits=schema.filter_bits,
        segments=segs,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        caselink_version=caselink_version(),
        content_hash=h.hexdigest(),
    )


# -- streaming CSV -----------------------------------------------------------------------

_worker_encoder: Encoder | None = None


def _init_worker(document: dict[str, Any], secret: Secret) -> None:
    global _worker_encoder
    _worker_encoder = Encoder(Schema.from_dict(document), secret)


def _encode_in_worker(df: pd.DataFrame, first_row: int) -> ChunkResult:
    assert _worker_encoder is not None
    return _worker_encoder.encode_chunk(df, first_row)


def _read_chunks(
    fh: BinaryIO, columns: list[str], chunk_rows: int, encoding: str
) -> Iterator[pd.DataFrame]:
    reader = pd.read_csv(
        fh,
        dtype=str,
        usecols=columns,
        keep_default_na=False,  # "NA", "Null" and "None" can be real names
        na_values=[""],
        chunksize=chunk_rows,
        encoding=encoding,
        encoding_errors="strict",
    )
    with reader:
        yield from reader


def _header(fh: BinaryIO, encoding: str, where: str) -> list[str]:
    try:
        cols = pd.read_csv(fh, nrows=0, dtype=str, encoding=encoding).columns
    except pd.errors.EmptyDataError:
        raise EncodingError([f"{where} is empty: it needs a header row and records"]) from None
    except UnicodeDecodeError as e:
        raise EncodingError([_decode_message(where, encoding, e)]) from None
    except pd.errors.ParserError as e:
        raise EncodingError([f"{where} is not a readable CSV file ({e})"]) from None
    finally:
        fh.seek(0)
    return [str(c) for c in cols]


def _decode_message(where: str, encoding: str, e: UnicodeDecodeError) -> str:
    return (
        f"{where} is not valid {encoding} text (a bad byte sequence in the file); "
        "save it as UTF-8, or pass --input-encoding with the file's real encoding"
    )


def encode_csv(
    source: str | os.PathLike[str],
    schema: Schema,
    secret: Secret,
    *,
    agency: str,
    out: str | os.PathLike[str],
    id_column: str | None = None,
    jobs: int = 1,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    input_encoding: str = "utf-8",
    on_progress: Callable[[int, int], None] | None = None,
) -> EncodeReport:
    """Stream a CSV register into a batch file in bounded memory; all-or-nothing.

    ``on_progress(bytes_read, total_bytes)`` is called after each chunk.
    """
    check_agency(agency)
    if jobs < 1:
        raise EncodingError(["--jobs must be at least 1"])
    src = Path(source)
    if not src.is_file():
        raise EncodingError([f"{src} does not exist or is not a file"])
    total = src.stat().st_size
    report = EncodeReport()
    with open(src, "rb") as fh:
        columns = _header(fh, input_encoding, str(src))
        _check_columns(columns, schema, id_column)
        wanted = list(dict.fromkeys([*schema.columns, *([id_column] if id_column else [])]))
        with BatchWriter.for_schema(out, schema, agency) as writer:
            chunks = _read_chunks(fh, wanted, chunk_rows, input_encoding)
            try:
                for first_row, frame, result in _encoded(chunks, schema, secret, jobs):
                    refs = _refs(frame, id_column, first_row, report)
                    report.add(result, len(frame))
                    if not report.rejected and not report.ref_problems:
                        writer.write(refs, result.filters)
                    if on_progress is not None:
                        on_progress(min(fh.tell(), total), total)
            except UnicodeDecodeError as e:
                raise EncodingError([_decode_message(str(src), input_encoding, e)]) from None
            except pd.errors.ParserError as e:
                raise EncodingError([f"{src}: the CSV is malformed ({e})"]) from None
            problems = report.problems(schema)
            if problems:
                raise EncodingError(problems)
            report.metadata = writer.close()
    return report


def _encoded(
    chunks: Iterator[pd.DataFrame], schema: Schema, secret: Secret, jobs: int
) -> Iterator[tuple[int, pd.DataFrame, ChunkResult]]:
    """(first row number, frame, result) per chunk, in input order."""
    first = 1
    if jobs == 1:
        encoder = Encoder(schema, secret)
        for frame in chunks:
            frame = frame.reset_index(drop=True)
            yield first, frame, encoder.encode_chunk(frame, first)
            first += len(frame)
        return
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_init_worker, initargs=(schema.document, secret)
    ) as pool:
        pending: deque[tuple[int, pd.DataFrame, Future[ChunkResult]]] = deque()
        for frame in chunks:
            frame = frame.reset_index(drop=True)
            pending.append((first, frame, pool.submit(_encode_in_worker, frame, first)))
            first += len(frame)
            while len(pending) > 2 * jobs:
                f0, fr0, fut = pending.popleft()
                yield f0, fr0, fut.result()
        while pending:
            f0, fr0, fut = pending.popleft()
            yield f0, fr0, fut.result()
