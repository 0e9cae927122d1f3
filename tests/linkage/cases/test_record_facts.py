"""What a batch says of its records besides their filters -- household group, relationship,
consent -- kept by the registry on SQLite and PostgreSQL: stored with a run's new records
(NULL where a batch says nothing), read back into a run's pool and a tracing index, consent
changed later in bulk and heeded by an agency's case read, and registries made before the
columns existed brought up to date
(migration 0010 for the service, the registry itself where it makes its tables)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command

import bloom
from linkage import LinkageError, Registry, RegistryState, link, plan_link, registry_metadata
from linkage._pool import build_pool
from linkage._registry import records_table
from tests.linkage.households_data import generate_households

FACTS = ("group_key", "relationship", "consent")


def _batch(df, schema, secret, agency, **facts):
    batch = bloom.encode(df, schema, secret, agency=agency, id_column="record_ref")
    return dataclasses.replace(batch, **facts)


def _by_ref(reg: Registry) -> dict[tuple[str, str], tuple[int, int, str | None]]:
    s = reg.state()
    return {
        (a, r): (int(g), int(rel), c)
        for a, r, g, rel, c in zip(
            s.agencies, s.refs, s.groups, s.relationships, s.consent, strict=True
        )
    }


def test_a_runs_records_keep_their_facts_and_a_batch_without_them_stores_nulls(
    make_registry, febrl4, febrl_schema, secret
):
    reg = make_registry()
    n = 40
    groups = np.array([0, 1, 2**63, 2**64 - 1] * (n // 4), np.uint64)  # the whole uint64 range
    rels = np.array([-1, 0, 2, 5] * (n // 4), np.int8)
    consent = np.array(["", "tracing", "coordination tracing", None] * (n // 4), object)
    a = _batch(febrl4.a.iloc[:n], febrl_schema, secret, "a", groups=groups, relationships=rels)
    a = dataclasses.replace(a, consent=consent)
    b = _batch(febrl4.b.iloc[:n], febrl_schema, secret, "b")
    link([a, b], registry=reg)
    held = _by_ref(reg)
    for k, ref in enumerate(a.record_refs):
        assert held["a", ref] == (int(groups[k]), int(rels[k]), consent[k])
    assert {held["b", ref] for ref in b.record_refs} == {(0, -1, None)}
    r = records_table.c
    with reg.engine.connect() as c:  # nothing said is NULL, not a value standing for it
        stored = c.execute(
            sa.select(r.group_key, r.relationship, r.consent).where(
                r.scope == reg.scope, r.agency == "b"
            )
        ).all()
        signed = c.execute(
            sa.select(r.group_key).where(r.scope == reg.scope, r.record_ref == a.record_refs[3])
        ).scalar_one()
    assert set(stored) == {(None, None, None)}
    assert signed == -1  # 2**64 - 1 as its signed 64-bit view
    s = reg.state()
    record_of = {i: (x, r) for i, x, r in zip(s.ids.tolist(), s.agencies, s.refs, strict=True)}
    rows = reg.index_rows(a.words)  # a tracing index reads them too, whole or by id
    again = reg.index_rows(a.words, rows.ids[::3])
    for got in (rows, again):
        found = zip(got.ids.tolist(), got.groups, got.relationships, got.consent, strict=True)
        for i, g, rel, c in found:
            assert (int(g), int(rel), c) == held[record_of[i]]
        assert len(got.ids) == (2 * n if got is rows else len(rows.ids[::3]))


def _ids(reg: Registry, agency: str) -> set[int]:
    s = reg.state()
    return set(s.ids[s.agencies == agency].tolist())


def test_consent_changes_in_bulk_and_counts_the_records_it_changed(
    make_registry, febrl4, febrl_schema, secret
):
    reg = make_registry()
    a = _batch(febrl4.a.iloc[:30], febrl_schema, secret, "a")
    b = _batch(febrl4.a.iloc[:30], febrl_schema, secret, "b")  # the same refs at b
    link([a, b], registry=reg)
    refs = list(a.record_refs[:10])
    assert reg.set_consent("a", [*refs, "no such ref", refs[0]], ["tracing", "coordination"]) == 10
    assert reg.set_consent("a", refs, ["coordination", "tracing"]) == 0  # as it is already
    assert reg.set_consent("a", refs[:4], []) == 4  # agreed to nothing
    held = _by_ref(reg)
    assert [held["a", r][2] for r in refs] == [""] * 4 + ["coordination tracing"] * 6
    assert {held["b", r][2] for r in b.record_refs} == {None}  # another agency's same refs
    assert reg.set_consent("a", refs, None) == 10  # back to nothing said
    assert {_by_ref(reg)["a", r][2] for r in refs} == {None}
    ids = reg.record_ids("a", [*refs[:3], "no such ref"])
    assert len(ids) == 3 and list(ids) == sorted(ids) and set(ids) <= _ids(reg, "a")
    with reg.engine.begin() as conn:  # in the caller's transaction, rolled back with it
        assert reg.set_consent("a", refs, ["tracing"], connection=conn) == 10
        conn.rollback()
    assert {_by_ref(reg)["a", r][2] for r in refs} == {None}
    for bad in (["Tracing"], ["trace me"], "tracing"):
        with pytest.raises(LinkageError, match="scope"):
            reg.set_consent("a", refs, bad)


def test_batch_facts_that_do_not_fit_the_batch_are_refused_before_anything_is_stored(
    make_registry, febrl4, febrl_schema, secret
):
    reg = make_registry()
    a = _batch(febrl4.a.iloc[:20], febrl_schema, secret, "a")
    for facts, message in (
        ({"groups": np.zeros(19, np.uint64)}, "groups holds"),
        ({"relationships": np.full(20, 6, np.int8)}, "relationship codes"),
        ({"consent": np.array(["b a"] * 20, object)}, "consent values"),
    ):
        with pytest.raises(LinkageError, match=message):
            link([dataclasses.replace(a, **facts)], registry=reg)
    assert reg.records() == 0


def test_an_incremental_run_knows_the_households_of_the_records_already_held(
    make_registry, person_schema, secret
):
    """Parents linked by a first run support their children's pairs in the second."""
    data = generate_households(150, seed=3)
    reg, bare = make_registry(), make_registry()
    firsts, seconds = [], []
    for agency, df in data.registers.items():
        full = data.batches(person_schema, secret)[list(data.registers).index(agency)]
        parent = df["relationship"].isin(["head", "spouse"]).to_numpy()
        for rows, out in ((parent, firsts), (~parent, seconds)):
            out.append(
                dataclasses.replace(
                    full,
                    record_refs=full.record_refs[rows],
                    filters=full.filters[rows],
                    groups=full.groups[rows],
                    relationships=full.relationships[rows],
                )
            )
    link(firsts, registry=reg)
    link([dataclasses.replace(b, groups=None, relationships=None) for b in firsts], registry=bare)
    state = reg.state()
    pool = build_pool(seconds, state)
    old = ~pool.is_new
    np.testing.assert_array_equal(pool.facts.groups[old], state.groups)
    np.testing.assert_array_equal(pool.facts.relationships[old], state.relationships)
    with_old = plan_link(seconds, state=state).models["north~south"]
    without_old = plan_link(seconds, state=bare.state()).models["north~south"]
    assert with_old["household_supported_pairs"] > without_old["household_supported_pairs"] + 50


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("how", ["migration", "opening"])
def test_a_registry_made_before_the_columns_gets_them_from_migration_0010_or_on_opening(
    kind, how, request, tmp_path, febrl4, febrl_schema, secret
):
    from service._db import _config
    from tests.service.servers import make_database

    def upgrade(engine: sa.Engine, revision: str) -> None:
        with engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    a = _batch(febrl4.a.iloc[:20], febrl_schema, secret, "a")
    with make_database(kind, request, tmp_path) as db:
        engine = sa.create_engine(db.url)
        if how == "migration":
            upgrade(engine, "0009")
        else:  # the tables as a registry of an older version made them itself
            registry_metadata.create_all(engine)
            with engine.begin() as conn:
                for name in FACTS:
                    conn.exec_driver_sql(f"ALTER TABLE registry_records DROP COLUMN {name}")
        _store_as_before(engine, a)
        if how == "migration":
            upgrade(engine, "head")
            reg = Registry(engine, "s", create_tables=False)
        else:
            reg = Registry(engine, "s")  # adds the columns itself
        held = {c["name"]: c for c in sa.inspect(engine).get_columns("registry_records")}
        assert all(held[name]["nullable"] for name in FACTS)
        assert isinstance(held["group_key"]["type"], sa.BigInteger)
        assert isinstance(held["relationship"]["type"], sa.SmallInteger)
        assert isinstance(held["consent"]["type"], sa.String)
        assert set(_by_ref(reg).values()) == {(0, -1, None)}  # stored before: nothing said
        b = _batch(febrl4.b.iloc[:20], febrl_schema, secret, "b")
        facts = {"groups": np.arange(1, 21, dtype=np.uint64), "consent": np.full(20, "x", object)}
        link([dataclasses.replace(b, **facts)], registry=reg)
        got = [v for k, v in _by_ref(reg).items() if k[0] == "b"]
        assert sorted(got) == [(g, -1, "x") for g in range(1, 21)]
        engine.dispose()


def _store_as_before(engine: sa.Engine, batch: bloom.EncodedBatch) -> None:
    """A run of ``batch`` stored in scope ``s`` as a version before the fact columns did."""
    u = plan_link([batch], state=RegistryState.empty(batch.words)).update
    assert u is not None
    t = registry_metadata.tables
    with engine.begin() as conn:
        conn.execute(
            t["registry_meta"]
            .insert()
            .values(
                scope="s",
                schema_fingerprint=u.fingerprint,
                filter_bits=u.filter_bits,
                next_case_seq=len(u.new_cases),
            )
        )
        for k, (ref, case) in enumerate(zip(u.new_refs, u.new_case_ids, strict=True)):
            conn.execute(
                sa.text(
                    "INSERT INTO registry_records (scope, agency, record_ref, bloom, case_id, "
                    "confidence) VALUES ('s', :agency, :ref, :bloom, :case, 1.0)"
                ),
                {
                    "agency": u.new_agencies[k],
                    "ref": ref,
                    "bloom": u.new_filters[k].astype("<u8").tobytes(),
                    "case": case,
                },
            )
        for seq, (case, conf) in enumerate(u.new_cases):
            conn.execute(
                t["registry_cases"]
                .insert()
                .values(case_id=case, scope="s", seq=seq, merged_into=None, confidence=conf)
            )


def test_a_case_read_names_another_agency_only_through_a_record_whose_consent_covers_it(
    make_registry, febrl4, febrl_schema, secret
):
    reg = make_registry()
    a = _batch(febrl4.a.iloc[:300], febrl_schema, secret, "a")
    b = _batch(febrl4.b.iloc[:300], febrl_schema, secret, "b")
    link([a, b], registry=reg)
    every = reg.case_page("a", 0, 300)
    named = {r.record_ref for r in every if r.other_agencies == ("b",)}
    assert len(named) > 10
    refs = list(b.record_refs)
    reg.set_consent("b", refs[:150], ["coordination"])
    reg.set_consent("b", refs[150:], [])
    for consent, expected in (("tracing", set()), ("coordination", None), (None, named)):
        page = reg.case_page("a", 0, 300, consent=consent)
        got = {r.record_ref for r in page if r.other_agencies == ("b",)}
        if expected is None:  # b's first half agreed to coordination
            assert got and got < named
        else:
            assert got == expected
        assert [r.case_id for r in page] == [r.case_id for r in every]  # a's own cases alike
    reg.set_consent("b", refs, None)  # nothing said: every purpose again
    assert reg.case_page("a", 0, 300, consent="tracing") == every
