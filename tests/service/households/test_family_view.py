"""The family view of a query's answer (:func:`service._families.family_view`), on hits as
the tracing index makes them (:class:`linkage.CaseHit`, :class:`linkage.HouseholdTag`)."""

from __future__ import annotations

import numpy as np

from linkage import CaseHit, HouseholdTag
from service._families import family_view


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
