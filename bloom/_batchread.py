"""Reading an encoded batch file: every check made, every problem reported at once.

A file is refused when it is not a caselink batch, when its metadata is incomplete or its
segment layout malformed (:func:`bloom._rules.layout_problems`), when it holds a column
besides ``record_ref``, ``bloom`` and the optional ``group``, ``relationship`` and ``consent``
(plaintext must never reach the service), an optional column of another type or with a value
its rule refuses (:mod:`bloom._household_batch`), no records, a ref that breaks the ref rule
(:func:`bloom._rules.ref_problems`), a duplicate ref, or records that do not match its content
hash. Problems name rows by position (from 1), never a ref's value. The optional columns a
file has come back on :class:`EncodedBatch` (``groups``, ``relationships``, ``consent``);
those it has not are ``None``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bloom._batch import (
    _REQUIRED,
    FORMAT,
    FORMAT_VERSION,
    METADATA_KEY,
    BatchMetadata,
    EncodedBatch,
    _ContentHasher,
)
from bloom._household_batch import CONSENT, FACT_COLUMNS, GROUP, RELATIONSHIP, from_arrow
from bloom._keycheck import KEY_CHECK_PATTERN
from bloom._rules import (
    as_layout,
    duplicate_pairs,
    duplicate_problem,
    layout_problems,
    ref_problems,
    rows_text,
)
from caselink_errors import BatchError

__all__ = ["read_batch"]

COLUMNS = ("record_ref", "bloom")
_SHOWN_COLUMN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,63}$")  # else named by position


def _parse_metadata(raw: bytes | None, where: str) -> tuple[dict[str, Any], list[str]]:
    if raw is None:
        return {}, [
            f"{where} has no caselink metadata: it is not an encoded batch "
            "(make one with `caselink encode`)"
        ]
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}, [f"{where}: the caselink metadata is not valid JSON; re-encode the register"]
    if not isinstance(meta, dict):
        return {}, [f"{where}: the caselink metadata is not a JSON object"]
    missing = [k for k in _REQUIRED if k not in meta]
    problems = [f"metadata: '{k}' is missing" for k in missing]
    if meta.get("format") != FORMAT:
        problems.append(f"metadata/format: expected '{FORMAT}'")
    if meta.get("format_version") != FORMAT_VERSION:
        problems.append(
            f"metadata/format_version: this caselink reads version {FORMAT_VERSION}; "
            "upgrade caselink or re-encode"
        )
    check = meta.get("key_check")
    if check is not None and not (isinstance(check, str) and KEY_CHECK_PATTERN.match(check)):
        problems.append("metadata/key_check: not a key check value (kcv1: and 16 hex digits)")
    return meta, problems


def _column_problems(names: list[str]) -> list[str]:
    """``record_ref`` and ``bloom``, and any of the optional household columns, once each: a
    missing, repeated or other column is refused."""
    problems = [f"column '{c}' is missing" for c in COLUMNS if c not in names]
    problems += [
        f"column '{c}' appears more than once"
        for c in (*COLUMNS, *FACT_COLUMNS)
        if names.count(c) > 1
    ]
    extra = [
        f"'{n}'" if _SHOWN_COLUMN.match(n) else f"#{k + 1}"
        for k, n in enumerate(names)
        if n not in COLUMNS and n not in FACT_COLUMNS
    ]
    if extra:
        problems.append(
            f"column{'s' if len(extra) > 1 else ''} {', '.join(extra)}: a batch holds only "
            "record_ref and bloom (and the household columns group, relationship and consent), "
            "so that plaintext never reaches the service; encode the register with `caselink "
            "encode` and send the file it writes, unchanged"
        )
    return problems


def read_batch(source: str | os.PathLike[str] | bytes, *, name: str | None = None) -> EncodedBatch:
    """Read and fully validate a batch; raises :class:`BatchError` listing every problem.

    ``source`` is the batch file's path, or the file's bytes (a service reads a small query
    batch from memory). Problems name the batch ``name``: by default the path, or "the
    batch" for bytes."""
    if isinstance(source, bytes | bytearray | memoryview):
        name, handle = name or "the batch", pa.BufferReader(bytes(source))
    else:
        p = Path(source)
        if not p.is_file():
            raise BatchError([f"{name or p} does not exist or is not a file"])
        name, handle = name or str(p), p
    try:
        pfile = pq.ParquetFile(handle)
    except (pa.ArrowInvalid, OSError) as e:
        raise BatchError(
            [f"{name} is not a Parquet file; encoded batches come from caselink encode"]
        ) from e
    kv = pfile.metadata.metadata or {}
    meta, problems = _parse_metadata(kv.get(METADATA_KEY), name)
    if not meta:
        raise BatchError(problems)
    problems += _column_problems(list(pfile.schema_arrow.names))
    if problems:
        raise BatchError(problems)
    problems = _shape_problems(pfile.schema_arrow, pfile.metadata.num_rows, meta)
    if problems:
        raise BatchError(problems)
    names = pfile.schema_arrow.names
    facts = [c for c in FACT_COLUMNS if c in names]
    return _validated(pfile.read(columns=[*COLUMNS, *facts]), meta)


def _shape_problems(schema: pa.Schema, rows: int, meta: dict[str, Any]) -> list[str]:
    """The layout, the column types and the record count, before any record is read."""
    bits = meta["filter_bits"]
    problems = layout_problems(meta["segments"], bits, prefix="metadata/")
    bloom_type = schema.field("bloom").type
    # a sound layout bounds the width (2**63 bits, say, is no Arrow type: an OverflowError)
    if not problems and bloom_type != pa.binary(bits // 8):
        problems.append(
            f"column 'bloom' has type {bloom_type}; metadata says {bits}-bit filters "
            f"(fixed_size_binary[{bits // 8}])"
        )
    ref_type = schema.field("record_ref").type
    if not (pa.types.is_string(ref_type) or pa.types.is_large_string(ref_type)):
        problems.append("column 'record_ref' must hold strings")
    count = meta["record_count"]
    if rows == 0:
        problems.append("the batch holds no records; a batch needs at least one")
    elif not isinstance(count, int) or isinstance(count, bool) or count != rows:
        problems.append(
            f"metadata/record_count says {count if isinstance(count, int) else '(no number)'} "
            f"records; the file holds {rows}. The file was altered or truncated: ask for it again"
        )
    return problems


def _utf8_problems(refs: pa.Array) -> list[str]:
    try:
        refs.validate(full=True)
        return []
    except pa.ArrowInvalid:
        raw = refs.cast(pa.large_binary()).to_pylist()
        bad = [k + 1 for k, b in enumerate(raw) if b is not None and not _is_utf8(b)]
        return [f"record_ref is not valid UTF-8 text: {rows_text(bad)}"]


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _ref_problems(refs: pa.Array) -> tuple[list[str], np.ndarray | None]:
    """Problems with the refs, and the refs as Python strings when they are valid UTF-8."""
    problems = _utf8_problems(refs)
    if problems:
        return problems, None
    problems = [
        f"record_ref {rule}: {rows_text(rows + 1)}" for rule, rows in ref_problems(refs).items()
    ]
    ref_np = refs.to_numpy(zero_copy_only=False).astype(object)
    dups = duplicate_pairs(ref_np)
    if dups:
        problems.append(duplicate_problem(dups))
    return problems, ref_np


def _filters(bloom: pa.Array, bits: int) -> np.ndarray:
    return (
        np.frombuffer(
            bloom.buffers()[1],
            dtype="<u8",
            count=len(bloom) * bits // 64,
            offset=bloom.offset * bits // 8,
        )
        .reshape(len(bloom), bits // 64)
        .astype(np.uint64, copy=True)
    )


def _validated(table: pa.Table, meta: dict[str, Any]) -> EncodedBatch:
    bits = meta["filter_bits"]
    refs = table.column("record_ref").combine_chunks().cast(pa.string())
    bloom = table.column("bloom").combine_chunks()
    filters = _filters(bloom, bits)
    problems, ref_np = _ref_problems(refs)
    if bloom.null_count:
        nulls = np.flatnonzero(bloom.is_null().to_numpy(zero_copy_only=False)) + 1
        problems.append(f"bloom is missing: {rows_text(nulls.tolist())}")
    facts: dict[str, np.ndarray] = {}
    for name in FACT_COLUMNS:
        if name in table.column_names:
            values, found = from_arrow(name, table.column(name).combine_chunks())
            problems += found
            if values is not None:
                facts[name] = values
    hasher = _ContentHasher()
    hasher.update(
        refs,
        filters,
        groups=facts.get(GROUP),
        relationships=facts.get(RELATIONSHIP),
        consent=table.column(CONSENT).combine_chunks() if CONSENT in facts else None,
    )
    complete = len(facts) == len([c for c in FACT_COLUMNS if c in table.column_names])
    if complete and hasher.hexdigest() != meta["content_hash"]:
        problems.append(
            "content_hash does not match the records: the file was altered after encoding; "
            "ask the agency to send it again"
        )
    if problems or ref_np is None:
        raise BatchError(problems)
    metadata = BatchMetadata(
        schema_fingerprint=str(meta["schema_fingerprint"]),
        agency=str(meta["agency"]),
        record_count=int(meta["record_count"]),
        filter_bits=bits,
        segments=as_layout(meta["segments"]),
        created_at=str(meta["created_at"]),
        caselink_version=str(meta["caselink_version"]),
        content_hash=str(meta["content_hash"]),
        format_version=int(meta["format_version"]),
        key_check=meta.get("key_check"),
    )
    return EncodedBatch(
        record_refs=ref_np,
        filters=filters,
        metadata=metadata,
        groups=facts.get(GROUP),
        relationships=facts.get(RELATIONSHIP),
        consent=facts.get(CONSENT),
    )
