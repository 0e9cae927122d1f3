"""Signing in and out, the language selector, and the page of the signed-in key.

Sign-in takes an API key in a form (never in an address, never kept): the key is resolved
exactly as the API resolves a Bearer key (:func:`service.api.deps.principal_of`) and becomes
a server-side session (:mod:`service.console.sessions`). A key that is unknown and one that
is revoked get the same answer. Attempts are limited per client address
(``CASELINK_CONSOLE_SIGN_INS_PER_MINUTE``) and refused ones are audited in the service's own
chain as the API's refusals are, counted a minute at a time (:mod:`service._refusals`):
``console.sign_in`` with outcome ``unauthorized`` (401) or ``rate_limited`` (429). A sign-in
and a sign-out are audited with the key that made them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from fastapi.responses import Response

from service._audit import Actor, append
from service._refusals import Refused
from service.api.deps import principal_of
from service.api.errors import ServiceError
from service.console import sessions
from service.console.context import (
    FORM_COOKIE,
    SESSION_COOKIE,
    FormPage,
    NavLink,
    Page,
    PageContext,
    Visitor,
    console_router,
)
from service.console.i18n import COOKIE, LOCALES, N_, Formats
from service.console.security import safe_next, set_cookie

__all__ = ["ANONYMOUS", "HOME", "NAV", "SIGN_IN", "router"]

router = console_router()
ANONYMOUS = Actor(agency="(unknown)", role="anonymous")  # a refused sign-in: no key known
SIGN_IN = "console.sign_in"
ALL_ROLES = ("admin", "steward", "submitter", "tracer", "evaluator", "auditor")
HOME = {"admin": "/me"}  # the other roles' homes are their pages' (service.console.PAGES)
NAV = (NavLink(N_("Your key"), "/me", ALL_ROLES),)
LANGUAGE_SECONDS = 365 * 24 * 3600


def home_of(ctx: PageContext) -> str:
    return ctx.console.homes.get(ctx.principal.role, "/me")


@router.get("")
@router.get("/")
def index(ctx: Visitor) -> Response:
    """The signed-in key's home, or the sign-in page."""
    return ctx.redirect(home_of(ctx) if ctx.session else "/sign-in")


def _sign_in_page(
    ctx: PageContext, status_code: int = 200, problem: str | None = None, nxt: str | None = None
) -> Response:
    notices = {
        "idle": ctx.gettext(
            N_("Your session ended after %(minutes)s minutes without activity. Sign in again."),
            minutes=Formats(ctx.locale).number(ctx.console.idle.total_seconds() / 60),
        ),
        "ended": ctx.gettext(N_("Your session has ended. Sign in again.")),
        "out": ctx.gettext(N_("You have signed out.")),
    }
    notice = notices.get(ctx.request.query_params.get("ended", ""))
    return ctx.render(
        "sign_in.html",
        status_code=status_code,
        notice=None if problem else notice,
        problem=problem,
        next=nxt or safe_next(ctx.request.query_params.get("next")) or "",
    )


@router.get("/sign-in")
def sign_in_page(ctx: Visitor) -> Response:
    if ctx.session is not None:
        return ctx.redirect(home_of(ctx))
    return _sign_in_page(ctx)


@router.post("/sign-in")
def sign_in(
    ctx: Visitor,
    api_key: Annotated[str, Form(max_length=512)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Sign in with an API key: a session, or the same refusal for any key not accepted."""
    nxt = safe_next(next)
    if not sessions.csrf_matches(ctx.form_token(), csrf_token):
        return ctx.render(
            "sign_in.html",
            status_code=403,
            notice=None,
            problem=ctx.gettext(N_("The form expired. Please sign in again.")),
            next=nxt or "",
        )
    client = ctx.request.client.host if ctx.request.client else "unknown"
    decision = ctx.console.sign_ins.take(f"sign-in/{client}")
    if not decision.allowed:
        ctx.service.rate_refusals.refused(Refused("", ANONYMOUS, SIGN_IN))
        seconds = decision.retry_after_header
        response = _sign_in_page(
            ctx,
            429,
            ctx.gettext(
                N_("Too many sign-in attempts. Wait %(seconds)s seconds."), seconds=seconds
            ),
            nxt,
        )
        response.headers["Retry-After"] = seconds
        return response
    key = api_key.strip()
    if not key:
        return _sign_in_page(ctx, 422, ctx.gettext(N_("Enter your API key.")), nxt)
    try:
        principal = principal_of(ctx.service.reader, key)
    except ServiceError:
        ctx.service.sign_in_refusals.refused(Refused("", ANONYMOUS, SIGN_IN))
        problem = N_("This key was not accepted. Check it, or ask your steward for a new one.")
        return _sign_in_page(ctx, 401, ctx.gettext(problem), nxt)
    with ctx.engine.begin() as conn:
        sessions.end_expired(conn, ctx.now, ctx.console.idle)
        old = ctx.request.cookies.get(SESSION_COOKIE)
        if old:
            sessions.end(conn, old)
        session_id, ctx.session = sessions.start(conn, principal, ctx.now)
        append(conn, "", principal.actor, SIGN_IN)
    ctx.cookies += [(SESSION_COOKIE, session_id), (FORM_COOKIE, None)]
    return ctx.redirect(nxt.removeprefix("/console") if nxt else home_of(ctx))


@router.post("/sign-out")
def sign_out(ctx: FormPage) -> Response:
    """End the session: its row deleted, its cookie cleared."""
    with ctx.engine.begin() as conn:
        sessions.end(conn, ctx.request.cookies.get(SESSION_COOKIE, ""))
        append(conn, "", ctx.principal.actor, "console.sign_out")
    ctx.session = None
    ctx.cookies.append((SESSION_COOKIE, None))
    return ctx.redirect("/sign-in?ended=out")


@router.get("/language/{code}")
def language(code: str, ctx: Visitor) -> Response:
    """Choose the console's language (a cookie), then back to the page it was chosen on."""
    if code not in LOCALES:
        raise ServiceError(404, "not_found", "no such language of the console")
    nxt = safe_next(ctx.request.query_params.get("next"))
    response = ctx.redirect(nxt.removeprefix("/console") if nxt else "")
    set_cookie(response, ctx.request, COOKIE, code, max_age=LANGUAGE_SECONDS)
    return response


@router.get("/me")
def me(ctx: Page) -> Response:
    """Who is signed in: the key's agency, role and id, and when the session ends."""
    return ctx.render("me.html", idle_minutes=ctx.console.idle.total_seconds() / 60)
