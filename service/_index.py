"""Loading an agreement's tracing index: its registry read from the database into a
:class:`linkage.QueryIndex`.

The index itself — filters sorted by popcount, case and agency codes, the calibration fitted
on the registry, the scan and the search — is the engine's (:mod:`linkage._query_index`).
Here the service reads what it needs for one agreement: the filter width from the agreement,
the segment layout from its batches, and every record with its filter opened with the
service's cipher (:meth:`linkage.Registry.index_rows`: each seal is bound to its record's ref,
read for that and dropped). :class:`service._index_store.IndexStore` keeps one index per
agreement in step with the registry, applying each change (:func:`read_change`) in place.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import sqlalchemy as sa

from linkage import IndexChange, QueryIndex, QueryModel, Registry, segment_bounds
from linkage.sealing import FilterCodec
from service._tables import agreements, batches

__all__ = ["PROCESS_FROM", "load_index", "read_change", "reread"]

logger = logging.getLogger(__name__)

PROCESS_FROM = 20_000  # registries this large are built in the worker process


def _registry(conn: sa.Connection, scope: str, codec: FilterCodec | None) -> Registry:
    """The agreement's registry, read through ``conn`` (its transaction)."""
    return Registry(conn.engine, scope, create_tables=False, codec=codec)


def reread(
    conn: sa.Connection, scope: str, ids: np.ndarray, words: int, codec: FilterCodec | None
) -> IndexChange:
    """Records ``ids`` read again from the registry: each leaves the index, those still
    stored enter again whole (a withdrawal names its record and its former case's)."""
    rows = _registry(conn, scope, codec).index_rows(words, ids, connection=conn)
    return IndexChange.reread(rows, ids)


def read_change(conn: sa.Connection, index: QueryIndex, codec: FilterCodec | None) -> IndexChange:
    """Every record of the registry against ``index`` (a run, a purge: nothing named): ids
    gone are dropped, new ones read whole, changed cases re-coded — one pass over three small
    columns, no filter opened but the new ones."""
    registry = _registry(conn, index.scope, codec)
    drop, enter, recase_ids, recase_cases = index.compare(*registry.record_cases(connection=conn))
    add = registry.index_rows(index.words, enter, connection=conn)
    return IndexChange(drop, add, recase_ids, recase_cases)


def load_index(
    engine: sa.Engine,
    agreement_id: str,
    *,
    codec: FilterCodec | None,
    seed: int = 0,
    model: QueryModel | None = None,
) -> QueryIndex:
    """The index of an agreement's registry as the database holds it now (calibration fitted
    on it, unless given a ``model``)."""
    started = time.perf_counter()
    with engine.connect() as conn:
        bits = conn.execute(
            sa.select(agreements.c.filter_bits).where(agreements.c.id == agreement_id)
        ).scalar_one()
        segments = conn.execute(
            sa.select(batches.c.segments).where(batches.c.agreement_id == agreement_id).limit(1)
        ).scalar()
        words = int(bits) // 64
        rows = _registry(conn, agreement_id, codec).index_rows(words, connection=conn)
    loaded = time.perf_counter() - started
    bounds = segment_bounds(segments or [], words)
    # with each record's household and consent: a query's purpose may need a consent scope
    index = QueryIndex.from_rows(agreement_id, rows, bounds, seed=seed, model=model)
    logger.info(
        "tracing index of %s: %s records, %s cases; loaded in %.1f s, built in %.1f s",
        agreement_id,
        index.records,
        len(index.case_ids),
        loaded,
        index.build_seconds,
    )
    return index
