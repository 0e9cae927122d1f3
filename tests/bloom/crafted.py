"""Batch files made by hand, as an attacker or a careless tool would make them.

The content hash is recomputed here from its definition in ``bloom/_batch.py`` (BLAKE3 of the
record count, then of the digests of the ref lengths, the ref bytes and the filter bytes), so
that a crafted file passes the hash check and only the rule under test can refuse it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import blake3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import bloom


def content_hash(refs: list[str], filters: np.ndarray) -> str:
    """``blake3:`` + BLAKE3(count, H(ref lengths), H(ref bytes), H(filter bytes))."""
    encoded = [r.encode("utf-8") for r in refs]
    lengths = np.array([len(b) for b in encoded], dtype="<i8").tobytes()
    h = blake3.blake3(len(refs).to_bytes(8, "little"))
    for part in (lengths, b"".join(encoded), np.ascontiguousarray(filters, "<u8").tobytes()):
        h.update(blake3.blake3(part).digest())
    return "blake3:" + h.hexdigest()


def metadata_of(path: Path) -> dict[str, Any]:
    return json.loads(pq.ParquetFile(path).metadata.metadata[b"caselink"])


def craft(
    path: Path,
    refs: list[str],
    filters: np.ndarray,
    *,
    like: bloom.BatchMetadata | dict[str, Any],
    columns: dict[str, pa.Array] | None = None,
    **meta: Any,
) -> Path:
    """A batch file with ``refs`` and ``filters``, metadata as ``like`` with ``meta`` over it,
    a correct content hash and record count (unless ``meta`` says otherwise), and any extra
    ``columns``."""
    base = json.loads(like.to_json()) if isinstance(like, bloom.BatchMetadata) else dict(like)
    width = filters.shape[1] * 8 if filters.ndim == 2 else 0
    body = {**base, "record_count": len(refs), "content_hash": content_hash(refs, filters), **meta}
    arrays = {
        "record_ref": pa.array(refs, pa.string()),
        "bloom": pa.array([row.astype("<u8").tobytes() for row in filters], pa.binary(width)),
        **(columns or {}),
    }
    table = pa.table(arrays).replace_schema_metadata({"caselink": json.dumps(body)})
    pq.write_table(table, path)
    return path


def random_filters(n: int, bits: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**63, (n, bits // 64), dtype=np.uint64)
