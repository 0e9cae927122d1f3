"""Review decisions as constraints on a registry, SQLite and PostgreSQL: the next run respects
them against what the model would decide, a run without new records applies them too, and a
withdrawn record takes its constraints with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bloom
from linkage import (
    Constraints,
    LinkageError,
    RegistryError,
    add_constraint,
    enforce_constraints,
    link,
    read_constraints,
)


@pytest.fixture(scope="module")
def registers(person_schema, secret):
    """Two agencies' batches over 300 people, and a small third batch for a later run."""
    from evaluation import generate_synthetic

    data = generate_synthetic(300, 3, seed=11)
    batches = {
        a: bloom.encode(df, person_schema, secret, agency=a, id_column="record_ref")
        for a, df in data.agencies.items()
    }
    return batches


def _state_frame(registry) -> pd.DataFrame:
    s = registry.state()
    return pd.DataFrame({"id": s.ids, "agency": s.agencies, "ref": s.refs, "case": s.case_ids})


def _pairs(registry) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(a linked pair of agency-a and agency-b), (two records of those agencies each alone
    in its case), (a record of agency-b linked with agency-a, and another agency-a record
    alone): registry ids."""
    df = _state_frame(registry)
    size = df.groupby("case")["id"].transform("size")
    ab = df[df.agency.isin(["agency-a", "agency-b"])]
    together = ab[ab.groupby("case")["agency"].transform("nunique") == 2]
    case = together.case.iloc[0]
    linked = together[together.case == case].sort_values("agency")["id"].tolist()
    alone = df[size == 1]
    a_alone = alone[alone.agency == "agency-a"]["id"].tolist()
    b_alone = alone[alone.agency == "agency-b"]["id"].tolist()
    other = together[together.case != case]
    b_linked = other[other.agency == "agency-b"]["id"].iloc[0]
    return (linked[0], linked[1]), (a_alone[0], b_alone[0]), (int(b_linked), a_alone[1])


def _case_of(registry, rec: int) -> str:
    df = _state_frame(registry)
    return str(df.loc[df.id == rec, "case"].iloc[0])


def test_the_next_run_respects_must_and_cannot_links_against_the_model(make_registry, registers):
    registry = make_registry()
    link([registers["agency-a"], registers["agency-b"]], registry=registry)
    (x, y), (u, v), (b, a2) = _pairs(registry)
    assert _case_of(registry, x) == _case_of(registry, y)  # the model linked them
    assert _case_of(registry, u) != _case_of(registry, v)  # and not these
    case_x = _case_of(registry, x)
    with registry.engine.begin() as c:
        assert add_constraint(c, registry.scope, y, x, "cannot") is True
        assert add_constraint(c, registry.scope, x, y, "cannot") is False  # once
        add_constraint(c, registry.scope, u, v, "must")
        add_constraint(c, registry.scope, b, a2, "must")  # b's case holds agency-a already
        held = read_constraints(c, registry.scope)
    assert held.cannot.tolist() == [sorted([x, y])] and len(held.must) == 2
    report = link([registers["agency-c"]], registry=registry, constraints=held)
    assert _case_of(registry, x) != _case_of(registry, y)
    assert case_x in (_case_of(registry, x), _case_of(registry, y))  # one part keeps the id
    assert case_x == _case_of(registry, min(x, y))  # the part with the older record
    assert _case_of(registry, u) == _case_of(registry, v)
    assert _case_of(registry, b) != _case_of(registry, a2)
    outcome = report.constraints
    assert outcome is not None
    assert outcome.must_apart == ((min(b, a2), max(b, a2), "agency"),)
    assert outcome.cases_split == 1 and outcome.summary()["must_links_apart_agency"] == 1
    # the record alone before, now in a case with a must-link partner: certain
    conf = registry.assignments().set_index(["agency", "record_ref"])["confidence"]
    df = _state_frame(registry).set_index("id")
    assert conf[tuple(df.loc[u, ["agency", "ref"]])] == 1.0


def test_a_run_without_new_records_applies_the_constraints(make_registry, registers):
    registry = make_registry()
    link([registers["agency-a"], registers["agency-b"]], registry=registry)
    (x, y), (u, v), _ = _pairs(registry)
    with registry.engine.begin() as c:
        add_constraint(c, registry.scope, x, y, "cannot")
        add_constraint(c, registry.scope, u, v, "must")
        held = read_constraints(c, registry.scope)
    before = registry.assignments()
    report = enforce_constraints(registry.state(), held, threshold=0.5)
    assert report.update is not None and len(report.update.new_refs) == 0
    registry.apply(report.update)
    assert _case_of(registry, x) != _case_of(registry, y)
    assert _case_of(registry, u) == _case_of(registry, v)
    assert report.constraints.cases_split == 1 and report.constraints.must_apart == ()
    assert report.merges  # the younger of u's and v's cases merged into the older
    after = registry.assignments()
    assert len(after) == len(before)
    assert set(report.assignments["record_ref"]) <= set(before["record_ref"])
    again = enforce_constraints(registry.state(), held, threshold=0.5)  # nothing left to do
    assert len(again.update.changed_ids) == 0 and not again.update.new_cases


def test_a_withdrawn_record_takes_its_constraints_with_it(make_registry, registers):
    registry = make_registry()
    link([registers["agency-a"], registers["agency-b"]], registry=registry)
    (x, y), (u, v), _ = _pairs(registry)
    with registry.engine.begin() as c:
        add_constraint(c, registry.scope, x, y, "cannot")
        add_constraint(c, registry.scope, u, v, "must")
    df = _state_frame(registry).set_index("id")
    registry.remove([tuple(df.loc[x, ["agency", "ref"]])])
    with registry.engine.connect() as c:
        held = read_constraints(c, registry.scope)
    assert held.cannot.tolist() == [] and held.must.tolist() == [sorted([u, v])]


def test_a_constraint_is_never_reversed_and_names_records_of_the_registry(make_registry, registers):
    registry = make_registry()
    link([registers["agency-a"], registers["agency-b"]], registry=registry)
    (x, y), _, _ = _pairs(registry)
    with registry.engine.begin() as c:
        add_constraint(c, registry.scope, x, y, "must")
    with registry.engine.begin() as c, pytest.raises(RegistryError, match="never reversed"):
        add_constraint(c, registry.scope, x, y, "cannot")
    with registry.engine.begin() as c, pytest.raises(RegistryError, match="not in the registry"):
        add_constraint(c, registry.scope, x, 10**12, "cannot")
    with registry.engine.begin() as c, pytest.raises(LinkageError, match="kind"):
        add_constraint(c, registry.scope, x, y, "maybe")
    other = make_registry()  # another scope sees none of them
    with other.engine.connect() as c:
        assert len(read_constraints(c, other.scope)) == 0


def test_constraints_between_records_not_in_the_run_change_nothing(registers):
    plain = link([registers["agency-a"], registers["agency-b"]], seed=3)
    held = Constraints.of(must=[(1, 2)], cannot=[(3, 4)])  # no registry: no such records
    constrained = link([registers["agency-a"], registers["agency-b"]], seed=3, constraints=held)
    pd.testing.assert_frame_equal(
        plain.assignments.drop(columns="case_id"), constrained.assignments.drop(columns="case_id")
    )
    same = pd.factorize(plain.assignments["case_id"])[0]  # the same cases, by first record
    np.testing.assert_array_equal(same, pd.factorize(constrained.assignments["case_id"])[0])
    assert constrained.constraints is None
