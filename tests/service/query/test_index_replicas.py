"""Two tracing-index stores on one database, as two replicas hold them: each change is
numbered in the database in its own transaction (service._events.record_change), and a store
that did not hear of it through its process's change feed brings its index up to that number
before it answers — a withdrawal made through one replica is gone from the other's next
answer, a run stored through one is in the other's; either way the index equals a rebuild.
SQLite and PostgreSQL (the ``world`` of test_index_update)."""

# ruff: noqa: F811 (world: the fixture of test_index_update, taken as a parameter)
from __future__ import annotations

import sqlalchemy as sa

from service._events import changes_since, current_version, record_change
from service._index_store import IndexStore
from tests.linkage.test_query_index import _noisy
from tests.service.query.registries import a_large_run, a_run
from tests.service.query.test_index_update import (  # noqa: F401
    AGREEMENT,
    _fresh,
    _id_of,
    _withdraw,
    assert_same,
    world,
)


def _other_replica(engine, cipher) -> IndexStore:
    """A second store on the same database, built, hearing nothing of the first's feed."""
    other = IndexStore(engine, codec=cipher)
    other.refresh(AGREEMENT).result(120)
    return other


def _close(store: IndexStore) -> None:
    """Shut down once its background rebuilds are done (none left reading the database)."""
    store._builder.shutdown(wait=True)
    store.shutdown()


def test_a_withdrawal_through_one_replica_is_gone_from_the_other_s_next_answer(world):
    engine, people, cipher, store, feed = world
    other = _other_replica(engine, cipher)
    try:
        before = other.get(AGREEMENT)
        query = _noisy(people[[7]], 4, 1)
        assert before.search(query, top_k=3)[0][0].agencies == ("a", "b", "c")
        gone = _id_of(engine, "r7")
        receipt = _withdraw(engine, feed, "r7")  # through the first store's feed only
        with engine.connect() as conn:
            version = current_version(conn, AGREEMENT)
            assert changes_since(conn, AGREEMENT, version - 1) == (
                version,
                sorted(receipt.registry_ids),
            )
        after = other.get(AGREEMENT, timeout=10)  # no feed told it: the number did
        assert gone not in after.record_ids.tolist() and after.records == before.records - 1
        assert after.model is before.model  # read again in place, not rebuilt
        hits = [h for h in after.search(query, top_k=5)[0] if h.confidence > 0.1]
        assert hits and all("a" not in h.agencies for h in hits)
        assert_same(after, _fresh(engine, cipher, after), _noisy(people[:20], 6, 3))
        assert other.get(AGREEMENT) is after  # caught up once: the next query reads it as is
        mine = store.get(AGREEMENT)  # the withdrawing store's own fast path recorded it
        assert mine is store.get(AGREEMENT) and gone not in mine.record_ids.tolist()
    finally:
        _close(other)


def test_a_run_stored_through_one_replica_is_in_the_other_s_next_answer(world):
    engine, people, cipher, store, feed = world
    other = _other_replica(engine, cipher)
    try:
        before = other.get(AGREEMENT)
        newcomers = _noisy(people[[3, 4, 5]], 5, 8)
        registry, update = a_run(engine, AGREEMENT, cipher, newcomers)
        registry.prepare(update)
        with engine.begin() as conn:  # as the run's one transaction stores it
            record_change(conn, AGREEMENT)
            registry.apply(update, connection=conn)
        feed.publish(AGREEMENT, wait=60)  # the first store's feed only
        after = other.get(AGREEMENT, timeout=30)
        assert after.model is before.model and after.records == before.records + 3
        hits = after.search(_noisy(people[[3, 10]], 4, 2), top_k=2)
        assert hits[0][0].case_id == "CASE-3" and hits[0][0].agencies == ("a", "b", "c", "d")
        assert hits[1][0].case_id == "CASE-9"
        assert_same(after, _fresh(engine, cipher, after), _noisy(people[:20], 6, 3))
        # a new agency queues a rebuild with a refit on both stores: once both have run
        # (a single builder runs them in order), the two replicas answer alike
        for s in (store, other):
            s._builder.submit(lambda: None).result(timeout=60)
        assert_same(store.get(AGREEMENT), other.get(AGREEMENT), _noisy(people[:20], 6, 3))
    finally:
        _close(other)


def test_a_store_far_behind_compares_the_registry(world):
    """Changes no longer logged (or a run among them): the whole registry is compared."""
    engine, people, cipher, _, feed = world
    other = _other_replica(engine, cipher)
    try:
        gone = [_id_of(engine, ref) for ref in ("r11", "r12")]
        for ref in ("r11", "r12"):
            _withdraw(engine, feed, ref)
        with engine.begin() as conn:  # the log lost its entries: only the number says
            conn.execute(sa.text("DELETE FROM index_changes"))
        after = other.get(AGREEMENT, timeout=30)
        assert not set(gone) & set(after.record_ids.tolist())
        assert_same(after, _fresh(engine, cipher, after), _noisy(people[:20], 6, 3))
    finally:
        _close(other)


def test_a_store_far_behind_a_large_change_drops_what_left_at_once_and_rebuilds(world):
    """Another replica's run too large to apply in place: the records that left the registry
    leave this replica's index before its next answer; the new ones come with the rebuild."""
    engine, people, cipher, _, feed = world
    other = _other_replica(engine, cipher)
    try:
        before = other.get(AGREEMENT)
        gone = _id_of(engine, "r11")
        _withdraw(engine, feed, "r11")
        # a third of the registry: past REBUILD_SHARE
        registry, update = a_large_run(engine, AGREEMENT, cipher, _noisy(people, 5, 9))
        n = len(people)
        registry.prepare(update)
        with engine.begin() as conn:  # as a run stores it: its change names no record
            record_change(conn, AGREEMENT)
            registry.apply(update, connection=conn)
        after = other.get(AGREEMENT, timeout=30)
        assert gone not in after.record_ids.tolist()
        assert after.records == before.records - 1  # the new records wait for the rebuild
        assert after.model is before.model
        rebuilt = other.refresh(AGREEMENT).result(120)
        assert rebuilt.records == before.records - 1 + n and rebuilt.model is not before.model
        assert gone not in rebuilt.record_ids.tolist()
    finally:
        _close(other)
