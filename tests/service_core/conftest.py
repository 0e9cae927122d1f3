"""Migrated databases for the service's core modules: a SQLite file, and a fresh schema on
the local PostgreSQL (skipped where it does not answer)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from service._db import make_engine, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path / 'service.db'}")
        migrate(e)
        yield e
        e.dispose()
        return
    admin = request.getfixturevalue("postgres_engine")
    schema = f"caselink_core_{uuid.uuid4().hex[:12]}"
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    e = make_engine(url.render_as_string(hide_password=False))
    try:
        migrate(e)
        yield e
    finally:
        e.dispose()
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
