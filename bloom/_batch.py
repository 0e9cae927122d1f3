"""The encoded batch file: Parquet that plain pandas/pyarrow can read.

Columns: ``record_ref`` (string, the agency's opaque id) and ``bloom`` (fixed-size binary of
``filter_bits / 8`` bytes; bit ``p`` is bit ``p % 8`` of byte ``p // 8``, i.e. little-endian
uint64 words). File key-value metadata ``caselink`` holds a JSON object::

    format, format_version, schema_fingerprint, agency, record_count, filter_bits,
    segments [{name, bits}], created_at (UTC ISO 8601), caselink_version, content_hash,
    key_check (optional)

``key_check`` is the secret's key check value (:mod:`bloom._keycheck`): the service refuses
a batch whose value is not its agreement's (encoded with another secret). Batches written
before it existed have none; the field is optional, so the format version is still 1.

Optional columns, each written only when the register carried it (:mod:`bloom._household_batch`
rules their types and values): ``group`` (uint64, the record's household pseudonym; null: in no
group), ``relationship`` (string, one of ``head spouse child parent sibling other``; null: not
given) and ``consent`` (string: the record's consent scope codes, sorted, one space between;
``""``: no scope). The Parquet schema says which a batch has; a batch without them is exactly
what it was before they existed, so the format version is still 1.

``content_hash`` is BLAKE3 over the record count, the refs, the filters and the optional columns
present (see :class:`_ContentHasher`), so an edited row, a dropped row or an altered record
count is caught on read. It guards against accidents and tampering in transit; it is not a
signature.

What a batch may hold (refs, segment layout) is ruled in :mod:`bloom._rules`; the writer and
the reader (:mod:`bloom._batchread`) both apply it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any

import blake3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bloom._arrowparse import hash_strings
from bloom._household_batch import (
    CONSENT,
    FACT_COLUMNS,
    GROUP,
    RELATIONSHIP,
    arrow_fields,
    fact_problems,
    to_arrow,
)
from bloom._i18n import gettext
from bloom._keycheck import KEY_CHECK_PATTERN
from bloom._rules import Layout, duplicate_problem, layout_problems, ref_problems, rows_text
from bloom._schema import Schema
from caselink_errors import BatchError

__all__ = ["BatchMetadata", "BatchWriter", "EncodedBatch"]

FORMAT = "caselink-batch"
FORMAT_VERSION = 1
METADATA_KEY = b"caselink"
_AGENCY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_REQUIRED = (
    "format",
    "format_version",
    "schema_fingerprint",
    "agency",
    "record_count",
    "filter_bits",
    "segments",
    "created_at",
    "caselink_version",
    "content_hash",
)


@lru_cache(maxsize=1)
def caselink_version() -> str:
    try:
        return version("caselink")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def check_agency(agency: str) -> str:
    if not isinstance(agency, str) or not _AGENCY.match(agency):
        raise BatchError(
            [
                gettext(
                    "agency: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                    "or digit"
                )
            ]
        )
    return agency


@dataclass(frozen=True)
class BatchMetadata:
    schema_fingerprint: str
    agency: str
    record_count: int
    filter_bits: int
    segments: Layout
    created_at: str
    caselink_version: str
    content_hash: str
    format_version: int = FORMAT_VERSION
    key_check: str | None = None  # the secret's key check value; None in older batches

    @classmethod
    def written_now(
        cls,
        *,
        schema_fingerprint: str,
        agency: str,
        record_count: int,
        filter_bits: int,
        segments: Layout,
        content_hash: str,
        key_check: str | None,
    ) -> BatchMetadata:
        """The metadata of a batch encoded now, by this version of caselink."""
        return cls(
            schema_fingerprint=schema_fingerprint,
            agency=agency,
            record_count=record_count,
            filter_bits=filter_bits,
            segments=segments,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            caselink_version=caselink_version(),
            content_hash=content_hash,
            key_check=key_check,
        )

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "format": FORMAT,
            "format_version": self.format_version,
            "schema_fingerprint": self.schema_fingerprint,
            "agency": self.agency,
            "record_count": self.record_count,
            "filter_bits": self.filter_bits,
            "segments": [{"name": n, "bits": b} for n, b in self.segments],
            "created_at": self.created_at,
            "caselink_version": self.caselink_version,
            "content_hash": self.content_hash,
        }
        if self.key_check is not None:
            body["key_check"] = self.key_check
        return json.dumps(body, sort_keys=True)


@dataclass(frozen=True, eq=False)
class EncodedBatch:
    """Encoded records of one agency: refs, filters as ``(n, words)`` uint64, metadata."""

    record_refs: np.ndarray  # object array of str
    filters: np.ndarray  # (n, filter_bits // 64) uint64, C-contiguous
    metadata: BatchMetadata
    # optional per-record facts (bloom._households): None = the batch carries no such column
    groups: np.ndarray | None = None  # uint64 household pseudonym, 0 = no group
    relationships: np.ndarray | None = None  # int8 index into RELATIONSHIPS, -1 = not given
    consent: np.ndarray | None = None  # object array of str: sorted scope codes, "" = none

    def __len__(self) -> int:
        return int(self.filters.shape[0])

    @property
    def words(self) -> int:
        return int(self.filters.shape[1])

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the batch atomically (a temporary file renamed into place)."""
        m = self.metadata
        with BatchWriter(
            path,
            fingerprint=m.schema_fingerprint,
            agency=m.agency,
            segments=m.segments,
            key_check=m.key_check,
        ) as w:
            w.write(
                self.record_refs,
                self.filters,
                groups=self.groups,
                relationships=self.relationships,
                consent=self.consent,
            )
        return Path(path)


def _strings(values: pa.Array | np.ndarray) -> tuple[bytes, memoryview | bytes]:
    """(byte length of each string as little-endian int64, the strings' UTF-8 bytes)."""
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.large_string())
    arr = arr.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype="<i8")[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    text = memoryview(data)[offsets[0] : offsets[-1]] if data is not None else b""
    return np.diff(offsets).astype("<i8").tobytes(), text


class _ContentHasher:
    """BLAKE3 of (count, ref lengths, ref bytes, filter bytes) and of the optional columns
    present; independent of chunking::

        BLAKE3(count as 8 bytes LE || H(ref lengths) || H(ref bytes) || H(filter bytes)
               [|| "group" || H(group uint64 LE, 0 = none)]
               [|| "relationship" || H(relationship int8 codes, -1 = not given)]
               [|| "consent" || H(consent lengths) || H(consent bytes)])

    (H = BLAKE3; lengths as int64 LE byte counts). A batch without the optional columns
    hashes as batches did before they existed.
    """

    def __init__(self) -> None:
        self._lengths = blake3.blake3()
        self._refs = blake3.blake3()
        self._filters = blake3.blake3()
        self._facts: dict[str, list[blake3.blake3]] = {}
        self.count = 0

    def update(
        self,
        refs: pa.StringArray | pa.LargeStringArray,
        filters: np.ndarray,
        *,
        groups: np.ndarray | None = None,
        relationships: np.ndarray | None = None,
        consent: np.ndarray | pa.Array | None = None,
    ) -> None:
        lengths, text = _strings(refs)
        self._lengths.update(lengths)
        self._refs.update(text)
        # an ndarray is a buffer; numpy declares __buffer__ for Python 3.12 on only
        self._filters.update(np.ascontiguousarray(filters, dtype="<u8").view(np.uint8))  # type: ignore[arg-type]
        self.count += len(lengths) // 8
        if groups is not None:
            self._fact(GROUP, 1)[0].update(np.ascontiguousarray(groups, "<u8").tobytes())
        if relationships is not None:
            self._fact(RELATIONSHIP, 1)[0].update(
                np.ascontiguousarray(relationships, "i1").tobytes()
            )
        if consent is not None:
            lengths, text = _strings(consent)
            parts = self._fact(CONSENT, 2)
            parts[0].update(lengths)
            parts[1].update(text)

    def _fact(self, name: str, parts: int) -> list[blake3.blake3]:
        return self._facts.setdefault(name, [blake3.blake3() for _ in range(parts)])

    def hexdigest(self) -> str:
        h = blake3.blake3(self.count.to_bytes(8, "little"))
        for part in (self._lengths, self._refs, self._filters):
            h.update(part.digest())
        for name in FACT_COLUMNS:
            if name in self._facts:
                h.update(name.encode("ascii"))
                for part in self._facts[name]:
                    h.update(part.digest())
        return "blake3:" + h.hexdigest()


def _arrow_schema(filter_bits: int, facts: tuple[str, ...] = ()) -> pa.Schema:
    return pa.schema(
        [
            pa.field("record_ref", pa.string(), nullable=False),
            pa.field("bloom", pa.binary(filter_bits // 8), nullable=False),
            *arrow_fields(facts),
        ]
    )


def _bloom_array(filters: np.ndarray) -> pa.FixedSizeBinaryArray:
    n, words = filters.shape
    buf = pa.py_buffer(np.ascontiguousarray(filters, dtype="<u8"))  # shares the words
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(words * 8), n, [None, buf])


class BatchWriter:
    """Streams record chunks into a batch file; the file appears only when all went well.

    Use as a context manager: on an exception the temporary file is removed and nothing is
    left at ``path``. Duplicate refs are found with 64-bit hashes and confirmed exactly.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fingerprint: str,
        agency: str,
        segments: Layout,
        key_check: str | None,
    ) -> None:
        self.path = Path(path)
        self._fingerprint = fingerprint
        if key_check is not None and not KEY_CHECK_PATTERN.match(key_check):
            raise BatchError(["key_check: not a key check value (kcv1: and 16 hex digits)"])
        self._key_check = key_check
        self._agency = check_agency(agency)
        self._segments = tuple((str(n), int(b)) for n, b in segments)
        self._bits = sum(b for _, b in self._segments)
        problems = layout_problems(self._segments, self._bits)
        if problems:
            raise BatchError(problems)
        self._hasher = _ContentHasher()
        self._ref_hashes: list[np.ndarray] = []
        self._bad_refs: dict[str, list[int]] = {}  # rule -> rows (from 1)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self._tmp = Path(tmp)
        self._facts: tuple[str, ...] | None = None  # the optional columns: the first write's
        self._writer: pq.ParquetWriter | None = None
        self._closed = False

    @classmethod
    def for_schema(
        cls, path: str | os.PathLike[str], schema: Schema, agency: str, key_check: str | None
    ) -> BatchWriter:
        return cls(
            path,
            fingerprint=schema.fingerprint,
            agency=agency,
            segments=schema.layout,
            key_check=key_check,
        )

    def write(
        self,
        refs: pa.Array | np.ndarray | list[str],
        filters: np.ndarray,
        *,
        groups: np.ndarray | None = None,
        relationships: np.ndarray | None = None,
        consent: np.ndarray | None = None,
    ) -> None:
        """Append records: refs, filters and, when the register carried them, the household
        columns (``groups`` uint64, 0 = none; ``relationships`` int8, -1 = not given;
        ``consent`` str). Every chunk gives the same optional columns as the first."""
        assert not self._closed, "writer is closed"
        if filters.ndim != 2 or filters.shape[1] * 64 != self._bits:
            raise BatchError([f"bloom: filters must have {self._bits} bits per record"])
        if isinstance(refs, pa.ChunkedArray):
            refs = refs.combine_chunks()
        ref_arr = refs if isinstance(refs, pa.Array) else pa.array(refs, type=pa.string())
        ref_arr = ref_arr.cast(pa.string())
        if len(ref_arr) != filters.shape[0]:
            raise BatchError(["record_ref: one ref per filter is needed"])
        given = {GROUP: groups, RELATIONSHIP: relationships, CONSENT: consent}
        facts = {k: np.asarray(v) for k, v in given.items() if v is not None}
        problems = fact_problems(
            len(ref_arr),
            facts.get(GROUP),
            facts.get(RELATIONSHIP),
            facts.get(CONSENT),
            first_row=self._hasher.count + 1,
        )
        if self._facts is not None and tuple(facts) != self._facts:
            problems.append(
                f"every chunk must give the same household columns as the first "
                f"({', '.join(self._facts) or 'none'})"
            )
        if problems:
            raise BatchError(problems)
        writer = self._open(tuple(facts))
        for rule, rows in ref_problems(ref_arr).items():
            self._bad_refs.setdefault(rule, []).extend((rows + self._hasher.count + 1).tolist())
        self._hasher.update(
            ref_arr,
            filters,
            groups=facts.get(GROUP),
            relationships=facts.get(RELATIONSHIP),
            consent=facts.get(CONSENT),
        )
        self._ref_hashes.append(hash_strings(ref_arr))
        arrays = [ref_arr, _bloom_array(filters), *(to_arrow(k, v) for k, v in facts.items())]
        table = pa.Table.from_arrays(arrays, schema=writer.schema)
        writer.write_table(table, row_group_size=256_000)

    def _open(self, facts: tuple[str, ...]) -> pq.ParquetWriter:
        """The Parquet writer, opened at the first chunk: it says which columns there are."""
        if self._writer is None:
            self._facts = facts
            self._writer = pq.ParquetWriter(
                self._tmp,
                _arrow_schema(self._bits, facts),
                compression={
                    "record_ref": "zstd",
                    "bloom": "none",  # filters do not compress
                    **dict.fromkeys(facts, "zstd"),
                },
                # refs are unique, filters nearly so; relationships and scopes are a few values
                use_dictionary=[c for c in facts if c != GROUP] or False,
            )
        return self._writer

    def _duplicate_rows(self) -> list[tuple[int, int]]:
        hashes = np.concatenate(self._ref_hashes) if self._ref_hashes else np.empty(0, np.uint64)
        ordered = np.sort(hashes)
        if not (ordered[1:] == ordered[:-1]).any():
            return []
        order = np.argsort(hashes, kind="stable")
        same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
        if same.size == 0:
            return []
        refs = pq.read_table(self._tmp, columns=["record_ref"]).column(0).to_numpy()
        pairs = [(int(order[k]), int(order[k + 1])) for k in same]
        return [(a, b) for a, b in pairs if refs[a] == refs[b]]

    def close(self) -> BatchMetadata:
        assert not self._closed, "writer is closed"
        count = self._hasher.count
        if count == 0 or self._writer is None:
            self._abort()
            raise BatchError(["the input has no records; an empty batch is not written"])
        meta = BatchMetadata.written_now(
            schema_fingerprint=self._fingerprint,
            agency=self._agency,
            record_count=count,
            filter_bits=self._bits,
            segments=self._segments,
            content_hash=self._hasher.hexdigest(),
            key_check=self._key_check,
        )
        self._writer.add_key_value_metadata({METADATA_KEY.decode(): meta.to_json()})
        self._writer.close()
        self._writer, self._closed = None, True
        bad = self._bad_refs.items()
        problems = [f"record_ref {rule}: {rows_text(rows)}" for rule, rows in bad]
        dups = self._duplicate_rows()  # reads the finished temporary file on a hash collision
        if dups:
            problems.append(duplicate_problem(dups))
        if problems:
            self._abort()
            raise BatchError(problems)
        os.replace(self._tmp, self.path)
        return meta

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._closed = True
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._abort()
        elif not self._closed:
            self.close()
