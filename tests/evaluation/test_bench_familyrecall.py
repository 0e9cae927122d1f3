"""The counting of `caselink bench --only families_recall` (:mod:`evaluation._bench_familyrecall`)
on hand-made answers: which sought members count as found (a case holding one of the person's
records), per family, in the top 5 and the best case only, what the service told the tracer,
who is reachable under a consent scope, and why the misses were missed. The service itself is
not started here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation._bench_familyrecall import (
    answered_records,
    beside_found_relatives,
    led_records,
    missed_members,
    recall_figures,
    right_cases,
)

# person 1 is held by two agencies (case C1); persons 2, 3, 4 by one each
HELD = pd.DataFrame(
    {
        "agency": ["a", "b", "a", "b", "a"],
        "record_ref": ["A1", "B1", "A2", "B3", "A4"],
        "case_id": ["C1", "C1", "C2", "C3", "C4"],
    }
)
TRUTH = HELD[["agency", "record_ref"]].assign(entity_id=[1, 1, 2, 3, 4])
SOUGHT = pd.DataFrame(
    {
        "record_ref": ["F1-1", "F1-2", "F2-1", "F2-2"],
        "household_id": ["F1", "F1", "F2", "F2"],
        "entity_id": [1, 2, 3, 4],
        "role": ["head", "child", "head", "child"],
        "registrations": [2, 1, 1, 1],
        "tracing_registrations": [1, 1, 1, 0],
    }
)
QUERIES = pd.DataFrame(
    {
        "record_ref": ["F1-1", "F1-2", "F2-1", "F2-2"],
        "date_of_birth": ["1970-03-02", "2001", None, "2004-05-06"],
        "father_name": ["Omar", None, None, "Ali"],
        "place_of_birth": [None, "Homs", None, None],
    }
)


def _cands(*pairs: tuple[str, float]) -> list[dict]:
    return [{"case_id": c, "confidence": p, "agencies": []} for c, p in pairs]


def _answer(results: dict[str, list], answered: list[str], together: list[str]) -> dict:
    members = list(results)
    return {
        "results": [{"query_ref": r, "candidates": c} for r, c in results.items()],
        "families": [{"members": members, "members_found": answered, "found_together": together}],
    }


# F1: both found (F1-2 only at rank 2, behind another person's case); F2: F2-1 answered with
# the wrong case only, F2-2 answered nothing
ANSWERS = [
    _answer(
        {"F1-1": _cands(("C1", 0.9)), "F1-2": _cands(("C3", 0.3), ("C2", 0.2))},
        ["F1-1", "F1-2"],
        ["F1-1", "F1-2"],
    ),
    _answer({"F2-1": _cands(("C4", 0.5)), "F2-2": []}, ["F2-1"], []),
]


def test_a_member_is_found_only_through_a_case_holding_one_of_its_records():
    top5 = answered_records(ANSWERS, HELD, best_only=False)
    assert sorted(top5.itertuples(index=False, name=None)) == [
        ("F1-1", "a", "A1"),
        ("F1-1", "b", "B1"),
        ("F1-2", "a", "A2"),
        ("F1-2", "b", "B3"),
        ("F2-1", "a", "A4"),
    ]
    best = answered_records(ANSWERS, HELD, best_only=True)
    assert set(best["record_ref"]) == {"F1-1", "F1-2", "F2-1"}
    assert "A2" not in set(best["answer_ref"])


def test_family_shares_count_every_and_some_member_found_per_family():
    r = recall_figures(SOUGHT, ANSWERS, HELD, TRUTH)
    assert r["families"] == 2 and r["members"] == 4
    assert r["top5"] == {"some_member_found": 0.5, "every_member_found": 0.5, "members_found": 0.5}
    assert r["top1"] == {"some_member_found": 0.5, "every_member_found": 0.0, "members_found": 0.25}
    assert r["top5_or_lead"]["leads"] == 0  # no family gave a lead: as the top 5
    assert r["top5_or_lead"]["members_found"] == 0.5
    assert r["reachable"]["members"] == 1.0
    assert r["reachable"]["every_member_found_where_every_member_reachable"] == 0.5
    # the tracer was told F1 fully answered and F2 half answered: right or wrong
    assert r["service_view"] == {
        "families_with_members_answered": 1.0,
        "families_with_every_member_answered": 0.5,
        "families_found_together": 0.5,
    }


def test_a_lead_holding_the_person_counts_as_found_with_leads_only():
    # F2-2 (person 4, record A4 in case C4) gets two leads: C2 (person 2) and C4 (its own)
    led = [dict(a) for a in ANSWERS]
    led[1] = {
        **ANSWERS[1],
        "families": [
            {
                **ANSWERS[1]["families"][0],
                "leads": [
                    {"member": "F2-2", "case_id": "C2", "confidence": 0.01},
                    {"member": "F2-2", "case_id": "C4", "confidence": 0.02},
                ],
            }
        ],
    }
    assert sorted(led_records(led, HELD).itertuples(index=False, name=None)) == [
        ("F2-2", "a", "A2"),
        ("F2-2", "a", "A4"),
    ]
    r = recall_figures(SOUGHT, led, HELD, TRUTH)
    assert r["top5"]["members_found"] == 0.5  # leads are not answers
    assert r["top5_or_lead"]["members_found"] == 0.75
    assert (
        r["top5_or_lead"]["leads"] == 2 and r["top5_or_lead"]["members_found_by_a_lead_alone"] == 1
    )
    assert r["top5_or_lead"]["every_member_found"] == 0.5  # F2-1 was answered wrongly


def test_under_a_scope_a_member_without_consenting_registrations_is_unreachable():
    r = recall_figures(SOUGHT, ANSWERS, HELD, TRUTH, scoped=True)["reachable"]
    assert r["members"] == 0.75
    assert r["families_with_every_member"] == 0.5 and r["families_with_some_member"] == 1.0
    assert r["every_member_found_where_every_member_reachable"] == 1.0  # F1 alone


def test_answers_that_leave_a_sought_member_out_of_their_families_are_refused():
    with pytest.raises(ValueError, match="each sought member once"):
        recall_figures(SOUGHT, ANSWERS[:1], HELD, TRUTH)


def test_misses_are_told_apart_by_where_the_right_case_stood():
    wide = [
        _answer({"F1-1": _cands(("C1", 0.9)), "F1-2": _cands(("C3", 0.3), ("C2", 0.2))}, [], []),
        _answer({"F2-1": _cands(("C4", 0.5), ("C3", 0.01)), "F2-2": _cands(("C2", 0.04))}, [], []),
    ]
    right = right_cases(SOUGHT, wide, HELD, TRUTH)
    assert sorted(right.itertuples(index=False, name=None)) == [
        ("F1-1", 1, 0.9, "C1"),
        ("F1-2", 2, 0.2, "C2"),
        ("F2-1", 2, 0.01, "C3"),
    ]
    found = np.array([True, True, False, False])
    m = missed_members(SOUGHT, QUERIES, found, right)
    assert (m["missed"], m["of"]) == (2, 4)
    assert m["right_case_below_confidence_floor"] == 1  # F2-1, at 0.01
    assert m["right_case_ranked_below_top5"] == 0
    assert m["right_case_not_among_20_candidates"] == 1  # F2-2
    assert m["by_role"] == {"child": {"missed": 1, "of": 2}, "head": {"missed": 1, "of": 2}}
    assert m["by_registrations"] == {"1": {"missed": 2, "of": 3}, "2": {"missed": 0, "of": 1}}
    assert m["by_description"]["date_of_birth"] == {
        "full": {"missed": 1, "of": 2},
        "none": {"missed": 1, "of": 1},
        "year": {"missed": 0, "of": 1},
    }
    assert m["by_description"]["place_of_birth"] == {
        "given": {"missed": 0, "of": 1},
        "none": {"missed": 2, "of": 3},
    }


def test_a_miss_beside_a_found_relative_shares_a_household_with_its_right_case():
    # at agency a, A1 (person 1) and A2 (person 2) in one household; at b, B1 (person 1) and
    # B3 (person 3) in one household, but persons 1 and 3 are sought in different families
    held = HELD.assign(household_id=["h1", "g7", "h1", "g7", None])
    found = pd.DataFrame({"record_ref": ["F1-1"], "case_id": ["C1"]})
    missed = pd.DataFrame({"record_ref": ["F1-2", "F2-1"], "case_id": ["C2", "C3"]})
    assert beside_found_relatives(SOUGHT, found, missed, held) == 1  # F1-2 alone
    apart = held.assign(household_id=["h1", "g7", "h9", "g7", None])
    assert beside_found_relatives(SOUGHT, found, missed, apart) == 0
