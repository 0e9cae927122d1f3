"""Replicas starting at once on one PostgreSQL database migrate one after the other: both
succeed, the schema is migrated once (an advisory lock around migrating, service._db)."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from service._db import _config, make_engine, migrate
from tests.service.servers import make_database


def _head() -> str:
    """The newest migration's revision."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_config()).get_current_head())


def test_two_replicas_migrating_at_once_both_start(request, tmp_path):
    with make_database("postgresql", request, tmp_path) as db:  # skips without PostgreSQL
        engines = [make_engine(db.url) for _ in range(2)]
        start, failed = threading.Barrier(2), []

        def up(engine: sa.Engine) -> None:
            start.wait(timeout=30)
            try:
                migrate(engine)
            except Exception as e:  # pragma: no cover - what the lock prevents
                failed.append(e)

        threads = [threading.Thread(target=up, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        try:
            assert failed == []
            with engines[0].connect() as conn:
                heads = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
            assert [h[0] for h in heads] == [_head()]
        finally:
            for e in engines:
                e.dispose()
