"""``caselink admin backup`` / ``restore`` for the SQLite default.

A backup is SQLite's online backup of the whole database (safe while the service runs), made
into a temporary file, checked (it opens, its schema revision is known, every audit chain
verifies) and only then renamed into place. A restore checks the backup the same way and
copies it over the live database with the same backup API; it is refused while a service
runs on the database (:mod:`service._serving`), since that service would go on from the old
content and what it stored afterwards would be lost. PostgreSQL deployments use their own
tools (``pg_dump -Fc`` / ``pg_restore``): this module refuses them with that advice.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from caselink_errors import BackupError
from service._admin import verify_all
from service._db import make_engine
from service._serving import no_service_running

__all__ = ["BackupError", "BackupReport", "backup", "restore"]


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    revision: str
    audit_entries: int


def _sqlite_path(url: str) -> Path:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            "backup and restore cover the SQLite default only; for PostgreSQL use its own "
            "tools: pg_dump -Fc DBNAME > caselink.dump, and pg_restore -d DBNAME caselink.dump"
        )
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("the database URL names no SQLite file")
    return Path(parsed.database)


def _copy(src: Path, dest: Path) -> None:
    with sqlite3.connect(src) as source, sqlite3.connect(dest) as target:
        source.backup(target)
    source.close()
    target.close()


def _check(path: Path) -> BackupReport:
    """The file is a caselink database at a known revision whose audit chains verify."""
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        checks = verify_all(engine)
    except sa.exc.DatabaseError as e:
        raise BackupError(f"{path.name} is not a caselink database ({type(e).__name__})") from e
    finally:
        engine.dispose()
    broken = [c.scope or "(service)" for c in checks if not c.ok]
    if broken:
        raise BackupError(
            f"the audit chains of {', '.join(broken)} in {path.name} do not "
            "verify; it was altered — use another backup"
        )
    entries = sum(c.entries for c in checks)
    return BackupReport(path, path.stat().st_size, str(revision), entries)


def backup(url: str, out: Path, *, force: bool = False) -> BackupReport:
    """Back the SQLite database at ``url`` up into ``out`` (written only when checked; an
    existing ``out`` is replaced only with ``force``)."""
    src = _sqlite_path(url)
    if not src.is_file():
        raise BackupError(f"no database at {src}")
    if out.exists() and not force:
        raise BackupError(
            f"{out} exists already: choose another file, or pass --force to replace it"
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        _copy(src, Path(tmp))
        report = _check(Path(tmp))
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return BackupReport(out, report.bytes, report.revision, report.audit_entries)


def restore(backup_file: Path, url: str) -> BackupReport:
    """Replace the SQLite database at ``url`` by the checked content of ``backup_file``."""
    dest = _sqlite_path(url)
    if not backup_file.is_file():
        raise BackupError(f"no backup file at {backup_file}")
    report = _check(backup_file)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with no_service_running(url):  # refused while a service runs on the database
        _copy(backup_file, dest)
    return report
