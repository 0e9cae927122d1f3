"""A run's registry writes through the driver: ids, links and cases as the registry reads them."""

from types import SimpleNamespace

import numpy as np
import sqlalchemy as sa

import bloom
from linkage._link import link, plan_link
from linkage._registry import links_table, records_table
from linkage._registry_write import link_rows, new_record_ids
from linkage._types import NewRecordRef


def _batch(df, schema, secret, agency):
    return bloom.encode(df, schema, secret, agency=agency, id_column="record_ref")


def _stored_links(reg):
    lk = links_table.c
    with reg.engine.connect() as c:
        return c.execute(sa.select(lk.rec_a, lk.rec_b).where(lk.scope == reg.scope)).all()


def test_two_runs_give_unique_increasing_ids_and_links_between_stored_records(
    make_registry, febrl4, febrl_schema, secret
):
    reg, other = make_registry(), make_registry()  # two scopes sharing one id sequence
    link(
        [
            _batch(febrl4.a.iloc[:200], febrl_schema, secret, "a"),
            _batch(febrl4.b.iloc[:200], febrl_schema, secret, "b"),
        ],
        registry=reg,
    )
    link([_batch(febrl4.a.iloc[:100], febrl_schema, secret, "x")], registry=other)
    first = reg.state().ids
    link([_batch(febrl4.a.iloc[200:400], febrl_schema, secret, "c")], registry=reg)
    state = reg.state()
    assert len(state.ids) == 600 and len(np.unique(state.ids)) == 600
    assert set(first) <= set(state.ids)
    assert state.ids[len(first) :].min() > first.max()  # the second run's records come after
    if other.engine is reg.engine:  # PostgreSQL: one table, one sequence, two scopes
        assert not set(state.ids) & set(other.state().ids)
    stored = _stored_links(reg)
    assert len(stored) > 0
    held = set(state.ids.tolist())
    assert all(a < b and a in held and b in held for a, b in stored)
    assert any(a in set(first.tolist()) and b in set(first.tolist()) for a, b in stored)


def test_ids_drawn_for_a_run_are_never_handed_out_again(
    make_registry, febrl4, febrl_schema, secret
):
    """After a run, the database's own id default (PostgreSQL's sequence, SQLite's rowid)
    continues past the ids the run allocated."""
    reg = make_registry()
    link([_batch(febrl4.a.iloc[:50], febrl_schema, secret, "a")], registry=reg)
    top = int(reg.state().ids.max())
    with reg.engine.begin() as c:
        drawn = new_record_ids(c, 3)
        assert list(drawn) == sorted(drawn) and drawn.min() > top and len(set(drawn)) == 3
    with reg.engine.begin() as c:
        row = {
            "scope": reg.scope,
            "agency": "z",
            "record_ref": "r1",
            "bloom": b"\0" * 8,
            "case_id": "C",
            "confidence": 0.5,
        }
        rid = c.execute(records_table.insert().returning(records_table.c.id), [row]).scalar()
        c.execute(records_table.delete().where(records_table.c.id == rid))
    assert rid > top


def test_link_rows_resolve_new_records_to_their_ids_smaller_first():
    new0, new1 = NewRecordRef(0), NewRecordRef(1)  # the run's first and second new records
    u = SimpleNamespace(links=[(new0, 7, 0.9), (3, new1, 0.5), (new1, new0, 0.75)])
    rows = link_rows("s", u, np.array([100, 200], dtype=np.int64))
    assert rows == [("s", 7, 100, 0.9), ("s", 3, 200, 0.5), ("s", 100, 200, 0.75)]
    assert all(type(v) is int for r in rows for v in r[1:3])


def test_a_run_rewrites_only_the_case_confidences_it_changed(
    make_registry, febrl4, febrl_schema, secret
):
    reg = make_registry()
    link(
        [
            _batch(febrl4.a.iloc[:200], febrl_schema, secret, "a"),
            _batch(febrl4.b.iloc[:200], febrl_schema, secret, "b"),
        ],
        registry=reg,
    )
    state = reg.state()
    assert len(state.case_confidence) >= 150  # every live case, as stored
    one = febrl4.a.iloc[200:201]
    planned = plan_link([_batch(one, febrl_schema, secret, "c")], state=state).update
    assert planned is not None and len(planned.new_refs) == 1
    assert len(planned.case_confidence) <= 1  # at most the case the new record joined
    reg.apply(planned)
    after = reg.state().case_confidence
    assert {c: v for c, v in after.items() if c in state.case_confidence} == {
        **state.case_confidence,
        **planned.case_confidence,
    }


def test_a_database_other_than_sqlite_or_postgresql_is_refused_before_any_write():
    """The refusal is decided from the dialect alone (SQLAlchemy's mock engine executes
    nothing): the message names the engine the registry was given."""
    import pytest

    from linkage._registry_write import UnsupportedDatabaseError, write_many

    engine = sa.create_mock_engine("mysql://", executor=lambda *a, **k: None)
    with pytest.raises(UnsupportedDatabaseError, match=r"SQLite or PostgreSQL.*mysql"):
        new_record_ids(engine, 3)
    with pytest.raises(UnsupportedDatabaseError, match="mysql"):
        write_many(engine, "INSERT INTO registry_links VALUES (?)", [(1,)])


def test_rows_inserted_and_updated_in_bulk_read_back_and_a_duplicate_is_an_integrity_error(
    make_registry,
):
    """``insert_rows``/``update_rows`` (COPY and a staged UPDATE on PostgreSQL, executemany on
    SQLite) write what a plain INSERT/UPDATE would; a duplicate key is SQLAlchemy's
    IntegrityError on both, so the service's refusal of it (409) does not depend on the
    database."""
    import pytest

    from linkage._registry import cases_table
    from linkage._registry_write import insert_rows, update_rows

    reg = make_registry()
    scope, k = reg.scope, cases_table.c
    ids = [f"{scope[-8:]}{i:06d}" for i in range(3)]  # case ids are unique across scopes
    with reg.engine.begin() as c:
        insert_rows(
            c,
            "registry_cases",
            ("case_id", "scope", "seq", "confidence"),
            [(cid, scope, i, 0.5) for i, cid in enumerate(ids)],
        )
        update_rows(
            c,
            "registry_cases",
            ("confidence", "merged_into"),
            "case_id",
            [(0.9, ids[0], ids[1]), (0.7, None, ids[2])],
        )
        update_rows(c, "registry_cases", ("confidence",), "case_id", [(0.8, ids[0])])
        insert_rows(c, "registry_cases", ("case_id", "scope", "seq", "confidence"), [])
    with reg.engine.connect() as c:
        rows = c.execute(
            sa.select(k.case_id, k.confidence, k.merged_into)
            .where(k.scope == scope)
            .order_by(k.seq)
        ).all()
    assert [tuple(r) for r in rows] == [
        (ids[0], 0.8, None),
        (ids[1], 0.9, ids[0]),
        (ids[2], 0.7, None),
    ]
    with pytest.raises(sa.exc.IntegrityError), reg.engine.begin() as c:
        insert_rows(
            c,
            "registry_cases",
            ("case_id", "scope", "seq", "confidence"),
            [(ids[1], scope, 9, 0.1)],
        )
    with pytest.raises(ValueError, match="plain SQL name"), reg.engine.begin() as c:
        insert_rows(c, "registry_cases; DROP", ("case_id",), [("x",)])
