"""The audit journal: entries of reads that could not get the chain's lock in time are made
durable in a journal at once, and folded into their chains — in order, exactly once — by the
next transaction that gets the lock, or at the next start after a stop.

The lock is held by another transaction for as long as the test needs (SQLite's write lock,
PostgreSQL's row lock on the chain's head): whether an answer waited is asserted by the
future being done while the lock is still held, never by a clock."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from service._audit import Actor, Pending, append, verify
from service._audit_journal import AuditJournal, JournalDamagedError
from service._audit_writer import AuditWriter
from service._tables import audit_entries, audit_journal_folds

ACTOR = Actor(agency="tracing-a", role="tracer", key_id="key_0123456789abcdef")
SCOPE = "agr_0123456789abcdef"
OTHER = "agr_fedcba9876543210"
WAIT = 0.05  # the writer's lock wait; how long it takes does not matter to any assertion


def _details(engine: sa.Engine, scope: str = SCOPE) -> list[dict]:
    e = audit_entries.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(e.details).where(e.scope == scope).order_by(e.seq))
        return [json.loads(r.details) for r in rows]


def _folds(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(audit_journal_folds.c.journal, audit_journal_folds.c.folded)
            )
        ]


def test_entries_behind_a_held_lock_are_journaled_then_folded_in_order(engine, tmp_path):
    journal = AuditJournal(tmp_path / "journal")
    writer = AuditWriter(engine, journal=journal, lock_wait=WAIT).start()
    try:
        holder = engine.connect()
        tx = holder.begin()
        append(holder, SCOPE, ACTOR, "run", details={"held": True})  # a run holding the chain
        futures = [
            writer.submit(SCOPE if k % 3 else OTHER, ACTOR, "query", details={"k": k})
            for k in range(12)
        ]
        answered = [f.result(timeout=120) for f in futures]  # while the lock is still held
        assert all(a["journaled"] for a in answered)
        assert journal.files() and writer.journaled == 12
        tx.commit()
        holder.close()
        after = writer.submit(SCOPE, ACTOR, "query", details={"k": 99}).result(timeout=120)
    finally:
        writer.stop()
    assert after["seq"] == 10  # the run's entry, 8 journaled entries of SCOPE, then this one
    journaled = [k for k in range(12) if k % 3]
    assert _details(engine) == [{"held": True}] + [
        {"k": k, "journaled": True} for k in journaled
    ] + [{"k": 99}]
    assert _details(engine, OTHER) == [{"k": k, "journaled": True} for k in (0, 3, 6, 9)]
    with engine.connect() as conn:
        assert verify(conn, SCOPE).ok and verify(conn, OTHER).ok
    assert journal.files() == []  # folded, then deleted
    assert [n for _, n in _folds(engine)] == [12]


def test_a_free_lock_writes_straight_to_the_chain(engine, tmp_path):
    journal = AuditJournal(tmp_path / "journal")
    writer = AuditWriter(engine, journal=journal, lock_wait=WAIT).start()
    try:
        row = writer.submit(SCOPE, ACTOR, "query", details={"k": 1}).result(timeout=120)
    finally:
        writer.stop()
    assert row["seq"] == 1 and writer.journaled == 0
    assert not (tmp_path / "journal").exists()


def test_a_start_folds_what_a_stop_left_and_no_committed_fold_is_repeated(engine, tmp_path):
    """A crash after a fold committed but before its file was deleted: the next start finds
    the file, skips every line the fold recorded, and folds only the lines after them."""
    journal = AuditJournal(tmp_path / "journal")
    journal.write([(SCOPE, Pending(ACTOR, "query", details={"k": k})) for k in range(3)])
    with engine.begin() as conn:
        assert journal.fold(conn) == 3  # committed; the file is not deleted ("crash")
    journal.write([(SCOPE, Pending(ACTOR, "query", details={"k": 3}))])
    journal.close()
    writer = AuditWriter(engine, journal=AuditJournal(tmp_path / "journal"), lock_wait=WAIT)
    writer.start()
    writer.stop()
    assert [d["k"] for d in _details(engine)] == [0, 1, 2, 3]
    assert AuditJournal(tmp_path / "journal").files() == []
    with engine.connect() as conn:
        assert verify(conn, SCOPE).ok


def test_an_entry_keeps_the_time_it_was_journaled(engine, tmp_path):
    journal = AuditJournal(tmp_path / "journal")
    (line,) = journal.write([(SCOPE, Pending(ACTOR, "query", "tracing", details={"k": 1}))])
    with engine.begin() as conn:
        journal.fold(conn)
    journal.retire()
    with engine.connect() as conn:
        row = conn.execute(sa.select(audit_entries).where(audit_entries.c.scope == SCOPE)).one()
    assert row.at == line.pending.at and row.purpose == "tracing" and row.actor == "tracing-a"
    assert row.key_id == ACTOR.key_id and row.action == "query"


def test_a_torn_last_line_is_dropped_and_the_lines_before_it_fold(engine, tmp_path, caplog):
    journal = AuditJournal(tmp_path / "journal")
    journal.write([(SCOPE, Pending(ACTOR, "query", details={"k": k})) for k in range(2)])
    journal.close()
    (path,) = journal.files()
    with path.open("ab") as f:
        f.write(b'{"n": 3, "scope": "agr_01')  # cut by a crash before its fsync returned
    with caplog.at_level(logging.WARNING), engine.begin() as conn:
        assert journal.fold(conn) == 2
    assert "partly written line" in caplog.text


@pytest.mark.parametrize("edit", ["details", "drop"])
def test_an_edited_journal_is_set_aside_unfolded_and_the_others_fold(
    engine, tmp_path, caplog, edit
):
    journal = AuditJournal(tmp_path / "journal")
    journal.write([(SCOPE, Pending(ACTOR, "query", details={"k": k})) for k in range(3)])
    journal.close()
    (edited,) = journal.files()
    lines = edited.read_text().splitlines()
    if edit == "details":
        lines[1] = lines[1].replace('"k": 1', '"k": 7')
    else:
        del lines[1]
    edited.write_text("\n".join(lines) + "\n")
    with pytest.raises(JournalDamagedError, match="does not follow"):
        journal.read(edited)
    later = AuditJournal(tmp_path / "journal")
    later.write([(OTHER, Pending(ACTOR, "query", details={"k": 5}))])
    with caplog.at_level(logging.ERROR), engine.begin() as conn:
        assert later.fold(conn) == 1
    later.retire()
    assert _details(engine) == [] and _details(engine, OTHER) == [{"k": 5, "journaled": True}]
    assert (tmp_path / "journal" / (edited.name + ".damaged")).exists()
    assert "set aside" in caplog.text and '"k"' not in caplog.text


def test_a_failure_other_than_the_lock_still_refuses_and_journals_nothing(engine, tmp_path):
    from service._audit_writer import AuditUnavailableError

    journal = AuditJournal(tmp_path / "journal")
    writer = AuditWriter(engine, journal=journal, lock_wait=WAIT).start()
    try:
        bad = writer.submit(SCOPE, ACTOR, "query", details={"k": object()})  # not JSON
        with pytest.raises(AuditUnavailableError, match="could not be written"):
            bad.result(timeout=120)
    finally:
        writer.stop()
    assert writer.journaled == 0 and journal.files() == []


def test_verify_audit_names_waiting_and_fails_on_an_edited_journal(engine, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from caselink_cli import app
    from service._settings import get_settings

    monkeypatch.setenv("CASELINK_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()  # the CLI reads the state dir of this test

    url = engine.url.render_as_string(hide_password=False)
    env = {"COLUMNS": "2000", "CASELINK_STATE_DIR": str(tmp_path)}
    cmd = ["admin", "verify-audit", "--database-url", url]
    journal = AuditJournal(tmp_path / "audit-journal")
    journal.write([(SCOPE, Pending(ACTOR, "query", details={"k": k})) for k in range(3)])
    journal.close()
    try:
        waiting = CliRunner().invoke(app, cmd, env=env)
    finally:
        get_settings.cache_clear()
    assert waiting.exit_code == 0, waiting.output
    assert "3 audit entries wait in the audit journal" in waiting.output
    (path,) = journal.files()
    path.write_text(path.read_text().replace('"k": 1', '"k": 2'))
    with engine.begin() as conn:
        journal.fold(conn)  # what the next start does: the edited file is set aside
    try:
        edited = CliRunner().invoke(app, cmd, env=env)
    finally:
        get_settings.cache_clear()
    assert edited.exit_code == 1 and "was edited after it was written" in edited.output
