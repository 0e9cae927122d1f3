"""An agency's pages: its agreements, batches, runs (with live progress), its own cases, and
the withdrawal of one of its records with the receipt.

Every page gets its data from the API's own route functions, called with the session's
principal (:mod:`service.api.routes`): the same roles, the same 404 for an agreement the
agency is not party to, the same audit entries (``agreement.list``, ``batch.list``,
``run.list``, ``run.read``, ``cases.read``, ``record.withdraw`` ...) as the matching API call.
A page shows only what that call answers the agency: its own refs, never another agency's
refs or scores. The links of an agreement's page are those its key's role may follow
(:data:`SECTIONS`); the API decides, and refuses the others with 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from service._keys import AGENCY_ROLES
from service.api.deps import need
from service.api.errors import ServiceError
from service.api.models import OFFSET_MAX, AgreementPublic, RunPublic, WithdrawalCreate
from service.api.routes import agreements, batches, cases, reviews, runs, withdrawals
from service.console.context import (
    ERRORS,
    FormPage,
    NavLink,
    Page,
    PageContext,
    Poll,
    console_router,
)
from service.console.i18n import N_, Formats

__all__ = ["CASES_PAGE", "HOME", "NAV", "SECTIONS", "router"]

router = console_router()
HOME = {role: "/agency" for role in AGENCY_ROLES}
NAV = (NavLink(N_("Agreements"), "/agency", AGENCY_ROLES),)
CASES_PAGE = 50  # records a page of the cases view shows
SECTIONS = (  # an agreement's pages: (path, label, the roles its API route admits)
    ("batches", N_("Batches"), batches.SUBMITTERS),
    ("runs", N_("Runs"), runs.RUNNERS),
    ("cases", N_("Cases"), cases.READERS),
    ("withdraw", N_("Withdraw a record"), withdrawals.WITHDRAWERS),
    ("reviews", N_("Review"), reviews.REVIEWERS),  # service.console.pages_review
)
LABELS = {
    # batches
    "pending": N_("pending"),
    "linked": N_("linked"),
    "quarantined": N_("set aside"),
    # runs: statuses and stages
    "queued": N_("queued"),
    "running": N_("running"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "loading": N_("loading batches"),
    "linking": N_("linking"),
    "storing": N_("storing cases"),
    "indexing": N_("updating the tracing index"),
    "done": N_("done"),
    "interrupted": N_("interrupted"),
    # withdrawal reasons
    "consent": N_("consent withdrawn"),
    "correction": N_("correction"),
    "erasure": N_("erasure"),
}
REASONS = ("consent", "correction", "erasure")
ACTIVE = ("queued", "running")


def _labels(ctx: PageContext) -> dict[str, str]:
    return {k: ctx.gettext(v) for k, v in LABELS.items()}


def _sections(ctx: PageContext) -> list[tuple[str, str]]:
    role = ctx.principal.role
    return [(path, ctx.gettext(label)) for path, label, roles in SECTIONS if role in roles]


def _agreement_page(
    ctx: PageContext,
    agreement_id: str,
    template: str,
    agreement: AgreementPublic | None = None,
    **data: Any,
) -> Response:
    """A page of one agreement: its name and sections around ``data``. The agreement is read
    as the API reads it (404 to a non-party, audited ``agreement.read``), unless given."""
    if agreement is None:
        agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
    return ctx.render(
        template,
        agreement=agreement,
        sections=_sections(ctx),
        labels=_labels(ctx),
        **data,
    )


@router.get("/agency")
def home(ctx: Page) -> Response:
    """The agreements the agency is a party to (``GET /v1/agreements``)."""
    rows = agreements.list_agreements(ctx.engine, ctx.principal)
    return ctx.render("agency/home.html", agreements=rows)


@router.get("/agency/{agreement_id}")
def agreement(agreement_id: str, ctx: Page) -> Response:
    """One agreement: parties, purposes, retention (``GET /v1/agreements/{id}``)."""
    return _agreement_page(ctx, agreement_id, "agency/agreement.html", section="")


@router.get("/agency/{agreement_id}/batches")
def batch_list(agreement_id: str, ctx: Page) -> Response:
    """The agency's batches and their status (``GET .../batches``)."""
    rows = batches.list_batches(agreement_id, ctx.engine, ctx.principal, None)
    return _agreement_page(ctx, agreement_id, "agency/batches.html", section="batches", rows=rows)


@router.get("/agency/{agreement_id}/runs")
def run_list(agreement_id: str, ctx: Page) -> Response:
    """The agreement's runs, newest first, and a button to start one (``GET .../runs``)."""
    rows = runs.list_runs(agreement_id, ctx.engine, ctx.principal, None)
    active = any(r.status in ACTIVE for r in rows)
    return _agreement_page(
        ctx, agreement_id, "agency/runs.html", section="runs", rows=rows, active=active
    )


@router.post("/agency/{agreement_id}/runs")
def run_start(agreement_id: str, ctx: FormPage) -> Response:
    """Start a linkage run (``POST .../runs``), then watch it."""
    state = ctx.service
    run = runs.start_run(
        agreement_id, ctx.engine, ctx.principal, None, state.executor, state.metrics
    )
    return ctx.redirect(f"/agency/{agreement_id}/runs/{run.run_id}")


def _progress(ctx: PageContext, run: RunPublic) -> dict[str, Any]:
    labels, formats = _labels(ctx), Formats(ctx.locale)
    return {
        "status": run.status,
        "stage": run.stage,
        "progress": run.progress,
        "finished": run.status not in ACTIVE,
        "status_label": labels.get(run.status, run.status),
        "stage_label": labels.get(run.stage, run.stage),
        "percent_label": formats.percent(run.progress),
    }


@router.get("/agency/{agreement_id}/runs/{run_id}")
def run_page(agreement_id: str, run_id: str, ctx: Page) -> Response:
    """One run, its progress followed live while it is not finished (``GET .../runs/{id}``)."""
    run = runs.get_run(agreement_id, run_id, ctx.engine, ctx.principal, None)
    return _agreement_page(
        ctx,
        agreement_id,
        "agency/run.html",
        section="runs",
        run=run,
        progress=_progress(ctx, run),
    )


@router.get("/agency/{agreement_id}/runs/{run_id}/progress")
def run_progress(agreement_id: str, run_id: str, ctx: Poll) -> Response:
    """The run's progress as JSON, for the run page's script: not a page view (the session's
    idle time runs on), but a read of the run, audited as ``GET .../runs/{id}`` is."""
    run = runs.get_run(agreement_id, run_id, ctx.engine, ctx.principal, None)
    return JSONResponse(_progress(ctx, run))


@router.get("/agency/{agreement_id}/cases")
def case_list(
    agreement_id: str,
    ctx: Page,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> Response:
    """A page of the agency's own records with their case ids (``GET .../cases``): its refs,
    the confidence of each, and which other agencies hold a record of the case — never
    their refs or scores."""
    page = cases.read_cases(
        agreement_id, ctx.engine, ctx.principal, None, offset, CASES_PAGE, "json"
    )
    return _agreement_page(
        ctx,
        agreement_id,
        "agency/cases.html",
        section="cases",
        page=page,
        previous=max(0, offset - CASES_PAGE) if offset > 0 else None,
    )


@router.get("/agency/{agreement_id}/withdraw")
def withdraw_form(agreement_id: str, ctx: Page) -> Response:
    """The form withdrawing one of the agency's records, for the roles the withdrawal route
    admits (its own check refuses the others when they send the form)."""
    agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
    need(ctx.principal, *withdrawals.WITHDRAWERS)
    return _withdraw_page(ctx, agreement_id, agreement)


def _withdraw_page(
    ctx: PageContext,
    agreement_id: str,
    agreement: AgreementPublic | None = None,
    status_code: int = 200,
    reason: str = "",
    error: ServiceError | None = None,
    problems: list[str] | None = None,
) -> Response:
    title, advice = ERRORS.get(error.error, ERRORS["invalid_request"]) if error else ("", "")
    return _agreement_page(
        ctx,
        agreement_id,
        "agency/withdraw.html",
        agreement,
        status_code=status_code,
        section="withdraw",
        reasons=REASONS,
        chosen=reason,
        error_title=ctx.gettext(title) if error else None,
        error_advice=ctx.gettext(advice) if error else None,
        error_detail=error.detail if error else None,
        problems=problems or (error.problems if error else []),
    )


@router.post("/agency/{agreement_id}/withdraw")
def withdraw(
    agreement_id: str,
    ctx: FormPage,
    record_ref: Annotated[str, Form(max_length=256)] = "",
    reason: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Withdraw one record (``POST .../withdrawals``) and show its receipt. A ref that does
    not validate or names no record shows the form again, without the ref typed."""
    agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
    try:
        body = WithdrawalCreate(record_ref=record_ref, reason=reason)  # type: ignore[arg-type]
    except ValidationError as e:
        problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        invalid = ServiceError(422, "invalid_request", "the form is not complete", problems)
        chosen = reason if reason in REASONS else ""
        return _withdraw_page(ctx, agreement_id, agreement, 422, chosen, invalid, problems)
    state = ctx.service
    try:
        receipt = withdrawals.withdraw_record(
            agreement_id, body, ctx.engine, ctx.principal, None, state.faults, state.changes
        )
    except ServiceError as e:  # the agreement was read: this is about the record, or the role
        return _withdraw_page(ctx, agreement_id, agreement, e.status, body.reason, e)
    return _agreement_page(
        ctx, agreement_id, "agency/receipt.html", agreement, section="withdraw", receipt=receipt
    )
