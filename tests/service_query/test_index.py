"""The tracing index without a server: the scan against its numpy oracle and the engine's
exhaustive search, case grouping, agencies per case, and the store's swap on rebuild."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import linkage
from service import _index_store
from service._index import build_index
from service._index_fit import case_probabilities
from service._index_kernel import sort_filters, top_candidates, top_candidates_reference
from service._index_store import IndexStore


def _filters(n: int, words: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    density = rng.uniform(0.1, 0.5, (n, 1))
    bits = rng.random((n, words * 64)) < density
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)


def _noisy(x: np.ndarray, flips: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = x.copy()
    for r in range(len(out)):
        for p in rng.choice(out.shape[1] * 64, flips, replace=False):
            out[r, p // 64] ^= np.uint64(1) << np.uint64(p % 64)
    return out


@pytest.mark.parametrize("parts", [1, 3])
@pytest.mark.parametrize(("threshold", "k"), [(0.3, 5), (0.5, 50), (0.7, 1)])
def test_scan_equals_the_numpy_oracle(threshold, k, parts):
    index = sort_filters(_filters(700))
    q = np.vstack([_noisy(index.filters[[5, 300, 650]], 20, 1), _filters(4, seed=9)])
    with ThreadPoolExecutor(2) as pool:
        got = top_candidates(q, index, threshold, k, parts=parts, pool=pool)
    want = top_candidates_reference(q, index, threshold, k)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_scan_finds_what_the_engine_finds():
    index = sort_filters(_filters(500, seed=3))
    q = _noisy(index.filters[[10, 20, 499]], 10, 2)
    i, j, s = top_candidates(q, index, 0.5, 500)
    engine = linkage.candidates(q, index.filters, 0.5)
    pairs = set(zip(i.tolist(), j.tolist(), strict=True))
    assert pairs == set(zip(engine.i.tolist(), engine.j.tolist(), strict=True))
    np.testing.assert_allclose(np.sort(s), np.sort(engine.score))


def test_empty_query_or_index():
    index = sort_filters(_filters(10))
    assert all(x.size == 0 for x in top_candidates(np.zeros((0, 4), np.uint64), index, 0.5, 3))
    empty = sort_filters(np.zeros((0, 4), np.uint64))
    assert all(x.size == 0 for x in top_candidates(_filters(2), empty, 0.5, 3))


def test_case_probabilities_group_by_case_and_sum_to_at_most_one():
    rows = np.array([0, 0, 0, 1, 1])
    cases = np.array([7, 7, 8, 7, 9])
    weights = np.array([10.0, 2.0, -3.0, 0.5, 0.4])
    r, c, p = case_probabilities(rows, cases, weights, lam=0.8)
    assert list(zip(r.tolist(), c.tolist(), strict=True)) == [(0, 7), (0, 8), (1, 7), (1, 9)]
    assert p[0] > 0.99 and p[1] < 0.01
    for row in (0, 1):
        assert p[r == row].sum() <= 1.0


def _registry(n_people: int = 300, seed: int = 4):
    """Three agencies holding noisy copies of the same people (case id = person)."""
    people = _filters(n_people, words=4, seed=seed)
    filters, agencies, cases = [], [], []
    for k, agency in enumerate(("a", "b", "c")):
        filters.append(_noisy(people, 6, seed + k))
        agencies += [agency] * n_people
        cases += [f"CASE-{p}" for p in range(n_people)]
    bounds = np.array([[0, 2], [2, 4]])
    return people, np.vstack(filters), np.array(agencies, object), np.array(cases, object), bounds


def test_search_answers_cases_with_their_agencies():
    people, filters, agencies, cases, bounds = _registry()
    index = build_index("agr", filters, agencies, cases, bounds)
    assert index.records == len(filters) and index.model is not None
    hits = index.search(_noisy(people[[3, 150]], 6, 99), top_k=3, min_confidence=0.0)
    for row, person in enumerate((3, 150)):
        best = hits[row][0]
        assert best.case_id == f"CASE-{person}" and best.agencies == ("a", "b", "c")
        assert best.confidence > 0.9
        assert len(hits[row]) <= 3


def test_search_of_an_empty_registry_answers_nothing():
    index = build_index(
        "agr",
        np.zeros((0, 4), np.uint64),
        np.array([], object),
        np.array([], object),
        np.array([[0, 4]]),
    )
    assert index.model is None and index.search(_filters(2), 5) == [[], []]


def test_store_swaps_the_index_only_when_the_rebuild_is_complete(monkeypatch):
    _, filters, agencies, cases, bounds = _registry(50)
    first = build_index("agr", filters[:60], agencies[:60], cases[:60], bounds)
    second = build_index("agr", filters, agencies, cases, bounds)
    third = build_index("agr", filters[:90], agencies[:90], cases[:90], bounds)
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
