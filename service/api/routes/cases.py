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

from linkage import Registry
from service._audit import append
from service.api.access import open_agreement
from service.api.deps import EngineDep, PrincipalDep, PurposeDep
from service.api.models import OFFSET_MAX, CaseAssignment, CasesPage, ConfidenceBin, Summary
from service.repositories import runs as runs_repo
from service.repositories.batches import pending_records

router = APIRouter(prefix="/v1/agreements/{agreement_id}", tags=["cases"])
READERS = ("submitter",)  # the roles that read their agency's cases
_CSV_ROWS = 5000


def _registry(engine: sa.Engine, agreement_id: str) -> Registry:
    return Registry(engine, scope=agreement_id, create_tables=False)


def _page(
    conn, registry: Registry, agency: str, offset: int, limit: int, scope: str | None
) -> list[CaseAssignment]:
    """A page of ``agency``'s records; another agency is named where its record's consent
    covers ``scope``, the consent scope the read's purpose needs (None: every record)."""
    return [
        CaseAssignment(
            record_ref=x.record_ref,
            case_id=x.case_id,
            confidence=round(x.confidence, 6),
            other_agencies=list(x.other_agencies),
        )
        for x in registry.case_page(agency, offset, limit, consent=scope, connection=conn)
    ]


def _csv(
    engine: sa.Engine, registry: Registry, agency: str, total: int, scope: str | None
) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["record_ref", "case_id", "confidence", "other_agencies"])
    for offset in range(0, max(total, 1), _CSV_ROWS):
        with engine.connect() as conn:
            for x in _page(conn, registry, agency, offset, _CSV_ROWS, scope):
                writer.writerow([x.record_ref, x.case_id, x.confidence, ";".join(x.other_agencies)])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()


@router.get(
    "/cases",
    response_model=CasesPage,
    summary="Read your records' case ids",
    response_description="A page of your records with their case ids (JSON), or all of them "
    "as CSV with format=csv.",
)
def read_cases(
    agreement_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    format: Literal["json", "csv"] = "json",
):
    """Your own agency's linked records, each with its case id, the confidence that it
    belongs in that case, and which other agencies hold a record in the same case — never
    their refs or any score. Where the agreement maps the read's purpose to a consent scope,
    another agency is named only for a record whose consent covers it. Page with `offset` and
    `limit`, or take every record at once with `format=csv` (`other_agencies` joined by `;`).
    `pending_records` counts your records no run has linked yet.

    Only a `submitter` key of a party agency may call it. Audited in the agreement's
    chain."""
    agreement, why = open_agreement(engine, principal, agreement_id, "cases.read", READERS, purpose)
    registry = _registry(engine, agreement_id)
    scope = agreement.scope_of(why)
    with engine.begin() as conn:
        total = registry.records(principal.agency, connection=conn)
        items = (
            [] if format == "csv" else _page(conn, registry, principal.agency, offset, limit, scope)
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
        pending = pending_records(conn, agreement_id, principal.agency_id)
    if format == "csv":
        return StreamingResponse(
            _csv(engine, registry, principal.agency, total, scope), media_type="text/csv"
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


def _aggregates(conn: sa.Connection, registry: Registry) -> dict:
    """The registry's counts (no record fetched), as the summary shows them."""
    f = registry.figures(connection=conn)
    return {
        "records_by_agency": f.records_by_agency,
        "cases": f.cases,
        "cases_across_agencies": f.cases_across_agencies,
        "records_in_shared_cases": f.records_in_shared_cases,
        "confidence_histogram": [
            ConfidenceBin(low=k / 10, high=(k + 1) / 10, records=n)
            for k, n in enumerate(f.confidence_bins)
        ],
    }


@router.get(
    "/summary",
    response_model=Summary,
    summary="Read an agreement's summary",
    response_description="Counts of records, cases and runs; no record.",
)
def summary(
    agreement_id: str, engine: EngineDep, principal: PrincipalDep, purpose: PurposeDep
) -> Summary:
    """Aggregate figures of the agreement: records per agency, cases, cases across agencies,
    a histogram of confidence and the runs done — counts only, never a record. The default
    purpose is `evaluation`, which the agreement must list.

    An `evaluator` or `steward` key of a party agency may call it. Audited in the
    agreement's chain."""
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
        figures = _aggregates(conn, _registry(engine, agreement_id))
        succeeded, last_finished = runs_repo.succeeded(conn, agreement_id)
        pending = pending_records(conn, agreement_id)
        append(conn, agreement_id, principal.actor, "summary.read", purpose=why)
    return Summary(
        agreement_id=agreement_id,
        pending_records=pending,
        **figures,
        runs_succeeded=succeeded,
        last_run_finished_at=last_finished,
    )
