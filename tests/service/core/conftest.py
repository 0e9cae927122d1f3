"""Migrated databases for the service's core modules: a SQLite file, and a fresh schema on
the local PostgreSQL (skipped where it does not answer)."""

from __future__ import annotations

import pytest

from service._db import make_engine, migrate
from tests.service.servers import make_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    with make_database(request.param, request, tmp_path) as db:
        e = make_engine(db.url)
        try:
            migrate(e)
            yield e
        finally:
            e.dispose()
