"""The public transparency page of an agreement: no sign-in, 404 unless a steward of a party
published it (``POST /v1/agreements/{id}/publication``).

It shows what :func:`service.console.views.transparency` computes — parties, purposes,
retention; per complete month the accesses by kind and purpose, the refusals, the
withdrawals honoured and the records purged; the chain's last verification — as tables and
SVG charts. Every count is a :class:`~service.console.views.Count`: a count from 1 to 9 is
written "fewer than 10" (translated), never as itself; no record ref, case id, batch or run
id is in the figures at all. The public's reading is not audited, as the API's public route
is not: it holds no linked data.
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_skeleton
from fastapi.responses import Response

from service.console import charts, views
from service.console.context import Visitor, console_router
from service.console.i18n import N_, Formats, is_rtl

__all__ = ["HOME", "KIND_NAMES", "NAV", "router"]

router = console_router()
HOME: dict[str, str] = {}
NAV = ()
KIND_NAMES = {  # a kind of access as the page names it
    "upload": N_("Uploads"),
    "run": N_("Linkage runs"),
    "case_read": N_("Case reads"),
    "tracing_query": N_("Tracing queries"),
}
UNSTATED = N_("no purpose stated")
FEWER = N_("fewer than 10")


def _month_name(month: str, locale: str) -> str:
    """``YYYY-MM`` as ``locale`` names a month of a year ("March 2026", "mars 2026")."""
    return format_skeleton("yMMMM", date(int(month[:4]), int(month[5:]), 1), locale=locale)


@router.get("/public/agreements/{agreement_id}")
def transparency_page(agreement_id: str, ctx: Visitor) -> Response:
    """The agreement's public page, in the visitor's language (404 unless published)."""
    figures = views.transparency(ctx.engine, agreement_id, ctx.now)
    formats = Formats(ctx.locale)
    rtl = is_rtl(ctx.locale)
    fewer = ctx.gettext(FEWER)
    months = [_month_name(m.month, ctx.locale) for m in figures.months]

    def shown(count: views.Count) -> str:
        return fewer if count.fewer_than_10 else formats.number(count.shown)

    def purpose_name(purpose: str) -> str:
        return ctx.gettext(UNSTATED) if purpose == "unstated" else purpose

    columns = [
        (ctx.gettext(KIND_NAMES.get(kind, kind)), purpose_name(purpose))
        for kind, purpose in figures.columns
    ]
    series = [
        (
            ctx.gettext(N_("%(kind)s, purpose: %(purpose)s"), kind=kind, purpose=purpose),
            [m.access(*column).shown for m in figures.months],
            ctx.gettext(N_("accesses")),
        )
        for column, (kind, purpose) in zip(figures.columns, columns, strict=True)
    ]
    series += [
        (
            ctx.gettext(N_("Refusals")),
            [m.refusals.shown for m in figures.months],
            ctx.gettext(N_("refusals")),
        ),
        (
            ctx.gettext(N_("Withdrawals honoured")),
            [m.withdrawals.shown for m in figures.months],
            ctx.gettext(N_("withdrawals")),
        ),
        (
            ctx.gettext(N_("Records purged by retention")),
            [m.purged_records.shown for m in figures.months],
            ctx.gettext(N_("records")),
        ),
    ]
    figures_drawn = []
    if months:
        for k, (title, values, unit) in enumerate(series):
            svg = charts.bar_chart(
                title,
                months,
                values,
                unit=unit,
                rtl=rtl,
                missing=fewer,
                missing_mark=ctx.gettext(N_("<10")),
                number=formats.number,
                chart_id=f"chart-{k}",
            )
            table = charts.chart_table(months, values, missing=fewer, number=formats.number)
            figures_drawn.append((svg, table, title))
    return ctx.render(
        "public/agreement.html",
        page=figures,
        months=months,
        columns=columns,
        shown=shown,
        charts=figures_drawn,
    )
