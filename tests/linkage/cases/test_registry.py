"""Stable case ids across incremental runs, merges with aliases, refusals."""

import pandas as pd
import pytest

import bloom
from linkage._caseid import is_valid_case_id
from linkage._link import link, plan_link
from linkage._registry import Registry
from linkage._types import LinkageError

ADDRESS = ["street_number", "address_1", "address_2", "suburb", "postcode", "state"]
PERSON = ["given_name", "surname", "date_of_birth"]


def _batch(df, schema, secret, agency):
    return bloom.encode(df, schema, secret, agency=agency, id_column="record_ref")


def test_incremental_runs_keep_every_case_id(make_registry, febrl4, febrl_schema, secret):
    reg = make_registry()
    a = _batch(febrl4.a.iloc[:1500], febrl_schema, secret, "a")
    b = _batch(febrl4.b, febrl_schema, secret, "b")
    first = link([a, b], registry=reg).assignments
    assert first["case_id"].map(is_valid_case_id).all()
    c_df = febrl4.a.iloc[1500:3000]
    c = _batch(c_df, febrl_schema, secret, "c")
    second = link([c], registry=reg).assignments
    stored = reg.assignments()
    before = first.merge(stored, on=["agency", "record_ref"], suffixes=("_before", "_now"))
    assert (before["case_id_before"] == before["case_id_now"]).all()  # no id changed
    # new records joined the existing cases of their duplicates in agency b
    joined = second.merge(stored[stored.agency == "b"], on="case_id")
    assert len(joined) >= 0.99 * len(c_df)
    ent = lambda s: s.str.split("-").str[1]  # noqa: E731
    assert (ent(joined["record_ref_x"]) == ent(joined["record_ref_y"])).mean() >= 0.999


def test_relinking_the_same_batch_changes_nothing(tmp_path, febrl4, febrl_schema, secret):
    reg = Registry.open(tmp_path / "reg.sqlite")
    a = _batch(febrl4.a.iloc[:800], febrl_schema, secret, "a")
    b = _batch(febrl4.b.iloc[:4000], febrl_schema, secret, "b")
    first = link([a, b], registry=reg).assignments
    again = link([a], registry=reg).assignments
    merged = again.merge(first, on=["agency", "record_ref"])
    assert (merged["case_id_x"] == merged["case_id_y"]).all()
    assert len(reg.assignments()) == 4800


def test_a_record_joining_two_cases_merges_them_with_an_alias(
    make_registry, febrl4, febrl_schema, secret
):
    """Names-only and address-only records cannot meet; a full record links both."""
    reg = make_registry()
    ids = febrl4.true_pairs.iloc[:400]
    full = febrl4.a.set_index("record_ref").loc[ids["ref_a"]].reset_index()
    names_only = full.assign(**{c: None for c in ADDRESS})
    address_only = full.assign(**{c: None for c in PERSON})
    link([_batch(names_only, febrl_schema, secret, "names")], registry=reg)
    first = link(
        [_batch(address_only, febrl_schema, secret, "addresses")], registry=reg
    ).assignments
    assert first["case_id"].nunique() == 400  # nothing to link them by
    before = reg.assignments()
    report = link([_batch(full, febrl_schema, secret, "full")], registry=reg)
    after = reg.assignments()
    assert len(report.merges) >= 0.95 * 400
    assert reg.aliases() == report.merges  # every absorbed id is kept, pointing at its survivor
    names_case = before[before.agency == "names"].set_index("record_ref")["case_id"]
    addr_case = before[before.agency == "addresses"].set_index("record_ref")["case_id"]
    for ref in ids["ref_a"][:50]:
        older, younger = names_case[ref], addr_case[ref]  # the names run issued ids first
        if younger in report.merges:
            assert report.merges[younger] == older
            assert reg.resolve(younger) == older
            now = after[(after.agency == "addresses") & (after.record_ref == ref)]["case_id"].item()
            assert now == older


def test_refusals_name_the_problem(
    make_registry, febrl4, febrl_schema, person_schema, secret, people
):
    a = _batch(febrl4.a.iloc[:50], febrl_schema, secret, "a")
    p = bloom.encode(people, person_schema, secret, agency="p", id_column="ref")
    with pytest.raises(LinkageError, match="same schema") as e:
        link([a, p])
    assert febrl_schema.fingerprint in str(e.value) and person_schema.fingerprint in str(e.value)
    with pytest.raises(LinkageError, match="at least one"):
        link([])
    with pytest.raises(LinkageError, match="share an"):
        link([a, a])
    with pytest.raises(LinkageError, match="threshold"):
        link([a], threshold=1.5)
    reg = make_registry()
    link([a], registry=reg)
    with pytest.raises(LinkageError, match="registry holds records of schema"):
        link([p], registry=reg)
    changed = bloom.EncodedBatch(a.record_refs, a.filters[::-1].copy(), a.metadata)
    with pytest.raises(LinkageError, match="already in the registry with other filters"):
        link([changed], registry=reg)
    assert len(reg.assignments()) == 50  # nothing of a refused run was stored


def test_singletons_get_their_own_case(febrl4, febrl_schema, secret):
    a = _batch(febrl4.a.iloc[:300], febrl_schema, secret, "a")
    b = _batch(febrl4.b.iloc[:300], febrl_schema, secret, "b")
    out = link([a, b]).assignments
    sizes = out.groupby("case_id").size()
    assert (sizes == 1).any() and sizes.max() <= 2
    single = out[out["case_id"].map(sizes) == 1]
    assert single["case_id"].is_unique
    assert pd.api.types.is_float_dtype(out["confidence"])


def test_a_planned_run_is_stored_in_the_callers_transaction_or_not_at_all(
    make_registry, febrl4, febrl_schema, secret
):
    """plan_link stores nothing; apply(connection=...) commits or rolls back with the caller's
    other changes; what it stores is what link stores."""
    a = _batch(febrl4.a.iloc[:300], febrl_schema, secret, "a")
    b = _batch(febrl4.b.iloc[:300], febrl_schema, secret, "b")
    reg, twin = make_registry(), make_registry()
    planned = plan_link([a, b], state=reg.state())
    assert planned.update is not None and len(planned.update.new_refs) == 600
    assert reg.meta() is None and reg.assignments().empty  # nothing stored yet

    class AbandonedError(Exception):
        pass

    with pytest.raises(AbandonedError), reg.engine.begin() as conn:
        reg.apply(planned.update, connection=conn)
        raise AbandonedError  # the caller's transaction rolls back: the registry's changes with it
    assert reg.meta() is None and reg.assignments().empty
    with reg.engine.begin() as conn:
        reg.apply(planned.update, connection=conn)
    stored = reg.assignments().sort_values(["agency", "record_ref"], ignore_index=True)
    linked = link([a, b], registry=twin).assignments  # the same seed: the same cases
    expected = planned.assignments.sort_values(["agency", "record_ref"], ignore_index=True)
    assert stored[["agency", "record_ref"]].equals(expected[["agency", "record_ref"]])
    assert (stored["case_id"] == expected["case_id"]).all()
    same_case = lambda df: df.groupby("case_id")["record_ref"].apply(frozenset)  # noqa: E731
    assert set(same_case(linked)) == set(same_case(stored))
    assert plan_link([a], state=None).update is None  # no registry: nothing to store
