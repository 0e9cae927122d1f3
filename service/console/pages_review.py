"""An agency's review queue: the uncertain links between one of its records and another
agency's, each with its own ref, the other agency's name, the probability, its decision and
the item's status — and a form per item to decide it (same person, different people,
unsure), CSRF-checked like every console form.

The page and the form call the API's own functions (``GET .../reviews``, ``POST
.../reviews/{id}/decision``) with the session's principal: the same role (``submitter``),
the same 404 for an item not on the agency's side, the same audit entries. Never the other
agency's ref: the API does not have it to give.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query
from fastapi.responses import Response
from pydantic import ValidationError

from service.api.errors import ServiceError, well_formed
from service.api.models import OFFSET_MAX
from service.api.models_reviews import ReviewDecision
from service.api.routes import reviews
from service.console.context import FormPage, NavLink, Page, PageContext, console_router
from service.console.i18n import N_
from service.console.pages_agency import _agreement_page

__all__ = ["HOME", "NAV", "REVIEW_PAGE", "router"]

router = console_router()
HOME: dict[str, str] = {}
NAV: tuple[NavLink, ...] = ()
REVIEW_PAGE = 50  # items a page of the queue shows
FILTERS = ("waiting", "all")  # waiting: open, unsure, disagreed (what a decision may change)
WAITING = ("open", "unsure", "disagreed")
WORDS = {
    # statuses
    "open": N_("waiting for a decision"),
    "unsure": N_("unsure: no constraint"),
    "disagreed": N_("the agencies disagree: no constraint"),
    "same": N_("same person: kept in one case"),
    "different": N_("different people: kept apart"),
    # decisions
    "decided-same": N_("same person"),
    "decided-different": N_("different people"),
    "decided-unsure": N_("unsure"),
}


def _words(ctx: PageContext) -> dict[str, str]:
    return {k: ctx.gettext(v) for k, v in WORDS.items()}


@router.get("/agency/{agreement_id}/reviews")
def review_list(
    agreement_id: str,
    ctx: Page,
    show: Annotated[str, Query(max_length=16)] = "waiting",
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    decided: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """A page of the agency's side of the review queue (``GET .../reviews``): waiting items
    (``show=waiting``: open, unsure, disagreed) or all of them. ``decided`` names the item a
    decision was just recorded on, to say so."""
    chosen = show if show in FILTERS else "waiting"
    statuses = list(WAITING) if chosen == "waiting" else None
    page = reviews.list_reviews(
        agreement_id, ctx.engine, ctx.principal, None, statuses, offset, REVIEW_PAGE
    )
    just = decided if well_formed("review", decided) else ""
    done = next((x for x in page.items if x.review_id == just), None)
    return _agreement_page(
        ctx,
        agreement_id,
        "agency/reviews.html",
        section="reviews",
        page=page,
        show=chosen,
        words=_words(ctx),
        decided=done,
        previous=max(0, offset - REVIEW_PAGE) if offset > 0 else None,
    )


@router.post("/agency/{agreement_id}/reviews/{review_id}")
def review_decide(
    agreement_id: str,
    review_id: str,
    ctx: FormPage,
    decision: Annotated[str, Form(max_length=16)] = "",
    show: Annotated[str, Form(max_length=16)] = "waiting",
) -> Response:
    """Record the agency's decision on one item (``POST .../reviews/{id}/decision``), then
    show the queue again, saying what the item's status is now."""
    try:
        body = ReviewDecision(decision=decision)  # type: ignore[arg-type]
    except ValidationError:
        raise ServiceError(
            422,
            "invalid_request",
            "the form is not complete",
            ["decision: same, different or unsure"],
        ) from None
    item = reviews.decide_review(agreement_id, review_id, body, ctx.engine, ctx.principal, None)
    back = "all" if show == "all" or item.status not in WAITING else "waiting"
    return ctx.redirect(
        f"/agency/{agreement_id}/reviews?show={back}&decided={item.review_id}#{item.review_id}"
    )
