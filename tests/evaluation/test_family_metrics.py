"""Family metrics on hand-made cases: precision on sibling and twin pairs, family-level recall
of tracing, and which sought members an answer found."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation import (
    family_recall,
    family_scores,
    members_found,
    pairwise_scores,
    related_pair_precision,
)

# --- precision on related pairs ---------------------------------------------------------------


def test_linking_two_siblings_is_wrong_and_a_childs_own_records_right():
    # child 1 at two agencies, child 2 at one, their mother (outside the group)
    entity = np.array([1, 1, 2, 3])
    group = np.array([10, 10, 10, None], dtype=object)
    one_case = np.array(["c", "c", "c", "c"])
    s = related_pair_precision(one_case, entity, group)
    assert (s.links, s.same_person, s.true_pairs, s.wrong_links) == (3, 1, 1, 2)
    assert s.precision == pytest.approx(1 / 3) and s.recall == 1.0
    apart = np.array(["c", "c", "d", "c"])
    s = related_pair_precision(apart, entity, group)
    assert (s.links, s.same_person, s.precision, s.recall) == (1, 1, 1.0, 1.0)


def test_no_link_within_a_group_is_precise_and_misses_the_same_person_pairs():
    s = related_pair_precision(
        np.array([1, 2, 3]), np.array([1, 1, 2]), np.array(["h", "h", "h"], dtype=object)
    )
    assert (s.links, s.precision, s.true_pairs, s.recall) == (0, 1.0, 1, 0.0)


def test_links_across_groups_and_outside_them_do_not_count():
    # two children of household 1 and one of household 2, all in one case; a parent too
    entity = np.array([1, 2, 3, 4])
    group = np.array([1.0, 1.0, 2.0, np.nan])
    s = related_pair_precision(np.zeros(4), entity, group)
    assert (s.links, s.same_person) == (1, 0)
    assert s.precision == 0.0


def brute(predicted, entity, group):
    links = same = true_pairs = 0
    for i, j in itertools.combinations(range(len(entity)), 2):
        if group[i] is None or group[j] is None or group[i] != group[j]:
            continue
        links += predicted[i] == predicted[j]
        same += predicted[i] == predicted[j] and entity[i] == entity[j]
        true_pairs += entity[i] == entity[j]
    return links, same, true_pairs


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 5), st.one_of(st.none(), st.integers(0, 2))),
        max_size=25,
    )
)
def test_counts_equal_those_of_every_pair_enumerated(rows):
    predicted = [r[0] for r in rows]
    entity = [r[1] for r in rows]
    group = [r[2] for r in rows]
    s = related_pair_precision(np.array(predicted), np.array(entity), np.array(group, dtype=object))
    assert (s.links, s.same_person, s.true_pairs) == brute(predicted, entity, group)


# --- family_scores ----------------------------------------------------------------------------


def test_family_scores_take_siblings_and_twins_from_the_truth():
    truth = pd.DataFrame(
        {
            "agency": ["a", "b", "a", "b", "a", "b", "a"],
            "record_ref": ["1", "1", "2", "2", "3", "3", "4"],
            "entity_id": [1, 1, 2, 2, 3, 3, 4],
            "household": [7, 7, 7, 7, 7, 7, 8],
            "role": ["child", "child", "child", "child", "head", "head", "child"],
            "twin": [7, 7, 7, 7, -1, -1, -1],
        }
    )
    # the twins' four records in one case, the head linked correctly, one unlabelled record
    assignments = pd.DataFrame(
        {
            "agency": ["a", "b", "a", "b", "a", "b", "a", "b"],
            "record_ref": ["1", "1", "2", "2", "3", "3", "4", "9"],
            "case_id": ["t", "t", "t", "t", "h", "h", "x", "x"],
        }
    )
    s = family_scores(assignments, truth)
    assert (s.twins.links, s.twins.same_person, s.twins.true_pairs) == (6, 2, 2)
    assert s.twins.precision == pytest.approx(1 / 3)
    assert (s.siblings.links, s.siblings.same_person) == (6, 2)  # record 4: another household
    entity = [1, 1, 2, 2, 3, 3, 4, "unlabelled:b:9"]
    assert s.pairwise == pairwise_scores(
        assignments["case_id"].to_numpy(), np.array(entity, dtype=object)
    )
    assert s.pairwise.predicted_pairs == 6 + 1 + 1


# --- tracing ----------------------------------------------------------------------------------


def test_family_recall_counts_families_with_every_and_with_some_member_found():
    family = np.array(["f1", "f1", "f2", "f2", "f2", "f3", "f3"])
    found = np.array([True, True, True, False, False, False, False])
    r = family_recall(family, found)
    assert (r.families, r.members) == (3, 7)
    assert r.every_member_found == pytest.approx(1 / 3)
    assert r.some_member_found == pytest.approx(2 / 3)
    assert r.members_found == pytest.approx(3 / 7)


def test_family_recall_of_nothing_and_mismatched_input():
    assert family_recall(np.array([]), np.array([], dtype=bool)).families == 0
    with pytest.raises(ValueError, match="one value per sought member"):
        family_recall(np.array([1, 2]), np.array([True]))


def test_a_member_is_found_when_an_answered_record_is_the_persons():
    sought = pd.DataFrame({"record_ref": ["T1-1", "T1-2", "T1-3"], "entity_id": [5, 6, 7]})
    truth = pd.DataFrame(
        {
            "agency": ["a", "a", "b", "b"],
            "record_ref": ["r1", "r2", "r1", "r3"],
            "entity_id": [5, 6, 7, 6],
        }
    )
    answers = pd.DataFrame(
        {
            "record_ref": ["T1-1", "T1-2", "T1-2", "T1-3"],
            "agency": ["a", "a", "b", "a"],
            "answer_ref": ["r1", "r1", "r3", "r2"],  # T1-3 answered with someone else
        }
    )
    assert members_found(sought, answers, truth).tolist() == [True, True, False]
    none = answers.iloc[:0]
    assert members_found(sought, none, truth).tolist() == [False, False, False]
