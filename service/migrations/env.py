"""Alembic environment: migrations run on the connection that :mod:`service._db` hands in."""

from __future__ import annotations

from alembic import context

from linkage import registry_metadata  # the registry's DDL, exported once by linkage
from service._tables import metadata as service_metadata

target_metadata = [service_metadata, registry_metadata]


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover - the service always migrates online
    raise RuntimeError("caselink migrations run online only (caselink serve / admin migrate)")
run_migrations_online()
