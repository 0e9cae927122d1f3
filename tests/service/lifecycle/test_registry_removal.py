"""Registry.remove on SQLite and PostgreSQL: records and links go, cases are re-formed.

Registries are built by hand (``planted_update``: records, case ids and links as a linking
run would store them) so every rule is pinned down, and once by a real ``linkage.link`` run.
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

import bloom
from linkage import is_valid_case_id, link, new_case_id
from linkage._registry import cases_table, meta_table
from tests.service.lifecycle.conftest import planted_update


def _case_rows(reg) -> dict[str, tuple[int, float]]:
    k = cases_table.c
    with reg.engine.connect() as c:
        rows = c.execute(sa.select(k.case_id, k.seq, k.confidence).where(k.scope == reg.scope))
        return {x.case_id: (x.seq, x.confidence) for x in rows}


def _by_ref(reg) -> dict[str, tuple[str, float]]:
    a = reg.assignments()
    return {r.record_ref: (r.case_id, r.confidence) for r in a.itertuples()}


@pytest.fixture()
def three_and_one(make_registry):
    """r1, r2, r3 (agencies a, b, c) in case X: r1 linked to both at 0.9/0.95, r2~r3 weak;
    r4 (agency d) alone in case Y with a weak link to r3 and one to r1."""
    reg = make_registry()
    x, y = new_case_id(), new_case_id()
    reg.apply(
        planted_update(
            [("a", "r1", x), ("b", "r2", x), ("c", "r3", x), ("d", "r4", y)],
            [(0, 1, 0.9), (0, 2, 0.95), (1, 2, 0.2), (2, 3, 0.3), (0, 3, 0.4)],
        )
    )
    return reg, x, y


def test_a_disconnected_remainder_splits_and_the_oldest_record_keeps_the_id(three_and_one):
    reg, x, y = three_and_one
    seq_before = _case_rows(reg)
    report = reg.remove([("a", "r1")], threshold=0.5)
    after = _by_ref(reg)
    assert "r1" not in after
    assert after["r2"][0] == x  # r2 is older than r3: it keeps the case id
    new = after["r3"][0]
    assert new not in (x, y) and is_valid_case_id(new)
    assert after["r2"][1] == pytest.approx(1 - 0.2)  # alone now: 1 - its best other link
    assert after["r3"][1] == pytest.approx(1 - 0.3)
    assert after["r4"] == (y, pytest.approx(1 - 0.3))  # lost its 0.4 link to r1
    assert report.removed.to_dict("records") == [{"agency": "a", "record_ref": "r1", "case_id": x}]
    rest = report.cases[x]
    assert (rest.case_id, rest.records, rest.agencies, rest.split_off) == (x, 1, ("b",), (new,))
    assert report.missing == []
    cases = _case_rows(reg)
    assert cases[new][0] == max(s for s, _ in seq_before.values()) + 1  # issued in order
    assert cases[new][1] == pytest.approx(0.7) and cases[x][1] == pytest.approx(0.8)
    with reg.engine.connect() as c:
        m = meta_table.c
        nxt = c.execute(sa.select(m.next_case_seq).where(m.scope == reg.scope)).scalar_one()
    assert nxt == cases[new][0] + 1
    state = reg.state()
    live = set(state.ids.tolist())
    assert set(state.link_a.tolist()) | set(state.link_b.tolist()) <= live  # no dangling link
    assert len(state.link_p) == 2  # r2~r3 and r3~r4 remain


def test_a_remainder_still_linked_at_the_threshold_keeps_the_id(three_and_one):
    reg, x, _ = three_and_one
    report = reg.remove([("a", "r1")], threshold=0.2)
    after = _by_ref(reg)
    assert after["r2"][0] == after["r3"][0] == x
    assert after["r2"][1] == after["r3"][1] == pytest.approx(0.2)  # best link inside the case
    assert report.cases[x].split_off == () and report.cases[x].agencies == ("b", "c")
    assert _case_rows(reg)[x][1] == pytest.approx(0.2)


def test_without_a_threshold_every_stored_link_holds(three_and_one):
    reg, x, _ = three_and_one
    reg.remove([("a", "r1")])
    after = _by_ref(reg)
    assert after["r2"][0] == after["r3"][0] == x


def test_unknown_records_are_reported_and_removing_twice_changes_nothing(three_and_one):
    reg = three_and_one[0]
    first = reg.remove([("b", "r2"), ("a", "nope"), ("z", "r1")], threshold=0.5)
    assert first.missing == [("a", "nope"), ("z", "r1")]  # agency and ref must both match
    before = (reg.assignments(), _case_rows(reg))
    again = reg.remove([("b", "r2")], threshold=0.5)
    assert again.missing == [("b", "r2")] and again.removed.empty and again.cases == {}
    pd.testing.assert_frame_equal(reg.assignments(), before[0])
    assert _case_rows(reg) == before[1]


def test_a_case_left_empty_keeps_its_row_so_its_id_is_never_issued_again(three_and_one):
    reg, x, _ = three_and_one
    report = reg.remove([("a", "r1"), ("b", "r2"), ("c", "r3")], threshold=0.5)
    assert report.cases[x].records == 0 and report.cases[x].split_off == ()
    assert x not in set(reg.assignments()["case_id"])
    assert x in reg.state().all_case_ids
    assert _by_ref(reg)["r4"][1] == pytest.approx(1.0)  # no link left at all


def test_a_removal_rolls_back_with_the_callers_transaction(three_and_one):
    reg, _, _ = three_and_one
    before = (reg.assignments(), _case_rows(reg), len(reg.state().link_p))
    with pytest.raises(RuntimeError), reg.engine.begin() as c:
        reg.remove([("a", "r1")], threshold=0.5, connection=c)
        raise RuntimeError("the caller's next step failed")
    pd.testing.assert_frame_equal(reg.assignments(), before[0])
    assert (_case_rows(reg), len(reg.state().link_p)) == before[1:]


PEOPLE = pd.DataFrame(
    {
        "given_name": ["Zebulon", "Quintessa", "Barnabas", "Amina", "Olena"],
        "family_name": [
            "Okonkwo-Lindqvist",
            "Vasquez-Haraldsen",
            "Tshabalala-Moreau",
            "Yusuf",
            "Kovalenko",
        ],
        "father_name": ["Ignatius", "Evander", "Leopold", "Ahmed", "Ivan"],
        "sex": ["M", "F", "M", "F", "F"],
        "date_of_birth": ["1971-07-23", "1988-11-04", "1959-02-17", "1990-05-05", "2001-07-01"],
        "place_of_birth": ["Timbuktu", "Valparaiso", "Durban", "Mogadishu", "Kharkiv"],
    }
)


def _encode(df, schema, secret, agency, prefix):
    refs = [f"{prefix}-{k}" for k in range(len(df))]
    return bloom.encode(
        df.assign(record_ref=refs), schema, secret, agency=agency, id_column="record_ref"
    )


def test_after_a_removal_the_registry_links_on_and_takes_the_record_back(
    make_registry, person_schema, secret
):
    reg = make_registry()
    batches = [_encode(PEOPLE, person_schema, secret, ag, ag.upper()) for ag in ("a", "b", "c")]
    first = link(batches, registry=reg).assignments
    cases = first.groupby(first["record_ref"].str[2:])["case_id"].nunique()
    assert (cases == 1).all()  # each person is one case across the three agencies
    case0 = first.loc[first.record_ref == "A-0", "case_id"].item()
    report = reg.remove([("a", "A-0")], threshold=0.5)
    assert report.cases[case0].records == 2 and report.cases[case0].agencies == ("b", "c")
    after = _by_ref(reg)
    assert after["B-0"][0] == after["C-0"][0] == case0 and "A-0" not in after
    again = link([_encode(PEOPLE.iloc[:1], person_schema, secret, "a", "A")], registry=reg)
    assert again.assignments["case_id"].tolist() == [case0]  # a new record, same person
    assert len(reg.assignments()) == 3 * len(PEOPLE)
