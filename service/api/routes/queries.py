"""Tracing queries: "is this sought person known anywhere in the agreement?"

A ``tracer`` key sends a Parquet batch that ``caselink encode`` wrote for its own agency with
the agreement's schema and secret, stating a purpose the agreement allows in
``X-Caselink-Purpose`` (required here). Each query record gets back up to ``top_k`` case ids
with a calibrated confidence and the agencies holding a record in each case — never another
agency's ``record_ref``, never a similarity score. Query records are not stored: the body
lives in a temporary file for the length of the request. Every query, answered or refused,
is audited with its purpose and counts (records queried, cases returned), never a filter.

Where the agreement maps the purpose to a consent scope (``purpose_scopes``), only records
whose consent covers it (or whose batch said nothing of consent) are searched and named: a
case held only through other records is not answered. A query whose records carry a
household (a sought family: members sharing a ``household_id`` when encoded) also gets, per
family, the members found and which were found registered together (:mod:`service._families`),
audited as counts.

Order of the gates: key (401), party (404), role and purpose (403), a stated purpose (422),
``top_k`` within the service's limit (422), the rate limit of the key's agency and role
(429 with ``Retry-After``; shared by all the agency's tracer keys, so a rotated key gets no
fresh budget), the batch itself (413/422), then the limit again for the batch's number of
records. Refusals by the rate limit are counted, not each audited (:mod:`service._refusals`).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

import numpy as np
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

import bloom
from linkage import CaseHit
from service._audit_writer import AuditWriter
from service._batches import (
    BatchRefusedError,
    agreement_problems,
    key_check_refusal,
    read_upload,
)
from service._families import LEAD_CANDIDATES, family_view, lead_rows
from service._index_store import IndexStore
from service._ratelimit import Decision, bucket_of
from service._refusals import RefusalAudit, Refused
from service.api.access import open_agreement, refuse
from service.api.deps import (
    AuditWriterDep,
    EngineDep,
    IndexesDep,
    LimiterDep,
    MetricsDep,
    Principal,
    PrincipalDep,
    PurposeDep,
    RefusalsDep,
    SettingsDep,
)
from service.api.errors import ServiceError
from service.api.models import TOP_K_LIMIT, QueryAnswer, QueryCandidate, QueryResult
from service.api.models_families import FamilyHousehold, FamilyLead, FamilyResult, LeadHousehold
from service.api.routes.batches import receive_bytes
from service.repositories.agreements import AgreementRow

router = APIRouter(prefix="/v1/agreements/{agreement_id}/queries", tags=["queries"])
ACTION = "query"
INDEX_WAIT_SECONDS = 30.0


def _open(
    engine, principal: Principal, agreement_id: str, purpose: str | None, top_k: int, top_k_max: int
) -> tuple[Any, str]:
    agreement, why = open_agreement(
        engine, principal, agreement_id, ACTION, ("tracer",), purpose, default_purpose=""
    )
    problem = None
    if not why:
        problem = (
            "header X-Caselink-Purpose: tracing queries must state their purpose; "
            f"this agreement allows {', '.join(agreement.purposes)}"
        )
    elif top_k > top_k_max:
        problem = f"top_k: at most {top_k_max} cases per query record on this service"
    if problem is not None:
        err = ServiceError(422, "invalid_request", problem.split(": ", 1)[1], [problem])
        raise refuse(engine, agreement_id, principal, ACTION, err, purpose or None)
    return agreement, why


def _read_query(body: bytes, agreement: AgreementRow, principal: Principal) -> bloom.EncodedBatch:
    try:
        batch = read_upload(body)
    except BatchRefusedError as e:
        raise ServiceError(422, "invalid_batch", e.detail, e.problems) from None
    problems = agreement_problems(batch, agreement, principal.agency)
    if problems:
        raise ServiceError(422, "invalid_batch", "the query does not fit this agreement", problems)
    wrong = key_check_refusal(batch.metadata.key_check, agreement.key_check, agreement.id, "query")
    if wrong is not None:
        raise ServiceError(wrong.status, wrong.error, wrong.detail, wrong.problems)
    if len(batch) == 0:
        raise ServiceError(
            422,
            "invalid_batch",
            "the query holds no records",
            ["record_count: encode at least one sought person"],
        )
    return batch


def _limited(
    refusals: RefusalAudit,
    agreement_id: str,
    principal: Principal,
    why: str,
    decision: Decision,
    records: int | None,
) -> JSONResponse:
    wait = decision.retry_after_header
    detail = (
        f"the tracing rate limit of your agency's {principal.role} keys is reached; "
        f"retry in {wait} s (the limit counts query records)"
    )
    refusals.refused(Refused(agreement_id, principal.actor, ACTION, why), records)
    body = {"error": "rate_limited", "detail": detail, "problems": [detail]}
    return JSONResponse(body, 429, headers={"Retry-After": wait})


def _families(
    groups: np.ndarray | None,
    refs: list[str],
    hits: list[list[CaseHit]],
    wider: dict[int, list[CaseHit]] | None = None,
) -> list[FamilyResult] | None:
    """Each sought family of a query that carries households (None for one without)."""
    if groups is None:
        return None
    return [
        FamilyResult(
            members=[refs[r] for r in f.members],
            members_found=[refs[r] for r in f.found],
            found_together=[refs[r] for r in f.together],
            households=[
                FamilyHousehold(agency=agency, members=[refs[r] for r in rows])
                for agency, rows in f.households
            ],
            leads=[
                FamilyLead(
                    member=refs[lead.member],
                    case_id=lead.case_id,
                    confidence=lead.confidence,
                    agencies=list(lead.agencies),
                    households=[
                        LeadHousehold(agency=agency, with_members=[refs[r] for r in rows])
                        for agency, rows in lead.households
                    ],
                )
                for lead in f.leads
            ],
        )
        for f in family_view(groups, hits, wider)
    ]


def _answer(
    agreement_id: str,
    why: str,
    top_k: int,
    min_confidence: float,
    refs: list[str],
    hits: list[list[CaseHit]],
    groups: np.ndarray | None = None,
    wider: dict[int, list[CaseHit]] | None = None,
) -> QueryAnswer:
    results = [
        QueryResult(
            query_ref=ref,
            candidates=[
                QueryCandidate(
                    case_id=h.case_id, confidence=h.confidence, agencies=list(h.agencies)
                )
                for h in found
            ],
        )
        for ref, found in zip(refs, hits, strict=True)
    ]
    return QueryAnswer(
        agreement_id=agreement_id,
        purpose=why,
        top_k=top_k,
        min_confidence=min_confidence,
        records_queried=len(refs),
        cases_returned=sum(len(h) for h in hits),
        results=results,
        families=_families(groups, refs, hits, wider),
    )


async def _audit(
    writer: AuditWriter, agreement_id: str, principal: Principal, why: str, answer: QueryAnswer
) -> None:
    """The answer's audit entry, committed (with the other queries' waiting, in one group)
    before the answer is sent; a 503 and no answer if it cannot be written."""
    matched = sum(1 for r in answer.results if r.candidates)
    details = {
        "records": answer.records_queried,
        "cases_returned": answer.cases_returned,
        "records_matched": matched,
        "top_k": answer.top_k,
    }
    if answer.families is not None:  # counts only: never a ref, a case or an agency
        details |= {
            "families": len(answer.families),
            "families_with_members_found": sum(1 for f in answer.families if f.members_found),
            "family_members_found": sum(len(f.members_found) for f in answer.families),
            "families_found_together": sum(1 for f in answer.families if f.found_together),
            "family_leads": sum(len(f.leads) for f in answer.families),
        }
    await writer.append(agreement_id, principal.actor, ACTION, purpose=why, details=details)


async def _search(
    store: IndexStore,
    engine: sa.Engine,
    agreement: AgreementRow,
    principal: Principal,
    why: str,
    filters: np.ndarray,
    top_k: int,
    min_confidence: float,
):
    """Each query record's cases, from records whose consent covers the scope the
    agreement maps the purpose to (every record when it maps none)."""
    agreement_id = agreement.id
    index = await run_in_threadpool(store.get, agreement_id, INDEX_WAIT_SECONDS)
    if index is None or (index.records and index.words != filters.shape[1]):
        err = ServiceError(
            503,
            "unavailable",
            "the tracing index of this agreement is not ready; retry in a minute",
        )
        raise refuse(engine, agreement_id, principal, ACTION, err, why)
    return await run_in_threadpool(
        functools.partial(
            index.search,
            scope=agreement.scope_of(why),
            parts=store.parts,
            pool=store.pool,
        ),
        filters,
        top_k,
        min_confidence,
    )


@router.post(
    "",
    response_model=QueryAnswer,
    summary="Trace sought people",
    response_description="Per sought person, the most likely cases with their confidence and "
    "the agencies holding a record in each.",
)
async def query(
    agreement_id: str,
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    refusals: RefusalsDep,
    indexes: IndexesDep,
    writer: AuditWriterDep,
    metrics: MetricsDep,
    top_k: Annotated[int, Query(ge=1, le=TOP_K_LIMIT, description="cases per query record")] = 5,
    min_confidence: Annotated[float, Query(ge=0.0, le=1.0)] = 0.05,
):
    """Is this sought person known anywhere in the agreement? The body is a Parquet file
    `caselink encode` wrote for your agency with the agreement's schema and secret, one
    record per sought person. Each gets back up to `top_k` cases, most likely first, with
    the calibrated probability that the case is this person and the agencies holding a
    record in it — never another agency's ref or a similarity score. The query records are
    not stored. A purpose the agreement allows must be stated in `X-Caselink-Purpose`; where
    the agreement maps it to a consent scope, only records whose consent covers the scope
    are searched.

    To trace a family, encode its members with one `household_id` each family (and their
    relationships): `families` then says, per sought family, which members were found, and
    at which agency the most likely cases of two or more sit together in one household —
    agency names and your own query refs only.

    Only a `tracer` key of a party agency may call it, within its agency's rate limit (429
    with `Retry-After` past it). Every query is audited with its purpose and counts."""
    bucket = bucket_of(principal.agency_id, principal.role)  # every tracer key of the agency
    agreement, why = await run_in_threadpool(
        _open, engine, principal, agreement_id, purpose, top_k, settings.query_top_k_max
    )
    if not (early := limiter.peek(bucket)).allowed:
        return await run_in_threadpool(
            _limited, refusals, agreement_id, principal, why, early, None
        )
    try:
        body = await receive_bytes(request, settings.max_query_bytes)
        batch = await run_in_threadpool(_read_query, body, agreement, principal)
    except ServiceError as e:
        raise refuse(engine, agreement_id, principal, ACTION, e, why) from None
    n = len(batch)
    if not limiter.fits(n):
        err = ServiceError(
            422,
            "invalid_request",
            f"a query holds at most {settings.query_burst}"
            f" records on this service; this one holds {n}. Split it",
            [f"record_count: at most {settings.query_burst}"],
        )
        raise refuse(engine, agreement_id, principal, ACTION, err, why, {"records": n})
    if not (decision := limiter.take(bucket, n)).allowed:
        return await run_in_threadpool(
            _limited, refusals, agreement_id, principal, why, decision, n
        )
    search = functools.partial(_search, indexes, engine, agreement, principal, why)
    hits = await search(batch.filters, top_k, min_confidence)
    wider = None
    if batch.groups is not None and (rows := lead_rows(batch.groups, hits)):
        # members not found, with a found relative: their wider candidates, for leads
        found = await search(batch.filters[rows], LEAD_CANDIDATES, 0.0)
        wider = dict(zip(rows, found, strict=True))
    refs = [str(r) for r in batch.record_refs]
    answer = _answer(agreement_id, why, top_k, min_confidence, refs, hits, batch.groups, wider)
    await _audit(writer, agreement_id, principal, why, answer)
    metrics.queries.inc()
    metrics.query_records.inc(n)
    return answer
