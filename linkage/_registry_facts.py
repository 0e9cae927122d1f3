"""The registry's household, relationship and consent columns (:mod:`linkage._facts`):
changing a record's consent later, finding records by ref, and bringing a registry made
before the columns existed up to date.

The service's migrations own its tables (revision 0010 adds the columns); a registry that
makes its own tables (``caselink link --registry reg.sqlite``, tests on a shared database)
adds them itself when it opens a table of an older version: three nullable columns, so a
record stored before reads as one whose batch said nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa

from linkage._registry import records_table

__all__ = ["add_fact_columns", "record_ids", "set_consent"]

_IN_LIST = 900  # refs per IN list: under SQLite's bound-parameter limit everywhere
_LOCK = 7204612  # PostgreSQL advisory lock held while columns are added
_FACTS = ("group_key", "relationship", "consent")


def add_fact_columns(engine: sa.Engine) -> list[str]:
    """Add the fact columns missing from ``registry_records`` (a table made by an older
    version); returns their names. Safe when several processes open the registry at once."""
    if not _missing(engine):
        return []
    with engine.begin() as c:
        if c.dialect.name == "postgresql":
            c.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        missing = _missing(c)
        for name in missing:
            column = records_table.c[name]
            kind = column.type.compile(dialect=c.dialect)
            c.exec_driver_sql(f"ALTER TABLE registry_records ADD COLUMN {name} {kind}")
    return missing


def _missing(bind: sa.Engine | sa.Connection) -> list[str]:
    held = {col["name"] for col in sa.inspect(bind).get_columns("registry_records")}
    return [name for name in _FACTS if name not in held]


def _chunks(refs: Sequence[str]) -> list[list[str]]:
    distinct = sorted({str(r) for r in refs})
    return [distinct[k : k + _IN_LIST] for k in range(0, len(distinct), _IN_LIST)]


def set_consent(
    conn: sa.Connection, scope: str, agency: str, refs: Sequence[str], consent: str | None
) -> int:
    """Set the stored consent of ``agency``'s records ``refs`` to ``consent`` (its stored
    form, :func:`linkage._facts.scopes_text`); returns how many rows changed (refs not
    held, and records whose consent is that already, are not counted)."""
    r = records_table.c
    changed = 0
    for part in _chunks(refs):
        result = conn.execute(
            records_table.update()
            .where(
                r.scope == scope,
                r.agency == agency,
                r.record_ref.in_(part),
                r.consent.is_distinct_from(consent),
            )
            .values(consent=consent)
        )
        changed += int(result.rowcount)
    return changed


def record_ids(conn: sa.Connection, scope: str, agency: str, refs: Sequence[str]) -> np.ndarray:
    """Registry ids of ``agency``'s records ``refs`` still held, ascending."""
    r = records_table.c
    found: list[int] = []
    for part in _chunks(refs):
        found += conn.execute(
            sa.select(r.id).where(r.scope == scope, r.agency == agency, r.record_ref.in_(part))
        ).scalars()
    return np.sort(np.asarray(found, dtype=np.int64))
