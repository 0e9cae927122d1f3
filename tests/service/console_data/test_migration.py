"""Migration 0009 on a database made before it, on SQLite and PostgreSQL: every agreement's
transparency page is off, and the verifications the chains recorded as ``audit.verify``
entries become the first rows of ``audit_verifications``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from service._audit import Actor, append
from service._db import _config, make_engine
from service._tables import agreements, audit_verifications
from service.repositories import agreements as agreements_repo
from service.repositories import transparency as transparency_repo
from service.repositories.agencies import add_agency
from tests.service.servers import make_database

AGREEMENT = "agr_00000000000000a1"
STEWARD = Actor("north", "steward", "key_00000000000000aa")


def _upgrade(conn: sa.Connection, revision: str) -> None:
    cfg = _config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_verifications_recorded_in_the_chains_are_kept(kind, request, tmp_path):
    with make_database(kind, request, tmp_path) as db:
        engine = make_engine(db.url)
        with engine.begin() as conn:
            _upgrade(conn, "0008")
            north = add_agency(conn, "north")
            conn.execute(  # the columns of revision 0008, as it stored them
                agreements.insert().values(
                    id=AGREEMENT,
                    name="old",
                    schema_fingerprint="blake3:" + "a" * 64,
                    filter_bits=1024,
                    purposes=["linkage"],
                    retention_days=30,
                    threshold="auto",
                    allow_duplicates=False,
                    created_by=north,
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
            append(conn, AGREEMENT, STEWARD, "agreement.create")
            append(conn, AGREEMENT, STEWARD, "audit.verify", details={"entries": 1, "ok": True})
            append(conn, AGREEMENT, STEWARD, "audit.verify", details={"entries": 2, "ok": False})
            append(conn, "", STEWARD, "audit.verify", details={"entries": 7, "ok": True})
        with engine.begin() as conn:
            _upgrade(conn, "head")
        with engine.connect() as conn:
            rows = (
                conn.execute(sa.select(audit_verifications).order_by(audit_verifications.c.id))
                .mappings()
                .all()
            )
            assert [
                (r["scope"], r["ok"], r["entries"], r["head_seq"], r["problems"], r["via"])
                for r in rows
            ] == [
                (AGREEMENT, True, 1, 1, 0, "api"),
                (AGREEMENT, False, 2, 2, None, "api"),
                ("", True, 7, 0, 0, "api"),
            ]
            newest = transparency_repo.latest_verification(conn, AGREEMENT)
            assert newest is not None and (newest.ok, newest.entries) == (False, 2)
            assert transparency_repo.is_published(conn, AGREEMENT) is False
            assert conn.execute(sa.select(agreements.c.transparency_published)).scalar() is False
            assert agreements_repo.agreement(conn, AGREEMENT).purposes == ["linkage"]
        engine.dispose()
