"""What may be read back from a registry: an agency's own records page by page, with the
other agencies holding a record of the same case (never their refs); aggregate figures
computed by the database (per agency, per case, and the cases each pair of agencies shares:
:func:`shared_cases`); and, for a tracing index, records with their filters opened
(:func:`index_rows`) or only their ids, agencies and cases (:func:`record_cases`).
:class:`linkage.Registry` offers these as methods (``records``, ``case_page``, ``figures``,
``shared_cases``, ``case_record_ids``, ``index_rows``, ``record_cases``); the service calls
them inside the transaction that audits the read, so each takes the caller's connection.

A filter is opened with its record's ref (the seal is bound to it, :mod:`linkage.sealing`);
the ref is read for that and dropped: nothing read for an index carries one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import sqlalchemy as sa

from linkage._facts import RecordFacts
from linkage._query_update import IndexRows
from linkage._registry import records_table
from linkage.sealing import FilterCodec, open_rows, registry_aad

__all__ = [
    "CaseRow",
    "RegistryFigures",
    "case_page",
    "case_record_ids",
    "count_records",
    "figures",
    "index_rows",
    "record_cases",
    "shared_cases",
]

_IN_LIST = 900  # ids per IN list: under SQLite's bound-parameter limit everywhere
_LOAD_ROWS = 5_000  # rows per fetch of a whole registry: the GIL is held while a fetch makes
# its row objects
BINS = 10  # the confidence histogram's bins: [k/10, (k+1)/10), the last one 1.0 too


@dataclass(frozen=True)
class CaseRow:
    """One record of the reading agency: its case, confidence, and the other agencies there."""

    record_ref: str
    case_id: str
    confidence: float
    other_agencies: tuple[str, ...]


@dataclass(frozen=True)
class RegistryFigures:
    """Counts only, no record: per agency, per case, and a confidence histogram."""

    records_by_agency: dict[str, int]
    cases: int
    cases_across_agencies: int
    records_in_shared_cases: int
    confidence_bins: tuple[int, ...]  # records per bin k: [k/10, (k+1)/10)


def count_records(conn: sa.Connection, scope: str | None, agency: str | None = None) -> int:
    """Records of ``scope`` (of one ``agency`` if given; every scope if ``scope`` is None)."""
    r = records_table.c
    q = sa.select(sa.func.count()).select_from(records_table)
    if scope is not None:
        q = q.where(r.scope == scope)
    if agency is not None:
        q = q.where(r.agency == agency)
    return int(conn.execute(q).scalar_one())


def _others(
    conn: sa.Connection, scope: str, agency: str, case_ids: list[str], consent: str | None
) -> dict[str, tuple[str, ...]]:
    """Per case, the other agencies holding a record of it (through a record whose consent
    covers ``consent``, or says nothing; every record when ``consent`` is None)."""
    r = records_table.c
    found: dict[str, set[str]] = {}
    for start in range(0, len(case_ids), _IN_LIST):
        part = case_ids[start : start + _IN_LIST]
        rows = conn.execute(
            sa.select(r.case_id, r.agency, r.consent)
            .distinct()
            .where(r.scope == scope, r.agency != agency, r.case_id.in_(part))
        ).all()
        for cid, other, held in rows:
            if consent is None or held is None or consent in held.split(" "):
                found.setdefault(cid, set()).add(other)
    return {cid: tuple(sorted(v)) for cid, v in found.items()}


def case_page(
    conn: sa.Connection,
    scope: str,
    agency: str,
    offset: int,
    limit: int,
    consent: str | None = None,
) -> list[CaseRow]:
    """``limit`` records of ``agency`` from ``offset``, in the order they were registered;
    other agencies named as :func:`_others` says."""
    r = records_table.c
    rows = conn.execute(
        sa.select(r.record_ref, r.case_id, r.confidence)
        .where(r.scope == scope, r.agency == agency)
        .order_by(r.id)
        .offset(offset)
        .limit(limit)
    ).all()
    others = _others(conn, scope, agency, sorted({x.case_id for x in rows}), consent)
    return [
        CaseRow(x.record_ref, x.case_id, float(x.confidence), others.get(x.case_id, ()))
        for x in rows
    ]


def case_record_ids(
    conn: sa.Connection, scope: str, agency: str, record_ref: str
) -> tuple[int, ...]:
    """Registry ids of ``agency``'s record ``record_ref`` and of every record of its case,
    ascending (empty: no such record)."""
    r = records_table.c
    case = (
        sa.select(r.case_id)
        .where(r.scope == scope, r.agency == agency, r.record_ref == record_ref)
        .scalar_subquery()
    )
    q = sa.select(r.id).where(r.scope == scope, r.case_id == case).order_by(r.id)
    return tuple(int(x) for x in conn.execute(q).scalars())


def figures(conn: sa.Connection, scope: str) -> RegistryFigures:
    """Aggregates computed by the database: no record is fetched."""
    r = records_table.c
    mine = r.scope == scope
    by_agency = conn.execute(
        sa.select(r.agency, sa.func.count()).where(mine).group_by(r.agency).order_by(r.agency)
    ).all()
    per_case = (
        sa.select(
            sa.func.count(sa.distinct(r.agency)).label("agencies"),
            sa.func.count().label("records"),
        )
        .where(mine)
        .group_by(r.case_id)
        .subquery()
    )
    shared = per_case.c.agencies > 1
    cases, across, in_shared = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((shared, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((shared, per_case.c.records), else_=0)), 0),
        )
    ).one()
    bin_of = cast(
        "sa.ColumnElement[int]",
        sum(sa.case((r.confidence >= k / BINS, 1), else_=0) for k in range(1, BINS)),
    )
    bins: dict[int, int] = dict(
        conn.execute(
            sa.select(bin_of.label("bin"), sa.func.count()).where(mine).group_by("bin")
        ).all()
    )
    return RegistryFigures(
        records_by_agency={a: int(n) for a, n in by_agency},
        cases=int(cases),
        cases_across_agencies=int(across),
        records_in_shared_cases=int(in_shared),
        confidence_bins=tuple(int(bins.get(k, 0)) for k in range(BINS)),
    )


def shared_cases(conn: sa.Connection, scope: str) -> dict[tuple[str, str], int]:
    """Per pair of agencies ``(a, b)`` with ``a < b``, how many cases hold a record of each:
    computed by the database, no record fetched (pairs sharing none are left out)."""
    r = records_table.c

    def held(name: str) -> sa.Subquery:
        return sa.select(r.case_id, r.agency).where(r.scope == scope).distinct().subquery(name)

    a, b = held("a"), held("b")
    rows = conn.execute(
        sa.select(a.c.agency, b.c.agency, sa.func.count())
        .select_from(a.join(b, sa.and_(a.c.case_id == b.c.case_id, a.c.agency < b.c.agency)))
        .group_by(a.c.agency, b.c.agency)
    ).all()
    return {(str(x), str(y)): int(n) for x, y, n in rows}


_r = records_table.c
# what an index reads of a record: the ref only to open its filter, then dropped
_COLUMNS = (
    _r.id,
    _r.agency,
    _r.record_ref,
    _r.case_id,
    _r.bloom,
    _r.group_key,
    _r.relationship,
    _r.consent,
)
_FACTS_AT = 5  # the household and consent columns from here


def _open_part(
    part: Sequence[sa.Row[*tuple[Any, ...]]], scope: str, words: int, codec: FilterCodec | None
) -> np.ndarray:
    """The plain filters of registry rows as ``(len(part), words)`` uint64."""
    plain = open_rows(
        codec,
        [x.bloom for x in part],
        lambda k: registry_aad(scope, part[k].agency, part[k].record_ref),
        words * 8,
        lambda k: f"registry record {part[k].id}",
    )
    return np.frombuffer(plain, "<u8").reshape(len(part), words)


def _whole_registry(
    conn: sa.Connection, scope: str, words: int, codec: FilterCodec | None
) -> IndexRows:
    r = records_table.c
    n = int(conn.execute(sa.select(sa.func.count()).where(r.scope == scope)).scalar_one())
    filters, ids = np.zeros((n, words), np.uint64), np.zeros(n, np.int64)
    agencies, case_ids, at = np.empty(n, object), np.empty(n, object), 0
    facts: list[RecordFacts] = []
    query = sa.select(*_COLUMNS).where(r.scope == scope).order_by(r.id)
    # closed however the read ends (a filter that cannot be opened: PostgreSQL's server cursor)
    with conn.execution_options(yield_per=_LOAD_ROWS).execute(query) as result:
        for part in result.partitions():
            k = min(len(part), n - at)  # rows committed after the count wait for the next read
            part = part[:k]
            filters[at : at + k] = _open_part(part, scope, words, codec)
            ids[at : at + k] = [x.id for x in part]
            agencies[at : at + k] = [x.agency for x in part]
            case_ids[at : at + k] = [x.case_id for x in part]
            facts.append(RecordFacts.from_stored([x[_FACTS_AT:] for x in part]))
            at += k
    f = RecordFacts.concat(facts)
    return IndexRows(
        ids[:at],
        filters[:at],
        agencies[:at],
        case_ids[:at],
        f.groups,
        f.relationships,
        f.consent,
    )


def index_rows(
    conn: sa.Connection,
    scope: str,
    words: int,
    codec: FilterCodec | None,
    ids: np.ndarray | None = None,
) -> IndexRows:
    """Records of ``scope`` with their filters opened, ids ascending: every one, or those
    among ``ids`` still stored; with each one's household group, relationship and consent.
    A filter that cannot be opened raises the sealing's error, naming the registry id (never
    the ref)."""
    if ids is None:
        return _whole_registry(conn, scope, words, codec)
    r = records_table.c
    ids = np.unique(np.asarray(ids, np.int64))
    found, filters, agencies, cases, facts = [], [], [], [], []
    for lo in range(0, len(ids), _IN_LIST):
        part = conn.execute(
            sa.select(*_COLUMNS)
            .where(r.scope == scope, r.id.in_(ids[lo : lo + _IN_LIST].tolist()))
            .order_by(r.id)
        ).all()
        if part:
            filters.append(_open_part(part, scope, words, codec))
            found += [x.id for x in part]
            agencies += [x.agency for x in part]
            cases += [x.case_id for x in part]
            facts.append(RecordFacts.from_stored([x[_FACTS_AT:] for x in part]))
    if not found:
        return IndexRows.empty(words)
    f = RecordFacts.concat(facts)
    return IndexRows(
        np.asarray(found, np.int64),
        np.vstack(filters).astype(np.uint64),
        np.asarray(agencies, object),
        np.asarray(cases, object),
        f.groups,
        f.relationships,
        f.consent,
    )


def record_cases(conn: sa.Connection, scope: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every record's ``(id, agency, case_id)`` in ``scope``, ids ascending (three arrays; no
    filter, no ref)."""
    r = records_table.c
    stored = conn.execute(
        sa.select(r.id, r.agency, r.case_id).where(r.scope == scope).order_by(r.id)
    ).all()
    ids = np.fromiter((x[0] for x in stored), np.int64, len(stored))
    agencies = np.fromiter((x[1] for x in stored), object, len(stored))
    cases = np.fromiter((x[2] for x in stored), object, len(stored))
    return ids, agencies, cases
