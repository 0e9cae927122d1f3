"""A linking run's registry writes as plain driver ``executemany`` calls.

A run of 20,000 new records writes tens of thousands of rows: the records, their links, the
cases and the records and cases whose case or confidence changed. Through SQLAlchemy's
statement layer each row is a dict processed in Python, and on SQLite all of it happens
while the transaction holds the database's one write lock — measured on a 120,000-record
registry, 60% of a 2-second transaction in the records' ``INSERT ... RETURNING`` alone,
with every tracing query's audit entry waiting behind it. Here the rows are built as tuples
with ``zip`` and handed to the driver's ``executemany`` (:meth:`sa.Connection.exec_driver_sql`),
and the new records' ids are allocated up front — the next ids after the largest on SQLite,
where the service's ``BEGIN IMMEDIATE`` already holds the write lock; numbers drawn from the
column's sequence on PostgreSQL — so that no ``RETURNING`` is needed.

On PostgreSQL, :func:`insert_rows` streams the rows with ``COPY ... FROM STDIN`` and
:func:`update_rows` copies them into a temporary table and updates from it in one statement:
``executemany`` there still adapts and sends each row as its own statement from Python,
holding the service's interpreter (the GIL every request thread needs) for most of a run's
store; ``COPY`` sends the rows as one stream, adapted in the driver's C code.

SQLite and PostgreSQL only, the two databases caselink runs on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import sqlalchemy as sa

from caselink_errors import UnsupportedDatabaseError
from linkage._types import LinkEnd, NewRecordRef

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection

    from linkage._registry import RegistryUpdate

__all__ = [
    "FACT_COLUMNS",
    "UnsupportedDatabaseError",
    "change_rows",
    "insert_rows",
    "link_rows",
    "new_record_ids",
    "update_rows",
    "write_many",
]

_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}
# a record's household group, relationship and consent (linkage._facts), after its filter
FACT_COLUMNS = ("group_key", "relationship", "consent")


def _backend(c: sa.Connection) -> str:
    """``sqlite`` or ``postgresql``; other databases are refused."""
    if c.dialect.name not in ("sqlite", "postgresql") or c.dialect.paramstyle not in _PLACEHOLDER:
        raise UnsupportedDatabaseError(
            f"the case registry runs on SQLite or PostgreSQL; this engine is {c.dialect.name}"
        )
    return c.dialect.name


def _placeholder(c: sa.Connection) -> str:
    _backend(c)
    return _PLACEHOLDER[c.dialect.paramstyle]


def write_many(c: sa.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """``executemany`` of ``sql`` (``?`` placeholders) over ``rows``; nothing when empty."""
    mark = _placeholder(c)  # refuses another database even with nothing to write
    if rows:
        c.exec_driver_sql(sql.replace("?", mark), list(rows))


def _names(*names: str) -> str:
    for name in names:  # table and column names come from this package, never from input
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain SQL name: {name!r}")
    return ", ".join(names)


def insert_rows(
    c: sa.Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``: ``COPY`` on PostgreSQL,
    ``executemany`` on SQLite; nothing when empty."""
    _names(table)
    cols = _names(*columns)
    if _backend(c) == "sqlite":
        marks = ", ".join("?" * len(columns))
        write_many(c, f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
    elif rows:
        _copy(c, f"COPY {table} ({cols}) FROM STDIN", rows)


def update_rows(
    c: sa.Connection, table: str, columns: Sequence[str], key: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Set ``columns`` of the ``table`` row whose ``key`` is the last value of each of
    ``rows``; on PostgreSQL through a temporary table filled by ``COPY`` and one ``UPDATE``."""
    _names(table, key, *columns)
    if _backend(c) == "sqlite":
        sets = ", ".join(f"{col} = ?" for col in columns)
        write_many(c, f"UPDATE {table} SET {sets} WHERE {key} = ?", rows)
        return
    if not rows:
        return
    staged = f"caselink_update_{table}"
    c.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staged} ON COMMIT DROP AS "
        f"SELECT {_names(*columns, key)} FROM {table} WITH NO DATA"
    )
    _copy(c, f"COPY {staged} ({_names(*columns, key)}) FROM STDIN", rows)
    sets = ", ".join(f"{col} = s.{col}" for col in columns)
    c.exec_driver_sql(f"UPDATE {table} AS t SET {sets} FROM {staged} AS s WHERE t.{key} = s.{key}")
    c.exec_driver_sql(f"DROP TABLE {staged}")  # the next update of the table makes it anew


def _copy(c: sa.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """``COPY ... FROM STDIN`` of ``rows`` in ``c``'s transaction; a driver error comes out as
    SQLAlchemy's (an ``IntegrityError`` for a duplicate), as from any other statement."""
    dbapi = c.dialect.loaded_dbapi
    cursor = cast(
        "DBAPIConnection", c.connection.dbapi_connection
    ).cursor()  # checked out: not None
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as e:
        raise sa.exc.DBAPIError.instance(sql, None, e, dbapi.Error, dialect=c.dialect) from e
    finally:
        cursor.close()


def new_record_ids(c: sa.Connection, n: int) -> np.ndarray:
    """``n`` unused, increasing ``registry_records`` ids for this transaction's new records."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if _backend(c) == "postgresql":
        drawn = c.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('registry_records', 'id')) "
            "FROM generate_series(1, %s)",
            (n,),
        ).scalars()
        return np.sort(np.fromiter(drawn, dtype=np.int64, count=n))
    top = c.exec_driver_sql("SELECT max(id) FROM registry_records").scalar()
    return np.arange(int(top or 0) + 1, int(top or 0) + 1 + n, dtype=np.int64)


def change_rows(u: RegistryUpdate) -> list[tuple[Any, ...]]:
    """``(case_id, confidence, id)`` per existing record whose case or confidence changed."""
    conf = np.asarray(u.changed_confidence, np.float64).tolist()
    ids = np.asarray(u.changed_ids, np.int64).tolist()
    return list(zip(np.asarray(u.changed_case_ids).tolist(), conf, ids, strict=True))


def link_rows(scope: str, u: RegistryUpdate, new_ids: np.ndarray) -> list[tuple[Any, ...]]:
    """``(scope, rec_a, rec_b, probability)`` per link, each end a record id (a
    :class:`NewRecordRef` takes the id its new record was given), the smaller id first."""
    if not u.links:
        return []
    ends_a, ends_b, p = zip(*u.links, strict=True)
    a, b = _ids(ends_a, new_ids), _ids(ends_b, new_ids)
    lo, hi = np.minimum(a, b).tolist(), np.maximum(a, b).tolist()
    return list(zip([scope] * len(lo), lo, hi, np.asarray(p, np.float64).tolist(), strict=True))


def _ids(ends: Sequence[LinkEnd], new_ids: np.ndarray) -> np.ndarray:
    return np.array(
        [int(new_ids[e.index]) if isinstance(e, NewRecordRef) else int(e) for e in ends],
        dtype=np.int64,
    )
