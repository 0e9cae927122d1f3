"""The audit chain: appends link by hash; every edit, removal, reordering is named."""

from __future__ import annotations

import itertools
import threading

import pytest
import sqlalchemy as sa

from service._audit import GENESIS, Actor, append, entry_hash, verify
from service._tables import audit_entries, audit_heads

ACTOR = Actor(agency="unhcr", role="submitter", key_id="key_0123456789abcdef")


def _fill(engine, scope="agr_x", n=5):
    with engine.begin() as c:
        for k in range(n):
            append(c, scope, ACTOR, "cases.read", purpose="linkage", details={"records": k})


def _check(engine, scope="agr_x"):
    with engine.connect() as c:
        return verify(c, scope)


def test_chain_links_each_entry_to_the_one_before(engine):
    _fill(engine)
    with engine.connect() as c:
        rows = c.execute(sa.select(audit_entries).order_by(audit_entries.c.seq)).mappings().all()
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["hash"]
    for r in rows:
        assert entry_hash(r["prev_hash"], dict(r)) == r["hash"]
    check = _check(engine)
    assert check.ok and check.entries == 5 and check.head_seq == 5
    assert check.head_hash == rows[-1]["hash"]


def test_chains_of_scopes_are_independent(engine):
    _fill(engine, "agr_a", 3)
    _fill(engine, "agr_b", 2)
    assert _check(engine, "agr_a").entries == 3
    assert _check(engine, "agr_b").entries == 2
    assert _check(engine, "agr_none").ok  # an empty chain is intact


def test_edited_entry_is_named(engine):
    _fill(engine)
    e = audit_entries.c
    with engine.begin() as c:
        c.execute(audit_entries.update().where(e.seq == 3).values(details='{"records":999}'))
    check = _check(engine)
    assert not check.ok
    assert any("entry 3 was edited" in p for p in check.problems)


def test_removed_entry_is_named(engine):
    _fill(engine)
    with engine.begin() as c:
        c.execute(audit_entries.delete().where(audit_entries.c.seq == 2))
    check = _check(engine)
    assert not check.ok
    assert any("2..2 are missing" in p for p in check.problems)


def test_swapped_entries_are_caught(engine):
    _fill(engine)
    e = audit_entries.c
    with engine.begin() as c:  # swap the sequence numbers of entries 2 and 4
        c.execute(audit_entries.update().where(e.seq == 2).values(seq=-4))
        c.execute(audit_entries.update().where(e.seq == 4).values(seq=2))
        c.execute(audit_entries.update().where(e.seq == -4).values(seq=4))
    check = _check(engine)
    assert not check.ok
    assert any("does not follow" in p for p in check.problems)


def test_removing_the_newest_entries_is_caught_by_the_head(engine):
    _fill(engine)
    with engine.begin() as c:
        c.execute(audit_entries.delete().where(audit_entries.c.seq >= 4))
    check = _check(engine)
    assert not check.ok
    assert any("ends at entry 3 but its head records entry 5" in p for p in check.problems)


def test_removing_every_entry_or_the_head_is_caught(engine):
    """A chain read empty is checked against its head alone; entries without a head against
    the genesis head."""
    _fill(engine, "agr_emptied")
    _fill(engine, "agr_headless")
    with engine.begin() as c:
        c.execute(audit_entries.delete().where(audit_entries.c.scope == "agr_emptied"))
        c.execute(audit_heads.delete().where(audit_heads.c.scope == "agr_headless"))
    emptied, headless = _check(engine, "agr_emptied"), _check(engine, "agr_headless")
    assert (emptied.entries, emptied.head_seq) == (0, 5)
    assert any("ends at entry 0 but its head records entry 5" in p for p in emptied.problems)
    assert (headless.entries, headless.head_seq, headless.head_hash) == (5, 0, GENESIS)
    assert any("ends at entry 5 but its head records entry 0" in p for p in headless.problems)


def test_rewriting_a_hash_consistently_still_breaks_the_head(engine):
    """An attacker who recomputes the edited entry's hash breaks the next link instead."""
    _fill(engine, n=3)
    e = audit_entries.c
    with engine.begin() as c:
        row = c.execute(sa.select(audit_entries).where(e.seq == 3)).mappings().one()
        forged = {**dict(row), "outcome": "forbidden"}
        c.execute(
            audit_entries.update()
            .where(e.seq == 3)
            .values(outcome="forbidden", hash=entry_hash(row["prev_hash"], forged))
        )
    check = _check(engine)
    assert not check.ok
    head = sa.select(audit_heads.c.hash)
    with engine.connect() as c:
        assert c.execute(head).scalar_one() == row["hash"]  # the head kept the true hash


def test_concurrent_appends_keep_one_unbroken_chain(engine):
    def work():
        _fill(engine, n=10)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check = _check(engine)
    assert check.ok, check.problems
    assert check.entries == 40


def test_an_append_while_a_chain_is_verified_is_not_taken_for_removed_entries(engine):
    """On PostgreSQL each statement sees the newest commits: an append that commits between
    verify's reads (here between its first and second statement) once read as "the newest
    entries were removed", a false alarm a CI run met. SQLite's verify reads inside one
    immediate transaction, where no append can come between."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the service's transactions begin IMMEDIATE, nothing comes between")
    _fill(engine)
    statements: list[str] = []
    with engine.connect() as c:

        @sa.event.listens_for(c, "after_cursor_execute")
        def append_between(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)
            if len(statements) == 1:
                _fill(engine, n=1)  # another connection; committed right after the first read

        check = verify(c, "agr_x")
    assert check.ok, check.problems
    assert (check.entries, check.head_seq) == (5, 5)  # the chain as the first read found it
    assert (_check(engine).entries, _check(engine).head_seq) == (6, 6)
