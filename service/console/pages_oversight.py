"""Oversight pages: an agreement's audit log (filtered, paged, verified, exported as CSV), its
retention timers, withdrawal receipts and linkage quality; and the auditor's home.

Every page gets its data from :mod:`service.console.views`, called with the session's
principal: the API's own gate (:func:`service.api.access.open_agreement`) decides who reads
what — the audit a steward of a party or an auditor named on the agreement
(``AUDIT_ROLES``); retention timers and withdrawal receipts a steward, or a submitter its own
agency's; linkage quality a steward or an evaluator — and each reading is audited as the
matching API call is (``audit.read``, ``audit.verify``, ``retention.read``,
``withdrawal.list``, ``summary.read``). A page of an agreement reads the agreement itself as
``GET /v1/agreements/{id}`` does (404 to anyone not in it, ``agreement.read`` audited). Its
links are those the key's role may follow (:data:`SECTIONS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Query
from fastapi.responses import Response, StreamingResponse

from service.api.errors import ServiceError
from service.api.models import AgreementPublic
from service.api.routes import agreements
from service.api.routes.audit import AUDIT_ROLES
from service.console import charts, views
from service.console.context import FormPage, NavLink, Page, PageContext, console_router
from service.console.i18n import N_, Formats, is_rtl
from service.console.pages_agency import LABELS
from service.console.views_steward import HOLDERS, QUALITY_READERS

__all__ = ["FILTERS", "HOME", "NAV", "PAGE", "SECTIONS", "router"]

router = console_router()
OVERSEERS = ("steward", "auditor", "submitter", "evaluator")
HOME = {"auditor": "/oversight"}
NAV = (NavLink(N_("Oversight"), "/oversight", OVERSEERS),)
PAGE = 50  # audit entries (and withdrawal receipts) a page shows
SECTIONS = (  # an agreement's oversight pages: (path, label, the roles its view admits)
    ("audit", N_("Audit log"), AUDIT_ROLES),
    ("retention", N_("Retention timers"), HOLDERS),
    ("withdrawals", N_("Withdrawal receipts"), HOLDERS),
    ("quality", N_("Linkage quality"), QUALITY_READERS),
)
FILTERS = ("agency", "purpose", "action", "outcome", "since", "until")
Text = Annotated[str, Query(max_length=64)]
FormText = Annotated[str, Form(max_length=64)]


def _sections(ctx: PageContext) -> list[tuple[str, str]]:
    role = ctx.principal.role
    return [(path, ctx.gettext(label)) for path, label, roles in SECTIONS if role in roles]


def _page(
    ctx: PageContext,
    agreement_id: str,
    template: str,
    section: str,
    agreement: AgreementPublic | None = None,
    **data: Any,
) -> Response:
    """A page of one agreement: its name and sections around ``data``; the agreement read as
    the API reads it (404 to a non-party, ``agreement.read`` audited), unless given."""
    if agreement is None:
        agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
    return ctx.render(
        template,
        agreement=agreement,
        sections=_sections(ctx),
        section=section,
        labels={k: ctx.gettext(v) for k, v in LABELS.items()},
        **data,
    )


@router.get("/oversight")
def home(ctx: Page) -> Response:
    """The agreements the key is in (``GET /v1/agreements``): an auditor's, those its agency
    is named to oversee, and no others."""
    rows = agreements.list_agreements(ctx.engine, ctx.principal)
    return ctx.render("oversight/home.html", agreements=rows)


@router.get("/oversight/{agreement_id}")
def agreement(agreement_id: str, ctx: Page) -> Response:
    """One agreement, read only: parties, auditors, purposes, retention."""
    return _page(ctx, agreement_id, "oversight/agreement.html", "")


# -- the audit log ----------------------------------------------------------------------------
def _day(name: str, text: str, problems: list[str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"{name}: a date written YYYY-MM-DD")
        return None


def _filter(chosen: Mapping[str, str]) -> views.AuditFilter:
    """The filter of the form's fields (empty: any); ``until`` includes its whole day. A
    date not written YYYY-MM-DD is a 422 naming the field."""
    problems: list[str] = []
    since = _day("since", chosen["since"], problems)
    until = _day("until", chosen["until"], problems)
    if problems:
        raise ServiceError(422, "invalid_request", "the audit filter is invalid", problems)
    return views.AuditFilter(
        agency=chosen["agency"] or None,
        purpose=chosen["purpose"] or None,
        action=chosen["action"] or None,
        outcome=chosen["outcome"] or None,
        since=datetime(since.year, since.month, since.day, tzinfo=UTC) if since else None,
        until=datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
        if until
        else None,
    )


def _audit_page(
    ctx: PageContext,
    agreement_id: str,
    chosen: dict[str, str],
    *,
    before: int | None = None,
    after: int | None = None,
    verification: Any = None,
) -> Response:
    agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
    found = views.audit_log(
        ctx.engine,
        ctx.principal,
        agreement_id,
        _filter(chosen),
        before=before,
        after=after,
        limit=PAGE,
    )
    kept = {k: v for k, v in chosen.items() if v}
    base = f"/oversight/{agreement_id}/audit"
    return _page(
        ctx,
        agreement_id,
        "oversight/audit.html",
        "audit",
        agreement,
        log=found,
        chosen=chosen,
        refused=views.REFUSED,
        older=f"{base}?{urlencode({**kept, 'before': found.older})}" if found.older else None,
        newer=f"{base}?{urlencode({**kept, 'after': found.newer})}" if found.newer else None,
        verification=verification,
        moment=datetime.fromisoformat,
    )


@router.get("/oversight/{agreement_id}/audit")
def audit(
    agreement_id: str,
    ctx: Page,
    agency: Text = "",
    purpose: Text = "",
    action: Text = "",
    outcome: Text = "",
    since: Text = "",
    until: Text = "",
    before: Annotated[int | None, Query(ge=1)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """A page of the agreement's audit log, newest first, that the filter matches; the
    chain's last verification; the forms verifying it and exporting it."""
    chosen = dict(zip(FILTERS, (agency, purpose, action, outcome, since, until), strict=True))
    return _audit_page(ctx, agreement_id, chosen, before=before, after=after)


@router.post("/oversight/{agreement_id}/audit/verify")
def verify(agreement_id: str, ctx: FormPage) -> Response:
    """Recompute the chain now (``audit.verify``, recorded as made through the console) and
    show the result above the log's newest page."""
    result = views.verify_audit(ctx.engine, ctx.principal, agreement_id)
    chosen = dict.fromkeys(FILTERS, "")
    return _audit_page(ctx, agreement_id, chosen, verification=result)


@router.post("/oversight/{agreement_id}/audit/export")
def export(
    agreement_id: str,
    ctx: FormPage,
    agency: FormText = "",
    purpose: FormText = "",
    action: FormText = "",
    outcome: FormText = "",
    since: FormText = "",
    until: FormText = "",
) -> Response:
    """Every entry the filter matches, oldest first, as a CSV download; the export audited
    (``audit.read``, ``format: csv``) before a row is read."""
    chosen = dict(zip(FILTERS, (agency, purpose, action, outcome, since, until), strict=True))
    found = views.audit_csv(ctx.engine, ctx.principal, agreement_id, _filter(chosen), now=ctx.now)
    response = StreamingResponse(
        found.chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )
    return ctx.finish(response)


# -- retention, withdrawals, quality ----------------------------------------------------------
@router.get("/oversight/{agreement_id}/retention")
def retention(agreement_id: str, ctx: Page) -> Response:
    """When retention purges each stored batch (a submitter: its agency's only)."""
    agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
    timers = views.retention_timers(ctx.engine, ctx.principal, agreement_id, ctx.now)
    return _page(
        ctx, agreement_id, "oversight/retention.html", "retention", agreement, timers=timers
    )


@router.get("/oversight/{agreement_id}/withdrawals")
def withdrawals(
    agreement_id: str,
    ctx: Page,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The withdrawals' receipts, newest first, page by page (a submitter: its agency's)."""
    agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
    found = views.withdrawal_receipts(
        ctx.engine, ctx.principal, agreement_id, before=before, limit=PAGE
    )
    older = f"/oversight/{agreement_id}/withdrawals?before={found.older}" if found.older else None
    return _page(
        ctx,
        agreement_id,
        "oversight/withdrawals.html",
        "withdrawals",
        agreement,
        receipts=found,
        older=older,
        first=f"/oversight/{agreement_id}/withdrawals" if before is not None else None,
    )


@router.get("/oversight/{agreement_id}/quality")
def quality(agreement_id: str, ctx: Page) -> Response:
    """The confidence histogram and the cases each pair of agencies shares, each an SVG chart
    with its figures in a table beside it."""
    agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
    figures = views.linkage_quality(ctx.engine, ctx.principal, agreement_id)
    formats = Formats(ctx.locale)
    rtl = is_rtl(ctx.locale)
    edges = [bar.low for bar in figures.histogram] + [1.0] if figures.histogram else []
    counts = [bar.records for bar in figures.histogram]
    histogram = None
    if counts:
        title = ctx.gettext(N_("Linked records by confidence"))
        histogram = (
            charts.histogram(
                title,
                edges,
                counts,
                unit=ctx.gettext(N_("records")),
                rtl=rtl,
                number=formats.number,
                chart_id="chart-confidence",
            ),
            charts.chart_table(
                charts.bin_labels(edges, formats.number), counts, number=formats.number
            ),
            title,
        )
    pairs = None
    if figures.pairs:
        title = ctx.gettext(N_("Cases shared by each pair of agencies"))
        labels = [f"{p.a} – {p.b}" for p in figures.pairs]
        values = [p.shared_cases for p in figures.pairs]
        pairs = (
            charts.bar_chart(
                title,
                labels,
                values,
                unit=ctx.gettext(N_("cases")),
                rtl=rtl,
                number=formats.number,
                chart_id="chart-pairs",
            ),
            charts.chart_table(labels, values, number=formats.number),
            title,
        )
    return _page(
        ctx,
        agreement_id,
        "oversight/quality.html",
        "quality",
        agreement,
        figures=figures,
        histogram=histogram,
        pairs=pairs,
    )
