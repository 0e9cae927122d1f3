"""The service's tracing indexes without a server: the store's swap on rebuild, and a load
that does not hold SQLite's write lock. (The index itself: tests/linkage/test_query_index.)"""

from __future__ import annotations

import threading
import time

from linkage import QueryIndex
from service import _index_store
from service._index_store import IndexStore
from tests.linkage.test_query_index import _registry


def test_store_swaps_the_index_only_when_the_rebuild_is_complete(monkeypatch):
    _, filters, agencies, cases, bounds = _registry(50)
    first = QueryIndex.build("agr", filters[:60], agencies[:60], cases[:60], bounds)
    second = QueryIndex.build("agr", filters, agencies, cases, bounds)
    third = QueryIndex.build("agr", filters[:90], agencies[:90], cases[:90], bounds)
    gate, built = threading.Event(), iter([first, second, third])

    def load(engine, agreement_id, *, codec):
        index = next(built)
        if index is second:
            assert gate.wait(10)
        return index

    monkeypatch.setattr(_index_store, "load_index", load)
    store = IndexStore(engine=None, codec=None, threads=1)  # type: ignore[arg-type]
    try:
        assert store.get("agr") is first
        running = store.refresh("agr")
        deadline = time.monotonic() + 10
        while not running.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        queued = store.refresh("agr")
        assert store.refresh("agr") is queued  # changes during a build: one more build
        assert store.get("agr") is first  # the old index serves while the new one builds
        gate.set()
        assert running.result(10) is second
        assert queued.result(10) is third and store.get("agr") is third
    finally:
        gate.set()
        store.shutdown()


def test_loading_an_index_does_not_hold_sqlite_s_write_lock(tmp_path):
    """While the reader streams the registry, a writer (BEGIN IMMEDIATE) is not kept out."""
    import sqlalchemy as sa

    from linkage._registry import metadata, records_table
    from service._db import make_engine, reader_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata.create_all(engine)
    rows = [
        {
            "scope": "s",
            "agency": "a",
            "record_ref": f"r{k}",
            "bloom": bytes(32),
            "case_id": f"c{k}",
            "confidence": 0.5,
        }
        for k in range(5000)
    ]
    with engine.begin() as conn:
        conn.execute(records_table.insert(), rows)
    reader = reader_engine(engine)
    assert reader is not engine
    with reader.connect() as conn:
        result = conn.execution_options(yield_per=100).execute(sa.select(records_table))
        next(result.partitions())  # mid-read
        with engine.begin() as w:  # the service's own engine: BEGIN IMMEDIATE
            w.execute(records_table.update().values(confidence=0.9))
    reader.dispose()
    engine.dispose()
