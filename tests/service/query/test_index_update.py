"""The service's tracing index changed in place: after withdrawals and runs it is what a
rebuild from the database would be (same records in the same order, same cases and agencies,
same answers), without a rebuild; a withdrawal made while a build reads is not brought back
by it; an update that fails takes the index out of service instead of serving the withdrawn
record. (Any sequence of changes in memory against one build: tests/linkage/test_query_index.)"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import sqlalchemy as sa

from linkage import QueryIndex, Registry
from linkage._registry import RegistryUpdate, records_table
from service import _index_store
from service._audit import Actor
from service._db import make_engine, migrate
from service._events import ChangeFeed
from service._index import load_index
from service._index_store import IndexStore
from service._tables import agreements
from service._withdraw import withdraw
from tests.linkage.test_query_index import _noisy, _registry, assert_same
from tests.service.query.registries import FINGERPRINT, a_large_run, a_run, seed_agreement
from tests.service.servers import make_database

AGREEMENT = "agr_index_update"
STEWARD = Actor(agency="coordination", role="steward")


# -- against a database: the store, the change feed, the service's withdrawal ---------------
@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, tmp_path):
    """A migrated database with one agreement whose registry holds 3 x 60 records (one case
    per person, held by agencies a, b, c), sealed under a data-key file; a store and a feed
    wired as the service wires them, the store's first build done."""
    from linkage import DataKeyRing
    from linkage.sealing import FilterCipher

    cipher = FilterCipher.from_file(DataKeyRing.generate().write(tmp_path / "keys" / "k"))
    with make_database(request.param, request, tmp_path) as db:
        engine = make_engine(db.url)
        migrate(engine)
        people, filters, names, cases, _ = _registry(60)
        seed_agreement(engine, AGREEMENT, "index update", filters, names, cases, cipher, people=60)
        store, feed = IndexStore(engine, codec=cipher), ChangeFeed()
        feed.subscribe(store.changed)
        store.refresh(AGREEMENT).result(120)
        try:
            yield engine, people, cipher, store, feed
        finally:
            store.shutdown()
            engine.dispose()


def _withdraw(engine, feed: ChangeFeed, ref: str, agency: str = "a"):
    """As the withdrawal route does: withdraw, then publish the ids and wait for the views."""
    with engine.connect() as conn:
        agreement = conn.execute(sa.select(agreements).where(agreements.c.id == AGREEMENT)).one()
    receipt = withdraw(engine, agreement, STEWARD, agency, ref, "consent", "tracing")
    feed.publish(AGREEMENT, wait=60, records=receipt.registry_ids)
    return receipt


def _fresh(engine, cipher, index: QueryIndex) -> QueryIndex:
    return load_index(engine, AGREEMENT, codec=cipher, model=index.model)


def _id_of(engine, ref: str) -> int:
    with engine.connect() as conn:
        q = sa.select(records_table.c.id).where(records_table.c.record_ref == ref)
        return int(conn.execute(q).scalar_one())


def test_a_withdrawn_record_is_gone_when_the_receipt_is_issued(world):
    engine, people, cipher, store, feed = world
    before = store.get(AGREEMENT)
    query = _noisy(people[[7]], 4, 1)
    (best, *_) = before.search(query, top_k=3)[0]
    assert best.case_id == "CASE-7" and best.agencies == ("a", "b", "c")
    gone = _id_of(engine, "r7")  # agency a's registration of person 7
    receipt = _withdraw(engine, feed, "r7")
    assert receipt.former_case_id == "CASE-7" and set(receipt.registry_ids) >= {gone}
    after = store.get(AGREEMENT)  # no wait: the receipt came after the index changed
    assert gone not in after.record_ids.tolist() and after.records == before.records - 1
    assert after.model is before.model  # changed in place, not rebuilt
    hits = [h for h in after.search(query, top_k=5)[0] if h.confidence > 0.1]
    assert hits and all("a" not in h.agencies for h in hits)  # b and c split: no stored links
    assert "CASE-7" in {h.case_id for h in hits}
    assert_same(after, _fresh(engine, cipher, after), _noisy(people[:20], 6, 3))


def test_a_run_is_taken_in_place_and_equals_a_rebuild(world):
    engine, people, cipher, store, _ = world
    before = store.get(AGREEMENT)
    registry, update = a_run(engine, AGREEMENT, cipher, _noisy(people[[3, 4, 5]], 5, 8))
    registry.apply(update)
    # as a run does: nothing named; the answer is the index with the change applied in place.
    # Agency d is new, so a refit is queued too (more candidates per query): it may already
    # be installed by the time store.get would be called, hence the scan's own answer here
    after = store.changed(AGREEMENT).result(60)
    assert after.model is before.model and after.records == before.records + 3
    hits = after.search(_noisy(people[[3, 10]], 4, 2), top_k=2)
    assert hits[0][0].case_id == "CASE-3" and hits[0][0].agencies == ("a", "b", "c", "d")
    assert hits[1][0].case_id == "CASE-9"
    assert_same(after, _fresh(engine, cipher, after), _noisy(people[:20], 6, 3))


def test_a_large_change_is_rebuilt_and_refitted(world):
    engine, people, cipher, store, feed = world
    before = store.get(AGREEMENT)
    # a third of the registry: past REBUILD_SHARE
    registry, update = a_large_run(engine, AGREEMENT, cipher, _noisy(people, 5, 9))
    registry.apply(update)
    feed.publish(AGREEMENT, wait=120)
    after = store.get(AGREEMENT)
    assert after.model is not before.model and after.changed_since_fit == 0
    assert_same(after, load_index(engine, AGREEMENT, codec=cipher), _noisy(people[:20], 6, 3))


def test_a_withdrawal_during_a_build_is_not_brought_back(world, monkeypatch):
    """The build reads the registry, then the withdrawal commits and is applied to the
    serving index; the build, done, must read the withdrawal's records again before it serves."""
    engine, people, cipher, store, feed = world
    read, go = threading.Event(), threading.Event()

    def slow_load(*args, **kwargs):
        index = load_index(*args, **kwargs)  # the real read, before the withdrawal
        read.set()
        assert go.wait(60)
        return index

    monkeypatch.setattr(_index_store, "load_index", slow_load)
    building = store.refresh(AGREEMENT)
    assert read.wait(60)
    gone = _id_of(engine, "r12")
    _withdraw(engine, feed, "r12")
    assert gone not in store.get(AGREEMENT).record_ids.tolist()  # the serving index
    go.set()
    built = building.result(60)
    assert store.get(AGREEMENT) is built and gone not in built.record_ids.tolist()
    assert_same(built, _fresh(engine, cipher, built), _noisy(people[:20], 6, 3))


def test_an_update_that_fails_takes_the_index_out_of_service(world):
    """A record of the withdrawn one's case cannot be opened: the in-place update fails, the
    index is not served (the rebuild fails the same way) until the record is repaired."""
    engine, people, _, store, feed = world
    r = records_table.c
    with engine.begin() as conn:
        good = conn.execute(sa.select(r.bloom).where(r.record_ref == "r80")).scalar_one()
        conn.execute(
            records_table.update()
            .where(r.record_ref == "r80")  # person 20, agency b
            .values(bloom=good[:-1] + bytes([good[-1] ^ 1]))
        )
    gone = _id_of(engine, "r20")
    _withdraw(engine, feed, "r20")  # person 20, agency a
    assert store.get(AGREEMENT, timeout=10) is None
    with engine.begin() as conn:
        conn.execute(records_table.update().where(r.record_ref == "r80").values(bloom=good))
    rebuilt = store.refresh(AGREEMENT).result(60)
    assert store.get(AGREEMENT) is rebuilt and gone not in rebuilt.record_ids.tolist()
    hits = [h for h in rebuilt.search(_noisy(people[[20]], 4, 1), top_k=5)[0] if h.confidence > 0.1]
    assert hits and all("a" not in h.agencies for h in hits)


def test_an_index_built_in_the_worker_process_is_changed_in_place(world):
    """The worker sends case ids as fixed-width strings and its case codes unpickled: a
    withdrawal and a run applied to that index still equal a reload."""
    engine, people, cipher, _, feed = world
    store = IndexStore(engine, codec=cipher, process_from=1)
    feed.subscribe(store.changed)
    try:
        built = store.refresh(AGREEMENT).result(300)
        assert built.case_ids.dtype.kind == "U"  # it came from the worker
        _withdraw(engine, feed, "r33")
        registry = Registry(engine, scope=AGREEMENT, create_tables=False, codec=cipher)
        registry.apply(
            RegistryUpdate(
                fingerprint=FINGERPRINT,
                filter_bits=256,
                new_agencies=np.array(["d"], object),
                new_refs=np.array(["n1"], object),
                new_filters=_noisy(people[[33]], 5, 4),
                new_case_ids=np.array(["CASE-33"], object),
                new_confidence=np.full(1, 0.9),
                changed_ids=np.zeros(0, np.int64),
                changed_case_ids=np.zeros(0, object),
                changed_confidence=np.zeros(0),
                links=[],
                new_cases=[],
                merges={},
                case_confidence={},
            )
        )
        after = store.changed(AGREEMENT).result(60)  # as the feed calls it (a run: no ids)
        assert after.model is built.model and after.records == built.records
        assert_same(after, _fresh(engine, cipher, after), _noisy(people[:20], 6, 3))
        refitted = store.refresh(AGREEMENT).result(300)  # agency d is new: a refit follows
        assert refitted.model is not built.model and refitted.records == after.records
    finally:
        store.shutdown()
