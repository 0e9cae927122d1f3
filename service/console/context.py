"""What a console page handler gets: :class:`PageContext` — the request, the running service,
the language, and the signed-in session with its :class:`~service.api.deps.Principal`.

A page handler takes one of these dependencies and calls the API's own functions with
``ctx.engine`` and ``ctx.principal`` (so authorisation and audit are the API's)::

    router = console_router()

    @router.get("/agency/{agreement_id}/runs")
    def runs_page(agreement_id: str, ctx: Page) -> HTMLResponse:
        rows = runs.list_runs(agreement_id, ctx.engine, ctx.principal, None)
        return ctx.render("agency/runs.html", runs=rows)

- ``Visitor``: signed in or not (the sign-in page, public pages);
- ``Page``: signed in, a page view (the idle time starts again); else a redirect to sign-in;
- ``Poll``: signed in, a background refresh (does not count as a view);
- ``FormPage``: ``Page`` for a POST whose ``csrf_token`` field matches the session's, else 403
  before anything is done.

Routes made by :func:`console_router` answer errors as pages (:class:`ConsoleRoute`): a
:class:`~service.api.errors.ServiceError` raised by an API function is shown at its status,
with a translated explanation of its code and the API's own detail; a form field that does
not validate is a 422 page naming the field.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from service._ratelimit import RateLimiter
from service.api.deps import Principal, get_service
from service.api.errors import ServiceError
from service.api.state import ServiceState
from service.console import sessions
from service.console.i18n import N_, negotiate
from service.console.rendering import Renderer
from service.console.security import PREFIX, clear_cookie, console_path, safe_next, set_cookie

__all__ = [
    "FORM_COOKIE",
    "SESSION_COOKIE",
    "ConsoleRoute",
    "ConsoleState",
    "CsrfRefusedError",
    "FormPage",
    "NavLink",
    "Page",
    "PageContext",
    "Poll",
    "ROLE_NAMES",
    "SignInNeededError",
    "Visitor",
    "console_router",
]

SESSION_COOKIE = "caselink_session"
FORM_COOKIE = "caselink_form"  # the CSRF token of forms sent before a session exists


@dataclass(frozen=True)
class NavLink:
    """A link of the console's navigation, shown to keys of ``roles``; ``label`` is a
    message id (marked with ``N_``) translated when shown."""

    label: str
    path: str  # under /console
    roles: tuple[str, ...]


@dataclass
class ConsoleState:
    """The console's own parts, made once by :func:`service.console.install`."""

    renderer: Renderer
    idle: timedelta
    sign_ins: RateLimiter  # attempts per client address
    nav: tuple[NavLink, ...]
    homes: dict[str, str]  # role -> the path it lands on after sign-in
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class SignInNeededError(Exception):
    """No live session: the visitor goes to sign-in (``ended`` says why, if it had one)."""

    def __init__(self, ended: str | None) -> None:
        super().__init__(ended or "signed out")
        self.ended = ended


class CsrfRefusedError(Exception):
    """A form came without the session's CSRF token: refused, nothing done."""


@dataclass
class PageContext:
    """One console request: the request, the service, the language and the session."""

    request: Request
    service: ServiceState
    console: ConsoleState
    locale: str
    session: sessions.Session | None = None
    cookies: list[tuple[str, str | None]] = field(default_factory=list)  # to set (None: clear)

    @property
    def engine(self) -> sa.Engine:
        return self.service.engine

    @property
    def principal(self) -> Principal:
        """The signed-in key's principal (only on ``Page``, ``Poll`` and ``FormPage``)."""
        if self.session is None:
            raise SignInNeededError(None)
        return self.session.principal

    @property
    def now(self) -> datetime:
        return self.console.clock()

    def url(self, path: str = "") -> str:
        """The address of a console path (``/agency`` -> ``/console/agency``)."""
        return console_path(self.request, path)

    def gettext(self, message: str, **values: Any) -> str:
        return self.console.renderer.gettext(self.locale, message, **values)

    def form_token(self) -> str:
        """The CSRF token the page's forms carry: the session's, or before sign-in one kept
        in a cookie of its own (made now if the visitor has none)."""
        if self.session is not None:
            return self.session.csrf_token
        token = self.request.cookies.get(FORM_COOKIE)
        if not token or len(token) > 64:
            token = secrets.token_urlsafe(32)
            self.cookies.append((FORM_COOKIE, token))
        return token

    def role_name(self) -> str:
        """The signed-in key's role, translated; empty when nobody is signed in."""
        if self.session is None:
            return ""
        role = self.session.principal.role
        return self.gettext(ROLE_NAMES[role]) if role in ROLE_NAMES else role

    def nav(self) -> list[NavLink]:
        if self.session is None:
            return []
        role = self.session.principal.role
        return [link for link in self.console.nav if role in link.roles]

    def finish(self, response: Response) -> Response:
        for name, value in self.cookies:
            if value is None:
                clear_cookie(response, self.request, name)
            else:
                set_cookie(response, self.request, name, value)
        return response

    def render(self, template: str, status_code: int = 200, **data: Any) -> HTMLResponse:
        """The page ``template`` in the visitor's language."""
        html = self.console.renderer.render(
            template,
            self.locale,
            session=self.session,
            role_name=self.role_name(),
            nav=self.nav(),
            csrf_token=self.form_token(),
            here=_path_and_query(self.request),
            url=self.url,
            static=lambda name: self.url(f"/static/{name}"),
            **data,
        )
        return self.finish(HTMLResponse(html, status_code))  # type: ignore[return-value]

    def redirect(self, path: str) -> Response:
        """303 to a console path (``/agency``), with the cookies this request set."""
        return self.finish(RedirectResponse(self.url(path), 303))


def _context(request: Request) -> PageContext:
    console: ConsoleState = request.app.state.console
    return PageContext(request, get_service(request), console, negotiate(request))


def _signed_in(request: Request, *, touch: bool) -> PageContext:
    ctx = _context(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise SignInNeededError(None)
    with ctx.engine.begin() as conn:
        found = sessions.lookup(conn, session_id, ctx.now, ctx.console.idle, touch=touch)
    if isinstance(found, sessions.Ended):
        raise SignInNeededError(found.reason)
    ctx.session = found
    return ctx


def _quiet_context(request: Request) -> PageContext:
    """The context of an error page: with the session if there is one, not counted as a
    page view."""
    try:
        return _signed_in(request, touch=False)
    except SignInNeededError:
        return _context(request)


def visitor(request: Request) -> PageContext:
    """The context of a page anyone may see; ``session`` is set if the visitor is signed in."""
    try:
        return _signed_in(request, touch=True)
    except SignInNeededError:
        return _context(request)


def page(request: Request) -> PageContext:
    return _signed_in(request, touch=True)


def poll(request: Request) -> PageContext:
    try:
        return _signed_in(request, touch=False)
    except SignInNeededError:
        raise ServiceError(401, "unauthorized", "the console session has ended") from None


def form(request: Request, csrf_token: Annotated[str, Form(max_length=128)] = "") -> PageContext:
    """A signed-in POST whose form carries the session's CSRF token; checked before the
    session is touched, so a refused form changes nothing at all."""
    ctx = _signed_in(request, touch=False)
    assert ctx.session is not None
    if not sessions.csrf_matches(ctx.session.csrf_token, csrf_token):
        raise CsrfRefusedError()
    with ctx.engine.begin() as conn:
        sessions.touch(conn, request.cookies.get(SESSION_COOKIE, ""), ctx.now)
    return ctx


Visitor = Annotated[PageContext, Depends(visitor)]
Page = Annotated[PageContext, Depends(page)]
Poll = Annotated[PageContext, Depends(poll)]
FormPage = Annotated[PageContext, Depends(form)]

ROLE_NAMES = {  # as a page names a key's role
    "admin": N_("service admin"),
    "steward": N_("data steward"),
    "submitter": N_("submitter"),
    "tracer": N_("tracer"),
    "evaluator": N_("evaluator"),
    "auditor": N_("auditor"),
}

ERRORS: dict[str, tuple[str, str]] = {  # error code: (title, what to do), message ids
    "unauthorized": (N_("Not signed in"), N_("Sign in with your API key.")),
    "forbidden": (
        N_("Not allowed"),
        N_("Your key's role may not do this. Ask your agency's steward if you need it."),
    ),
    "not_found": (
        N_("Not found"),
        N_("There is nothing here, or nothing your agency may see."),
    ),
    "conflict": (N_("Not possible now"), N_("This conflicts with the current state. Try later.")),
    "invalid_request": (N_("Not valid"), N_("Some of what you sent is not valid.")),
    "rate_limited": (N_("Too many attempts"), N_("Wait a minute, then try again.")),
    "unavailable": (N_("Service busy"), N_("The service is busy. Try again in a moment.")),
    "csrf": (
        N_("Form expired"),
        N_("This form was not sent from this session. Open the page again and resend it."),
    ),
}
_OTHER = (N_("Refused"), N_("The service refused this request."))


def error_page(
    ctx: PageContext, status: int, code: str, detail: str | None, problems: list[str]
) -> Response:
    title, advice = ERRORS.get(code, _OTHER)
    problems = [p for p in problems if not (detail and p.endswith(detail))]  # no repeats
    return ctx.render(
        "error.html",
        status_code=status,
        title=ctx.gettext(title),
        advice=ctx.gettext(advice),
        detail=detail,
        problems=problems,
    )


def _path_and_query(request: Request) -> str:
    root = request.scope.get("root_path", "")
    path = request.scope.get("path", "")
    path = path[len(root) :] if root and path.startswith(root) else path
    query = request.url.query
    return f"{path}?{query}" if query else path


def sign_in_redirect(request: Request, ended: str | None) -> Response:
    """To the sign-in page, back to this page afterwards (a GET's), saying why if a session
    ended; the stale cookie cleared."""
    params = []
    target = _path_and_query(request) if request.method == "GET" else None
    if safe_next(target) and target not in (PREFIX, f"{PREFIX}/"):
        from urllib.parse import quote

        params.append(f"next={quote(target or '', safe='/')}")
    if ended:
        params.append(f"ended={'idle' if ended == 'idle' else 'ended'}")
    url = console_path(request, "/sign-in") + ("?" + "&".join(params) if params else "")
    response = RedirectResponse(url, 303)
    if ended:
        clear_cookie(response, request, SESSION_COOKIE)
    return response


class ConsoleRoute(APIRoute):
    """A console route: its errors answered as pages in the visitor's language."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeededError as e:
                return sign_in_redirect(request, e.ended)
            except CsrfRefusedError:
                return error_page(_quiet_context(request), 403, "csrf", None, [])
            except ServiceError as e:
                ctx = _quiet_context(request)
                return error_page(ctx, e.status, e.error, e.detail, e.problems)
            except RequestValidationError as e:
                problems = [
                    f"{'.'.join(str(p) for p in err['loc'][1:]) or 'request'}: {err['msg']}"
                    for err in e.errors()
                ]
                return error_page(_quiet_context(request), 422, "invalid_request", None, problems)

        return route


def console_router() -> APIRouter:
    """A router for console pages: hidden from the OpenAPI document, errors as pages.
    Give paths without the ``/console`` prefix; :func:`service.console.install` adds it."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)
