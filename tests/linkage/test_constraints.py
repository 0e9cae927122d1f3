"""Constraints in clustering: a cannot-link pair is never in one case, a must-link pair is
unless the rules stand between them, and without constraints nothing changes.

Hypothesis draws registers (any number of agencies, existing cases, new records, tied
links) and constraints between their records; clustering goes through the hooks a run
uses (:func:`linkage._constrained.hold`, then :func:`linkage.cluster` and the case ids of
:func:`linkage.assign_cases`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage import Constraints, LinkageError
from linkage._cluster import assign_cases, cluster
from linkage._constrained import hold
from linkage._constraints import PositionConstraints, constrained_links

FIRST_ID = 1000  # registry ids of the drawn old records: FIRST_ID + position


@st.composite
def constrained_registers(draw):
    n = draw(st.integers(2, 30))
    n_agencies = draw(st.sampled_from([1, 2, 3, 70]))
    agency = np.array(draw(st.lists(st.integers(0, n_agencies - 1), min_size=n, max_size=n)))
    existing = np.array(draw(st.lists(st.integers(-1, 4), min_size=n, max_size=n)))
    m = draw(st.integers(0, 80))
    ends = st.lists(st.integers(0, n - 1), min_size=m, max_size=m)
    a, b = np.array(draw(ends), dtype=np.int64), np.array(draw(ends), dtype=np.int64)
    p = np.array(
        draw(
            st.lists(
                st.sampled_from([0.2, 0.5, 0.9, 1.0]) | st.floats(0, 1), min_size=m, max_size=m
            )
        )
    )
    old = np.flatnonzero(existing >= 0)
    pair = (
        st.tuples(st.sampled_from(old.tolist()), st.sampled_from(old.tolist()))
        if len(old)
        else st.nothing()
    )
    pairs = (
        st.lists(pair.filter(lambda x: x[0] != x[1]), max_size=8) if len(old) > 1 else st.just([])
    )
    must = {tuple(sorted(x)) for x in draw(pairs)}
    cannot = {tuple(sorted(x)) for x in draw(pairs)} - must
    threshold = draw(st.sampled_from([0.0, 0.5, 0.9]))
    exclusive = draw(st.booleans())
    return agency, existing, (a, b, p), must, cannot, threshold, exclusive


def _ids(positions: set[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(FIRST_ID + x, FIRST_ID + y) for x, y in positions]


def _run(agency, existing, links, must, cannot, threshold, exclusive):
    """Labels and case ids of a run's clustering under the constraints (old links: none)."""
    rec_ids = np.where(existing >= 0, FIRST_ID + np.arange(len(existing)), -1)
    empty = (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
    held = hold(Constraints.of(_ids(must), _ids(cannot)), rec_ids, existing, empty, links)
    labels = cluster(
        agency,
        held.existing,
        *held.edges,
        threshold,
        allow_duplicates_within_agency=not exclusive,
        constraints=held.cluster,
    )
    old_ids = np.array([f"CL-{x}" if x >= 0 else None for x in existing.tolist()], dtype=object)
    result = assign_cases(
        labels, held.old_case_ids(labels, old_ids), {}, held.confidence_edges(links)
    )
    return held, labels, result


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(constrained_registers())
def test_no_case_ever_holds_a_cannot_link_pair(drawn):
    agency, existing, links, must, cannot, threshold, exclusive = drawn
    _, labels, result = _run(agency, existing, links, must, cannot, threshold, exclusive)
    for x, y in cannot:
        assert labels[x] != labels[y]
        assert result.case_ids[x] != result.case_ids[y]


def _conflict(labels, agency, cannot, exclusive, x, y) -> bool:
    """Whether the components of x and y may not be one: a shared agency, or a cannot pair."""
    cx, cy = labels == labels[x], labels == labels[y]
    if exclusive and set(agency[cx].tolist()) & set(agency[cy].tolist()):
        return True
    return any((cx[u] and cy[v]) or (cx[v] and cy[u]) for u, v in cannot)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(constrained_registers())
def test_a_must_link_pair_is_in_one_case_unless_a_rule_stands_between_them(drawn):
    agency, existing, links, must, cannot, threshold, exclusive = drawn
    held, labels, result = _run(agency, existing, links, must, cannot, threshold, exclusive)
    outcome = held.outcome(labels, agency, exclusive=exclusive)
    apart = {
        (i - FIRST_ID, j - FIRST_ID): why for i, j, why in (outcome.must_apart if outcome else ())
    }
    for x, y in must:
        if labels[x] == labels[y]:
            assert result.case_ids[x] == result.case_ids[y]
            assert (x, y) not in apart
            continue
        assert _conflict(labels, agency, cannot, exclusive, x, y), (x, y)
        assert apart[x, y] in ("agency", "cannot")
        if apart[x, y] == "agency":
            assert exclusive


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(constrained_registers())
def test_a_split_case_keeps_its_id_on_the_part_with_its_oldest_record(drawn):
    agency, existing, links, _, cannot, threshold, exclusive = drawn
    held, labels, result = _run(agency, existing, links, set(), cannot, threshold, exclusive)
    for case in np.unique(existing[held.released]).tolist():
        members = np.flatnonzero(existing == case)
        first = members.min()
        assert result.case_ids[first] in (f"CL-{case}",) or result.merges.get(f"CL-{case}")
        others = members[labels[members] != labels[first]]
        assert f"CL-{case}" not in set(result.case_ids[others].tolist())
    assert len(set(result.case_ids.tolist())) == len(np.unique(labels))  # one id per case


@settings(max_examples=100, deadline=None)
@given(constrained_registers())
def test_without_constraints_clustering_is_unchanged(drawn):
    agency, existing, (a, b, p), _, _, threshold, exclusive = drawn
    plain = cluster(
        agency, existing, a, b, p, threshold, allow_duplicates_within_agency=not exclusive
    )
    rec_ids = np.where(existing >= 0, FIRST_ID + np.arange(len(existing)), -1)
    empty = (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
    for constraints in (
        None,
        Constraints.empty(),
        Constraints.of(cannot=[(1, 2)]),
    ):  # 1, 2: elsewhere
        held = hold(constraints, rec_ids, existing, empty, (a, b, p))
        assert held.cluster is None
        labels = cluster(
            agency,
            held.existing,
            *held.edges,
            threshold,
            allow_duplicates_within_agency=not exclusive,
            constraints=held.cluster,
        )
        np.testing.assert_array_equal(labels, plain)


def test_cannot_bits_follow_the_agencies_and_a_record_in_many_pairs_has_each():
    c = PositionConstraints(
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.array([0, 0, 5]), np.array([1, 2, 0])
    )
    masks = np.zeros((6, 2), np.uint64)
    masks[:, 0] = 1
    out = c.masks(masks)
    assert out.shape == (6, 3)
    assert (out[:, 0] == 1).all()
    assert out[0, 2] == 0b111 and out[1, 2] == 0b001 and out[2, 2] == 0b010 and out[5, 2] == 0b100
    assert out[3, 2] == out[4, 2] == 0


def test_a_chain_of_must_links_stops_at_a_cannot_link_and_says_why():
    agency = np.array([0, 1, 2])
    existing = np.array([0, 1, 2])
    empty = (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
    held, labels, _ = _run(agency, existing, empty, {(0, 1), (1, 2)}, {(0, 2)}, 0.5, True)
    assert labels[0] == labels[1] and labels[1] != labels[2]
    assert held.outcome(labels, agency).must_apart == ((FIRST_ID + 1, FIRST_ID + 2, "cannot"),)


def test_a_must_link_that_would_join_two_records_of_one_agency_stays_apart():
    agency = np.array([0, 1, 0])
    existing = np.array([0, 0, 1])  # records 0 and 1 in one case; record 2 of agency 0 alone
    empty = (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
    held, labels, _ = _run(agency, existing, empty, {(1, 2)}, set(), 0.5, True)
    assert labels[1] != labels[2]
    outcome = held.outcome(labels, agency)
    assert outcome.must_apart == ((FIRST_ID + 1, FIRST_ID + 2, "agency"),)
    assert outcome.summary()["must_links_apart_agency"] == 1
    # where duplicates are allowed, it joins
    _, labels, _ = _run(agency, existing, empty, {(1, 2)}, set(), 0.5, False)
    assert labels[1] == labels[2]


def test_confidence_counts_a_must_link_as_certain_and_a_cannot_link_as_none():
    links = (np.array([0, 1]), np.array([1, 2]), np.array([0.4, 0.7]))
    a, b, p = constrained_links(np.array([[0, 1]]), np.array([[1, 2]]), links)
    assert list(zip(a.tolist(), b.tolist(), p.tolist(), strict=True)) == [
        (0, 1, 0.4),
        (1, 2, 0.0),
        (0, 1, 1.0),
    ]


def test_constraints_are_normalised_and_a_pair_of_both_kinds_is_refused():
    c = Constraints.of(must=[(5, 3), (3, 5), (1, 2)], cannot=[(9, 7)])
    assert c.must.tolist() == [[1, 2], [3, 5]] and c.cannot.tolist() == [[7, 9]] and len(c) == 3
    with pytest.raises(LinkageError, match="both"):
        Constraints.of(must=[(1, 2)], cannot=[(2, 1)])
    with pytest.raises(LinkageError, match="twice"):
        Constraints.of(must=[(4, 4)])
