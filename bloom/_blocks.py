"""Encoding a CSV's blocks in order: in this process, or in a pool of worker processes.

Each worker builds its own :class:`~bloom._encoder.Encoder` from the schema document and the
secret once; blocks go out with their first row number and come back in input order, at most
``2 * jobs`` in flight.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from bloom._encoder import ChunkResult, Encoder
from bloom._schema import Schema
from bloom._secret import Secret

__all__ = ["encoded"]

_worker_encoder: Encoder | None = None


def _init_worker(document: dict[str, Any], secret: Secret) -> None:
    global _worker_encoder
    _worker_encoder = Encoder(Schema.from_dict(document), secret)


def _encode_in_worker(batch: pa.RecordBatch, first_row: int) -> ChunkResult:
    assert _worker_encoder is not None
    return _worker_encoder.encode_chunk(_columns(batch), batch.num_rows, first_row)


def _columns(batch: pa.RecordBatch) -> dict[str, pa.Array]:
    return {name: batch.column(i) for i, name in enumerate(batch.schema.names)}


def encoded(
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
