"""A tracing index's records with what their batches said: consent scopes (a record whose
consent does not cover the query's scope is never a candidate, and its agency and household
are not named) and households (each hit names the households of its case's records). Without
a scope the index answers as before; changes applied in place equal a build of the end
state, a consent changed later included."""

from __future__ import annotations

import numpy as np

from linkage import HouseholdTag, IndexChange, IndexRows, QueryIndex
from tests.linkage.test_query_index import _noisy, _registry, assert_same

N = 60  # people; each held by agencies a, b and c (rows k, N + k, 2N + k)


def _facts(n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a's records consent to tracing, b's to coordination, c's say nothing; people 0-4 live
    in one household at a (relationships head, spouse, child...) and at b; person 10 agreed
    to nothing anywhere."""
    consent = np.array(["tracing"] * N + ["coordination"] * N + [None] * N, dtype=object)
    consent[[10, N + 10, 2 * N + 10]] = ""
    groups = np.zeros(n_rows, np.uint64)
    relationships = np.full(n_rows, -1, np.int8)
    groups[:5], groups[N : N + 5] = 1111, 2222
    relationships[:5] = relationships[N : N + 5] = [0, 1, 2, 2, 2]
    return groups, relationships, consent


def _index(**facts) -> tuple[np.ndarray, QueryIndex, tuple[np.ndarray, ...]]:
    people, filters, agencies, cases, bounds = _registry(N, seed=6)
    made = _facts(len(filters))
    index = QueryIndex.build(
        "agr",
        filters,
        agencies,
        cases,
        bounds,
        **(dict(zip(("groups", "relationships", "consent"), made, strict=True)) | facts),
    )
    return people, index, made


def _best(index: QueryIndex, people: np.ndarray, person: int, scope: str | None):
    hits = index.search(_noisy(people[[person]], 6, 40 + person), top_k=3, scope=scope)[0]
    return next((h for h in hits if h.case_id == f"CASE-{person}"), None)


def test_without_a_scope_every_record_answers_as_before_the_facts():
    people, index, _ = _index()
    plain = QueryIndex.build(
        "agr", *_registry(N, seed=6)[1:], model=index.model
    )  # the same records, nothing said of them
    q = _noisy(people[:12], 6, 3)
    strip = lambda hits: [[(h.case_id, h.confidence, h.agencies) for h in r] for r in hits]  # noqa: E731
    assert strip(index.search(q, top_k=5)) == strip(plain.search(q, top_k=5))
    assert plain.search(q, top_k=5, scope="tracing") == plain.search(q, top_k=5)
    assert all(h.households == () for r in plain.search(q, top_k=5) for h in r)


def test_a_scope_hides_the_records_whose_consent_does_not_cover_it():
    people, index, _ = _index()
    assert _best(index, people, 3, None).agencies == ("a", "b", "c")
    assert _best(index, people, 3, "tracing").agencies == ("a", "c")  # b: coordination only
    assert _best(index, people, 3, "coordination").agencies == ("b", "c")
    assert _best(index, people, 3, "research").agencies == ("c",)  # c said nothing: every use
    # person 10 agreed to nothing: reached only through records that do not consent
    assert _best(index, people, 10, None) is not None
    for scope in ("tracing", "coordination"):
        assert _best(index, people, 10, scope) is None
    assert index.allowed(np.arange(index.records), "tracing").sum() == 2 * N - 2


def test_a_hit_names_the_households_of_its_records_and_only_those_it_may():
    people, index, _ = _index()
    child = _best(index, people, 2, None)
    assert child.households == (HouseholdTag("a", 1111, 2), HouseholdTag("b", 2222, 2))
    head = _best(index, people, 0, "tracing")
    assert head.households == (HouseholdTag("a", 1111, 0),)  # b's record: coordination only
    # two sought people found in one household: their hits share an (agency, group)
    mother = _best(index, people, 1, "tracing")
    together = {(t.agency, t.group) for t in head.households}
    assert together & {(t.agency, t.group) for t in mother.households} == {("a", 1111)}
    assert _best(index, people, 30, None).households == ()


def _rows(ids: np.ndarray, made, consent: np.ndarray | None = None) -> IndexRows:
    _, filters, agencies, cases, _ = _registry(N, seed=6)
    groups, relationships, held = made
    held = held if consent is None else consent
    return IndexRows(
        ids,
        filters[ids],
        agencies[ids],
        cases[ids],
        groups[ids],
        relationships[ids],
        held[ids],
    )


def _facts_of(index: QueryIndex) -> list[tuple]:
    texts = np.asarray((*index.consent_texts, None), object)
    return list(
        zip(
            index.record_ids.tolist(),
            index.groups.tolist(),
            index.relationships.tolist(),
            texts[index.consent_code].tolist(),
            strict=True,
        )
    )


def test_changes_with_facts_applied_in_place_equal_a_build_and_leave_the_old_index_alone():
    people, whole, made = _index()
    _, filters, _, _, bounds = _registry(N, seed=6)
    ids = np.arange(len(filters))
    first = QueryIndex.from_rows("agr", _rows(ids[:100], made), bounds, model=whole.model)
    added = first.add(_rows(ids[100:], made))
    later = made[2].copy()
    later[[3, N + 3]] = "tracing"  # a consent changed later: its records are read again
    consented = added.apply(
        IndexChange.reread(_rows(np.array([3, N + 3]), made, later), [3, N + 3])
    )
    removed = consented.remove(np.array([4, 150]))
    keep = np.setdiff1d(ids, [4, 150])
    fresh = QueryIndex.from_rows("agr", _rows(keep, made, later), bounds, model=whole.model)
    q = _noisy(people[:12], 6, 8)
    assert_same(removed, fresh, q)
    assert _facts_of(removed) == _facts_of(fresh)
    for scope in (None, "tracing", "coordination"):
        assert removed.search(q, top_k=5, scope=scope) == fresh.search(q, top_k=5, scope=scope)
    # the index before the consent change answers as it did
    assert _best(added, people, 3, "tracing").agencies == ("a", "c")
    assert _best(removed, people, 3, "tracing").agencies == ("a", "b", "c")
