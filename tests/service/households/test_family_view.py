"""The family view of a query's answer (:func:`service._families.family_view`), on hits as
the tracing index makes them (:class:`linkage.CaseHit`, :class:`linkage.HouseholdTag`)."""

from __future__ import annotations

import numpy as np

from linkage import CaseHit, HouseholdTag
from service._families import family_view, lead_rows


def _hit(case: str, *tags: tuple[str, int]) -> CaseHit:
    return CaseHit(
        case,
        0.9,
        tuple(sorted({a for a, _ in tags})),
        tuple(HouseholdTag(a, g, 2) for a, g in tags),
    )


def test_members_whose_best_cases_share_a_household_are_found_together():
    groups = np.array([7, 7, 7, 9, 0], np.uint64)
    hits = [
        [_hit("C1", ("agency-a", 11), ("agency-b", 21))],
        [_hit("C2", ("agency-a", 11)), _hit("C9", ("agency-b", 21))],  # only the best counts
        [],  # not found
        [_hit("C4", ("agency-a", 11))],  # another family: never together with family 7
        [_hit("C5", ("agency-a", 11))],  # in no family
    ]
    (seven, nine) = family_view(groups, hits)
    assert (seven.members, seven.found, seven.together) == ((0, 1, 2), (0, 1), (0, 1))
    assert seven.households == (("agency-a", (0, 1)),)
    assert (nine.members, nine.found, nine.together, nine.households) == ((3,), (3,), (), ())


def test_one_case_found_for_two_members_is_not_two_people_together():
    groups = np.array([5, 5], np.uint64)
    hits = [[_hit("C1", ("agency-a", 11))], [_hit("C1", ("agency-a", 11))]]
    (family,) = family_view(groups, hits)
    assert (family.found, family.together, family.households) == ((0, 1), (), ())


def test_households_are_per_agency_and_keys_of_agencies_never_mix():
    groups = np.array([3, 3, 3], np.uint64)
    hits = [
        [_hit("C1", ("agency-a", 11), ("agency-b", 11))],
        [_hit("C2", ("agency-b", 11))],
        [_hit("C3", ("agency-a", 11))],
    ]  # the same key at two agencies is two unrelated households
    (family,) = family_view(groups, hits)
    assert family.households == (("agency-a", (0, 2)), ("agency-b", (0, 1)))
    assert family.together == (0, 1, 2)


def test_a_query_without_families_has_none():
    assert family_view(np.zeros(3, np.uint64), [[], [], []]) == []


def _low(case: str, *tags: tuple[str, int]) -> CaseHit:
    return CaseHit(
        case,
        0.02,
        tuple(sorted({a for a, _ in tags})),
        tuple(HouseholdTag(a, g, 3) for a, g in tags),
    )


def test_a_member_not_found_gets_leads_through_a_found_relatives_household():
    groups = np.array([4, 4, 4, 6], np.uint64)
    hits = [
        [_hit("C1", ("agency-a", 11), ("agency-b", 30))],  # the mother, found
        [],  # a child not found
        [],  # another child not found
        [_hit("C7", ("agency-a", 11))],  # another family's member, found
    ]
    assert lead_rows(groups, hits) == [1, 2]  # not the found, not another family's
    wider = {
        1: [
            _low("C2", ("agency-a", 11)),  # in the mother's household at agency-a: a lead
            _low("C3", ("agency-a", 12)),  # another household there: not
            _low("C4"),  # in no household: not
            _low("C1", ("agency-a", 11)),  # the mother's own case: one record, one person
        ],
        2: [_low("C5", ("agency-b", 30), ("agency-a", 11))],  # with her at both agencies
    }
    (family, other) = family_view(groups, hits, wider)
    assert family.found == (0,) and other.leads == ()
    one, two = family.leads
    assert (one.member, one.case_id, one.households) == (1, "C2", (("agency-a", (0,)),))
    assert one.confidence == 0.02
    assert (two.member, two.case_id) == (2, "C5")
    assert two.households == (("agency-a", (0,)), ("agency-b", (0,)))


def test_no_found_relative_in_a_household_no_wider_search_and_no_leads():
    groups = np.array([4, 4, 9], np.uint64)
    hits = [[CaseHit("C1", 0.9, ("agency-a",))], [], []]  # found, but registered alone
    assert lead_rows(groups, hits) == []
    (family, lone) = family_view(groups, hits)
    assert family.leads == () and lone.leads == ()
