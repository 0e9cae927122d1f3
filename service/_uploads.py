"""The service's upload directory: where request bodies wait while they are checked.

Upload and query bodies are streamed to a folder of their own (``caselink-upload-*``,
``caselink-query-*``) inside this directory and removed when the request ends. A process
killed in the middle cannot remove them, so the service clears what such folders are left
at start-up — and only those: the directory may be shared with other files.

The directory is ``CASELINK_UPLOAD_DIR`` when set; otherwise ``<database file>-uploads``
beside a SQLite database file (``./caselink.db-uploads`` by default), or
``./caselink-uploads`` in the working directory for PostgreSQL and in-memory databases. It is
created with mode 0700. Give each service process its own directory: each clears it when it
starts.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import sqlalchemy as sa

__all__ = ["PREFIXES", "clear_uploads", "upload_dir"]

logger = logging.getLogger(__name__)

PREFIXES = ("caselink-upload-", "caselink-query-")


def upload_dir(database_url: str, configured: Path | None) -> Path:
    """The upload directory for a service on ``database_url`` (see the module docstring)."""
    if configured is not None:
        return Path(configured).resolve()
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db = Path(url.database).resolve()
        return db.with_name(db.name + "-uploads")
    return Path("caselink-uploads").resolve()


def clear_uploads(directory: Path) -> int:
    """Create ``directory`` if absent; remove the upload folders left in it; how many."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    left = [p for p in directory.iterdir() if p.name.startswith(PREFIXES)]
    for path in left:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if left:
        logger.warning("removed %s upload(s) left by a previous stop", len(left))
    return len(left)
