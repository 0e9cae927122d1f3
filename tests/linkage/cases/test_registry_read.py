"""The registry's read API (what the service's routes read): an agency's own records page by
page with the other agencies of each case, counts, the case's records of one record, and
aggregate figures — each equal to what the stored assignments say, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np

import bloom
from linkage import link


def _linked(make_registry, febrl4, febrl_schema, secret):
    reg = make_registry()
    a = bloom.encode(febrl4.a.iloc[:400], febrl_schema, secret, agency="a", id_column="record_ref")
    b = bloom.encode(febrl4.b.iloc[:600], febrl_schema, secret, agency="b", id_column="record_ref")
    link([a, b], registry=reg)
    return reg, reg.assignments()


def test_pages_of_an_agency_cover_its_records_once_with_the_other_agencies_of_each_case(
    make_registry, febrl4, febrl_schema, secret
):
    reg, held = _linked(make_registry, febrl4, febrl_schema, secret)
    mine = held[held["agency"] == "a"]
    assert reg.records("a") == len(mine) == 400 and reg.records() == len(held) == 1000
    pages = [reg.case_page("a", offset, 150) for offset in range(0, 400, 150)]
    assert [len(p) for p in pages] == [150, 150, 100]
    rows = [row for page in pages for row in page]
    assert sorted(r.record_ref for r in rows) == sorted(mine["record_ref"])
    b_cases = set(held.loc[held["agency"] == "b", "case_id"])
    expected = mine.set_index("record_ref")
    for row in rows:
        assert row.case_id == expected.loc[row.record_ref, "case_id"]
        assert row.confidence == expected.loc[row.record_ref, "confidence"]
        assert row.other_agencies == (("b",) if row.case_id in b_cases else ())
    assert sum(bool(r.other_agencies) for r in rows) > 20  # some of these people are in b too
    assert reg.case_page("a", 400, 150) == []


def test_a_records_case_and_the_figures_agree_with_the_assignments(
    make_registry, febrl4, febrl_schema, secret
):
    reg, held = _linked(make_registry, febrl4, febrl_schema, secret)
    row = held.iloc[0]
    ids = reg.case_record_ids(row["agency"], row["record_ref"])
    assert len(ids) == int((held["case_id"] == row["case_id"]).sum())
    assert list(ids) == sorted(ids)
    assert reg.case_record_ids("a", "no such ref") == ()
    f = reg.figures()
    assert f.records_by_agency == {"a": 400, "b": 600}
    per_case = held.groupby("case_id")["agency"].nunique()
    assert f.cases == len(per_case)
    assert f.cases_across_agencies == int((per_case > 1).sum())
    shared = held["case_id"].isin(per_case[per_case > 1].index)
    assert f.records_in_shared_cases == int(shared.sum())
    bins = np.minimum((held["confidence"].to_numpy() * 10).astype(int), 9)
    assert f.confidence_bins == tuple(int((bins == k).sum()) for k in range(10))


def test_the_cases_each_pair_of_agencies_shares_agree_with_the_assignments(
    make_registry, febrl4, febrl_schema, secret
):
    reg = make_registry()
    a = bloom.encode(febrl4.a.iloc[:300], febrl_schema, secret, agency="a", id_column="record_ref")
    b = bloom.encode(febrl4.b.iloc[:300], febrl_schema, secret, agency="b", id_column="record_ref")
    c = bloom.encode(
        febrl4.a.iloc[200:260], febrl_schema, secret, agency="c", id_column="record_ref"
    )
    link([a, b, c], registry=reg)
    held = reg.assignments()
    agencies_of = held.groupby("case_id")["agency"].apply(set)
    expected = {
        (x, y): int(sum(x in s and y in s for s in agencies_of))
        for x, y in (("a", "b"), ("a", "c"), ("b", "c"))
    }
    found = reg.shared_cases()
    assert found == {pair: n for pair, n in expected.items() if n}
    assert found[("a", "c")] == 60 and found[("a", "b")] > 10  # the same people, linked
    assert all(x < y for x, y in found)
