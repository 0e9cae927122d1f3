"""What an agency reads back: the case id and confidence of each of its own records, and
which other agencies hold a record in the same case — never their refs or any score. And,
for evaluators and stewards, aggregate figures only."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from linkage._registry import records_table as rec
from service._audit import append
from service._tables import batch_records, batches, runs
from service.api.access import open_agreement
from service.api.deps import EngineDep, PrincipalDep, PurposeDep
from service.api.models import OFFSET_MAX, CaseAssignment, CasesPage, ConfidenceBin, Summary

router = APIRouter(prefix="/v1/agreements/{agreement_id}", tags=["cases"])
_CSV_ROWS = 5000


def _others(conn: sa.Connection, scope: str, agency: str, case_ids: list[str]) -> dict:
    r = rec.c
    found: dict[str, list[str]] = {}
    for start in range(0, len(case_ids), 900):  # keep IN lists short for every database
        rows = conn.execute(
            sa.select(r.case_id, r.agency)
            .distinct()
            .where(
                r.scope == scope, r.agency != agency, r.case_id.in_(case_ids[start : start + 900])
            )
        ).all()
        for cid, ag in rows:
            found.setdefault(cid, []).append(ag)
    return {cid: sorted(v) for cid, v in found.items()}


def _page(conn, scope: str, agency: str, offset: int, limit: int) -> list[CaseAssignment]:
    r = rec.c
    rows = conn.execute(
        sa.select(r.record_ref, r.case_id, r.confidence)
        .where(r.scope == scope, r.agency == agency)
        .order_by(r.id)
        .offset(offset)
        .limit(limit)
    ).all()
    others = _others(conn, scope, agency, sorted({x.case_id for x in rows}))
    return [
        CaseAssignment(
            record_ref=x.record_ref,
            case_id=x.case_id,
            confidence=round(float(x.confidence), 6),
            other_agencies=others.get(x.case_id, []),
        )
        for x in rows
    ]


def _pending(conn, scope: str, agency_id: int | None = None) -> int:
    br, b = batch_records.c, batches.c
    q = (
        sa.select(sa.func.count())
        .select_from(batch_records)
        .join(batches, b.id == br.batch_id)
        .where(b.agreement_id == scope, b.status == "pending")
    )
    if agency_id is not None:
        q = q.where(b.agency_id == agency_id)
    return int(conn.execute(q).scalar_one())


def _csv(engine: sa.Engine, scope: str, agency: str, total: int) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["record_ref", "case_id", "confidence", "other_agencies"])
    for offset in range(0, max(total, 1), _CSV_ROWS):
        with engine.connect() as conn:
            for x in _page(conn, scope, agency, offset, _CSV_ROWS):
                writer.writerow([x.record_ref, x.case_id, x.confidence, ";".join(x.other_agencies)])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()


@router.get("/cases", response_model=CasesPage)
def read_cases(
    agreement_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    format: Literal["json", "csv"] = "json",
):
    """The caller's own records with case id, confidence and the other agencies in each case.

    ``format=csv`` streams all of them as CSV (``other_agencies`` joined by ``;``)."""
    _, why = open_agreement(engine, principal, agreement_id, "cases.read", ("submitter",), purpose)
    r = rec.c
    with engine.begin() as conn:
        total = int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(rec)
                .where(r.scope == agreement_id, r.agency == principal.agency)
            ).scalar_one()
        )
        items = (
            [] if format == "csv" else _page(conn, agreement_id, principal.agency, offset, limit)
        )
        shown = total if format == "csv" else len(items)
        append(
            conn,
            agreement_id,
            principal.actor,
            "cases.read",
            purpose=why,
            details={"records": shown, "offset": offset, "format": format},
        )
        pending = _pending(conn, agreement_id, principal.agency_id)
    if format == "csv":
        return StreamingResponse(
            _csv(engine, agreement_id, principal.agency, total), media_type="text/csv"
        )
    nxt = offset + len(items) if offset + len(items) < total else None
    return CasesPage(
        items=items,
        total=total,
        offset=offset,
        limit=limit,
        next_offset=nxt,
        pending_records=pending,
    )


def _aggregates(conn: sa.Connection, scope: str) -> dict:
    """Counts computed by the database (no record is fetched): per agency, per case, and a
    ten-bin confidence histogram (bin k holds [k/10, (k+1)/10), the last one 1.0 too)."""
    r = rec.c
    mine = r.scope == scope
    by_agency = conn.execute(
        sa.select(r.agency, sa.func.count()).where(mine).group_by(r.agency).order_by(r.agency)
    ).all()
    per_case = (
        sa.select(sa.func.count(sa.distinct(r.agency)).label("agencies"),
                  sa.func.count().label("records"))
        .where(mine).group_by(r.case_id).subquery()
    )  # fmt: skip
    shared = per_case.c.agencies > 1
    cases, across, in_shared = conn.execute(sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(sa.case((shared, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((shared, per_case.c.records), else_=0)), 0),
    )).one()  # fmt: skip
    bin_of = sum(sa.case((r.confidence >= k / 10, 1), else_=0) for k in range(1, 10))
    bins = dict(conn.execute(
        sa.select(bin_of.label("bin"), sa.func.count()).where(mine).group_by("bin")
    ).all())  # fmt: skip
    return {
        "records_by_agency": {a: int(n) for a, n in by_agency},
        "cases": int(cases), "cases_across_agencies": int(across),
        "records_in_shared_cases": int(in_shared),
        "confidence_histogram": [
            ConfidenceBin(low=k / 10, high=(k + 1) / 10, records=int(bins.get(k, 0)))
            for k in range(10)
        ],
    }  # fmt: skip


@router.get("/summary", response_model=Summary)
def summary(
    agreement_id: str, engine: EngineDep, principal: PrincipalDep, purpose: PurposeDep
) -> Summary:
    """Aggregate figures of the agreement (evaluators and stewards): counts, no records."""
    _, why = open_agreement(
        engine,
        principal,
        agreement_id,
        "summary.read",
        ("evaluator", "steward"),
        purpose,
        default_purpose="evaluation",
    )
    with engine.begin() as conn:
        figures = _aggregates(conn, agreement_id)
        done = conn.execute(
            sa.select(sa.func.count(), sa.func.max(runs.c.finished_at)).where(
                runs.c.agreement_id == agreement_id, runs.c.status == "succeeded"
            )
        ).one()
        pending = _pending(conn, agreement_id)
        append(conn, agreement_id, principal.actor, "summary.read", purpose=why)
    return Summary(
        agreement_id=agreement_id,
        pending_records=pending,
        **figures,
        runs_succeeded=int(done[0]),
        last_run_finished_at=done[1],
    )
