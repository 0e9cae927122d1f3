"""The query index in memory (:class:`linkage.QueryIndex`): the scan against its numpy oracle
and the linking search, case grouping and agencies per case, the calibration's probabilities,
and changes applied in place (add, remove, re-case, any sequence) against one build of the end
state. The service's store, which reads those changes from a database, is tested in
tests/service/query."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import linkage
from linkage import IndexChange, IndexRows, QueryIndex
from linkage._query_fit import case_probabilities
from linkage._query_index import FIT_CHUNK, chunked_search
from linkage._query_kernel import sort_filters, top_candidates, top_candidates_reference


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
    index = QueryIndex.build("agr", filters, agencies, cases, bounds)
    assert index.records == len(filters) and index.model is not None
    hits = index.search(_noisy(people[[3, 150]], 6, 99), top_k=3, min_confidence=0.0)
    for row, person in enumerate((3, 150)):
        best = hits[row][0]
        assert best.case_id == f"CASE-{person}" and best.agencies == ("a", "b", "c")
        assert best.confidence > 0.9
        assert len(hits[row]) <= 3


def test_search_of_an_empty_registry_answers_nothing():
    index = QueryIndex.build(
        "agr",
        np.zeros((0, 4), np.uint64),
        np.array([], object),
        np.array([], object),
        np.array([[0, 4]]),
    )
    assert index.model is None and index.search(_filters(2), 5) == [[], []]


def assert_same(a: QueryIndex, b: QueryIndex, queries: np.ndarray) -> None:
    """``a`` holds what ``b`` holds, in the same order, and answers as ``b`` does."""
    assert a.record_ids.tolist() == b.record_ids.tolist()
    np.testing.assert_array_equal(a.filters.filters, b.filters.filters)
    np.testing.assert_array_equal(a.filters.popcounts, b.filters.popcounts)
    assert a.case_ids[a.case_code].tolist() == b.case_ids[b.case_code].tolist()
    agency = lambda x: np.asarray(x.agency_names, object)[x.agency_code].tolist()  # noqa: E731
    assert agency(a) == agency(b)
    held = lambda x: {str(x.case_ids[c]): x.agencies_of(c) for c in set(x.case_code.tolist())}  # noqa: E731
    assert held(a) == held(b)
    assert a.search(queries, top_k=5) == b.search(queries, top_k=5)


# -- in memory: a random sequence of changes against one build of the end state -------------
class World:
    """The registry's truth as arrays by id; each change returns the delta the store would
    apply (a withdrawal: its ids read again; a run: the registry compared with the index)."""

    def __init__(self, people, filters, agencies_, cases) -> None:
        self.people = people
        self.ids = list(range(len(filters)))
        self.rows = {i: (filters[i], agencies_[i], cases[i]) for i in self.ids}
        self.next_id, self.next_case = len(filters), 0

    def truth(self) -> tuple[np.ndarray, ...]:
        ids = sorted(self.rows)
        f = np.vstack([self.rows[i][0] for i in ids]) if ids else np.zeros((0, 4), np.uint64)
        a = np.array([self.rows[i][1] for i in ids], object)
        return f, a, np.array([self.rows[i][2] for i in ids], object), np.array(ids, np.int64)

    def rows_of(self, ids) -> IndexRows:
        ids = [i for i in sorted(set(ids)) if i in self.rows]
        if not ids:
            return IndexRows.empty(4)
        return IndexRows(
            np.array(ids, np.int64),
            np.vstack([self.rows[i][0] for i in ids]),
            np.array([self.rows[i][1] for i in ids], object),
            np.array([self.rows[i][2] for i in ids], object),
        )

    def _new_case(self) -> str:
        self.next_case += 1
        return f"NEW-{self.next_case}"

    def withdraw(self, rng, split: bool):
        if not self.rows:
            return None
        gone = int(rng.choice(sorted(self.rows)))
        case = self.rows[gone][2]
        touched = [i for i, r in self.rows.items() if r[2] == case]
        del self.rows[gone]
        rest = [i for i in touched if i != gone]
        if split and len(rest) > 1:  # the part that no longer connects gets a new id
            new = self._new_case()
            for i in rest[1:]:
                f, a, _ = self.rows[i]
                self.rows[i] = (f, a, new)
        return lambda index: IndexChange.reread(self.rows_of(touched), np.array(touched, np.int64))

    def run(self, rng, n: int, merge: bool):
        cases = sorted({r[2] for r in self.rows.values()})
        for _ in range(n):
            person = int(rng.integers(len(self.people)))
            joins = cases and rng.random() < 0.5
            case = str(rng.choice(cases)) if joins else self._new_case()
            agency = str(rng.choice(["a", "b", "c", "d"]))
            self.rows[self.next_id] = (
                _noisy(self.people[[person]], 5, int(rng.integers(1e9)))[0],
                agency,
                case,
            )
            self.next_id += 1
        if merge and len(cases) > 1:
            keep, absorbed = rng.choice(cases, 2, replace=False)
            for i, (f, a, c) in list(self.rows.items()):
                if c == absorbed:
                    self.rows[i] = (f, a, str(keep))

        def delta(index):
            _, a, c, ids = self.truth()
            drop, enter, recase_ids, recase_cases = index.compare(ids, a, c)
            return IndexChange(drop, self.rows_of(enter.tolist()), recase_ids, recase_cases)

        return delta


changes = st.lists(
    st.one_of(
        st.tuples(st.just("withdraw"), st.integers(0, 2**32), st.booleans()),
        st.tuples(st.just("run"), st.integers(0, 2**32), st.integers(1, 15), st.booleans()),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=30, deadline=None)
@given(changes)
def test_changes_applied_in_place_equal_one_build_of_the_end_state(steps):
    people, filters, agencies_, cases, bounds = _registry(40, seed=11)
    world = World(people, filters, agencies_, cases)
    index = QueryIndex.build("agr", filters, agencies_, cases, bounds)
    model = index.model
    for step in steps:
        rng = np.random.default_rng(step[1])
        made = (
            world.withdraw(rng, step[2])
            if step[0] == "withdraw"
            else world.run(rng, step[2], step[3])
        )
        if made is not None:
            index = index.apply(made(index))
    f, a, c, ids = world.truth()
    fresh = QueryIndex.build("agr", f, a, c, bounds, record_ids=ids, model=model)
    assert index.model is model  # the calibration was not refitted: nothing was rebuilt
    assert_same(index, fresh, _noisy(people[:12], 6, 5))


def test_the_fits_chunked_scan_finds_what_one_scan_finds():
    _, filters, *_ = _registry(100)
    prepared = sort_filters(filters)
    q = filters[: FIT_CHUNK * 2 + 5]
    for got, want in zip(
        chunked_search(q, prepared, 0.4, 7), top_candidates(q, prepared, 0.4, 7), strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_add_remove_and_recase_equal_a_build_of_the_result():
    people, filters, agencies, cases, bounds = _registry(60, seed=2)
    first = QueryIndex.build("agr", filters[:100], agencies[:100], cases[:100], bounds)
    new = np.arange(100, 180)
    added = first.add(IndexRows(new, filters[new], agencies[new], cases[new]))
    removed = added.remove(np.array([3, 50, 120, 999]))  # 999: not held, ignored
    changed = removed.recase(np.array([7, 8]), np.array(["X", "X"], object))
    keep = np.setdiff1d(np.arange(180), [3, 50, 120])
    recased = cases.copy()
    recased[[7, 8]] = "X"
    fresh = QueryIndex.build(
        "agr",
        filters[keep],
        agencies[keep],
        recased[keep],
        bounds,
        record_ids=keep,
        model=first.model,
    )
    assert_same(changed, fresh, _noisy(people[:15], 6, 8))
    assert first.records == 100 and added.records == 180  # each change made a new index
    # every id a change names counts (999 too): the refit comes no later than it should
    assert changed.changed_since_fit == 80 + 4 + 2 and changed.model is first.model
    assert changed.needs_refit and not first.needs_refit  # 86 > a quarter of 100
    assert not first.needs_refit_after(IndexChange.dropping(np.arange(25), first.words))
    assert first.needs_refit_after(IndexChange.dropping(np.arange(26), first.words))


def test_the_index_searches_as_linkage_search_chooses():
    """Its candidates are linkage.search's: for a few query rows the exhaustive search (here
    the index's own popcount scan, in parts), which finds what the engine's kernel finds."""
    _, filters, agencies, cases, bounds = _registry(60, seed=5)
    index = QueryIndex.build("agr", filters, agencies, cases, bounds)
    q = _noisy(filters[[3, 70, 150]], 6, 1)
    engine = linkage.search(q, index.filters.filters, 0.5, 7)
    with ThreadPoolExecutor(2) as pool:
        i, j, score = index.candidates(q, 0.5, 7, parts=2, pool=pool)
    got = sorted(zip(i.tolist(), j.tolist(), np.round(score, 12).tolist(), strict=True))
    want = zip(
        engine.i.tolist(), engine.j.tolist(), np.round(engine.score, 12).tolist(), strict=True
    )
    assert len(got) == 9 and got == sorted(want)  # 3 per row above 0.5: same pairs and scores
    from linkage._query_index import SortedScan

    with pytest.raises(ValueError, match="best k"):  # an index never lists every pair
        SortedScan(index.filters).candidates(q, index.filters.filters, 0.5, None)
