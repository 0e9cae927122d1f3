"""Clerical review without names: an agency's review queue, its decisions, and the reviewed
pairs as labels for evaluators (:mod:`service._review` says what each means).

A ``submitter`` key of one of an item's two agencies lists its side and decides it; its
agency never sees the other agency's ref. An ``evaluator`` or ``steward`` key reads the
reviewed pairs without any ref or id (default purpose ``evaluation``, which the agreement
must list). Every call, and every refusal, is audited in the agreement's chain.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from service import _review
from service._audit import append
from service.api.access import open_agreement, refuse
from service.api.deps import EngineDep, PrincipalDep, PurposeDep
from service.api.errors import ServiceError, well_formed
from service.api.models import OFFSET_MAX
from service.api.models_reviews import (
    LABELS_FORMAT,
    ReviewDecision,
    ReviewItemPublic,
    ReviewLabel,
    ReviewLabels,
    ReviewPage,
    Status,
)
from service.repositories import reviews as repo
from service.repositories.reviews import SideRow

__all__ = ["LABEL_READERS", "REVIEWERS", "public", "router"]

router = APIRouter(prefix="/v1/agreements/{agreement_id}/reviews", tags=["reviews"])
REVIEWERS = ("submitter",)  # an agency's own side: its refs
LABEL_READERS = ("evaluator", "steward")  # no ref, no id: probabilities and decisions
ReviewId = Annotated[
    str,
    Path(description="The item's id (`rev_` and 16 hex digits), as your review list gives it."),
]


def public(row: SideRow) -> ReviewItemPublic:
    return ReviewItemPublic(
        review_id=row.review_id,
        record_ref=row.record_ref,
        other_agency=row.other_agency,
        probability=round(row.probability, 6),
        probability_queued=round(row.probability_queued, 6),
        your_decision=row.decision,  # type: ignore[arg-type]
        decided_at=row.decided_at,
        status=row.status,  # type: ignore[arg-type]
        queued_at=row.queued_at,
        resolved_at=row.resolved_at,
    )


@router.get(
    "",
    response_model=ReviewPage,
    summary="List your review items",
    response_description="A page of your agency's side of the review queue, oldest first.",
)
def list_reviews(
    agreement_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    status: Annotated[
        list[Status] | None,
        Query(
            description="Only items of these statuses (repeat the parameter); all without it. "
            "`open` lists what waits for a decision."
        ),
    ] = None,
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=OFFSET_MAX,
            description="How many items to skip: the `next_offset` "
            "of the page before (0 for the first page).",
        ),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="The most items in one page.")] = 100,
) -> ReviewPage:
    """Your agency's side of the agreement's review queue: the links a run found uncertain
    (their probability inside the agreement's review band) between one of your records and
    another agency's. Each item shows your own record_ref, the other agency's name, the
    probability, your decision and the item's status — never the other agency's ref.
    Resolve the pair through your own channels, then decide it.

    Only a `submitter` key of a party agency may call it. Audited in the agreement's
    chain."""
    _, why = open_agreement(engine, principal, agreement_id, "review.list", REVIEWERS, purpose)
    statuses = tuple(dict.fromkeys(status or ()))
    with engine.begin() as conn:
        rows, total = repo.page(conn, agreement_id, principal.agency, statuses, offset, limit)
        details = {"items": len(rows), "offset": offset, "status": list(statuses)}
        append(conn, agreement_id, principal.actor, "review.list", purpose=why, details=details)
    nxt = offset + len(rows) if offset + len(rows) < total else None
    return ReviewPage(
        items=[public(r) for r in rows], total=total, offset=offset, limit=limit, next_offset=nxt
    )


@router.post(
    "/{review_id}/decision",
    response_model=ReviewItemPublic,
    summary="Decide a review item",
    response_description="The item as your agency sees it now, with its status.",
)
def decide_review(
    agreement_id: str,
    review_id: ReviewId,
    body: ReviewDecision,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
) -> ReviewItemPublic:
    """Record your agency's decision on one item: `same` person, `different` people, or
    `unsure`. When both agencies have decided `same` the registry gets a must-link
    constraint, when both decided `different` a cannot-link one; every later run respects
    it, and the item is resolved for good (409 on a new decision). Any other pair of
    decisions leaves no constraint (status `disagreed` or `unsure`), and either agency may
    decide again.

    Only a `submitter` key of one of the item's two agencies may call it (404 for anyone
    else's item). Audited in the agreement's chain with the review id and the decision."""
    action = "review.decide"
    _, why = open_agreement(engine, principal, agreement_id, action, REVIEWERS, purpose)
    details = {"review": review_id if well_formed("review", review_id) else None}
    try:
        if not well_formed("review", review_id):
            raise ServiceError(
                404, "not_found", "no such review item on your agency's side of this agreement"
            )
        with engine.begin() as conn:
            row = _review.decide(conn, agreement_id, review_id, principal.actor, body.decision, why)
    except ServiceError as e:  # the transaction is rolled back: audit the refusal on its own
        raise refuse(engine, agreement_id, principal, action, e, why, details) from None
    return public(row)


@router.get(
    "/labels",
    response_model=ReviewLabels,
    summary="Read the reviewed pairs as labels",
    response_description="Every pair both agencies decided: probabilities and decisions only.",
)
def review_labels(
    agreement_id: str, engine: EngineDep, principal: PrincipalDep, purpose: PurposeDep
) -> ReviewLabels:
    """The pairs both agencies have decided, as labels to evaluate the linkage against: for
    each, the agencies, the match probability when it was queued and now, and the decision
    (`same` and `different` are labels; `unsure` and `disagreed` are not). No ref, no record,
    no review id. `caselink evaluate --labels` reads this document and reports the
    calibration against these pairs. The default purpose is `evaluation`, which the
    agreement must list.

    An `evaluator` or `steward` key of a party agency may call it. Audited in the
    agreement's chain."""
    _, why = open_agreement(
        engine,
        principal,
        agreement_id,
        "review.labels",
        LABEL_READERS,
        purpose,
        default_purpose="evaluation",
    )
    with engine.begin() as conn:
        rows = repo.labels(conn, agreement_id)
        details = {"pairs": len(rows)}
        append(conn, agreement_id, principal.actor, "review.labels", purpose=why, details=details)
    pairs = [
        ReviewLabel(
            agencies=list(r.agencies),
            probability_queued=round(r.probability_queued, 6),
            probability_latest=None
            if r.probability_latest is None
            else round(r.probability_latest, 6),
            decision=r.status,  # type: ignore[arg-type]
            queued_at=r.queued_at,
            resolved_at=r.resolved_at,
        )
        for r in rows
    ]
    return ReviewLabels(format=LABELS_FORMAT, agreement_id=agreement_id, pairs=pairs)
