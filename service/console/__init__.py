"""The caselink console: web pages for the people who oversee and use the service.

Server-rendered from Jinja2 templates, in English, French or Arabic, with every file served
by the service itself (no CDN: it works in an office with no internet). ``caselink serve``
mounts it under ``/console`` (:func:`install`); it is not part of the API's OpenAPI document.

- sign-in with an API key, kept as a server-side session (:mod:`.sessions`, :mod:`.pages_session`);
- the strict Content-Security-Policy and cookie rules (:mod:`.security`);
- languages, dates and numbers (:mod:`.i18n`), templates (:mod:`.rendering`);
- page handlers get a :class:`~.context.PageContext` holding the session's
  :class:`~service.api.deps.Principal` and call the API's own functions with it
  (:mod:`.context`), so authorisation and audit are the API's;
- pages per audience, one module each (:data:`PAGES`): :mod:`.pages_agency`,
  :mod:`.pages_steward` (agreements and keys), :mod:`.pages_oversight` (audit, retention,
  withdrawals, linkage quality; the auditor's home), :mod:`.pages_public` (the published
  transparency pages, no sign-in), :mod:`.pages_review` (an agency's review queue).

A pages module offers ``router`` (made by :func:`~.context.console_router`, paths without
``/console``), ``NAV`` (its navigation links) and ``HOME`` (role -> the page a key of that
role lands on after sign-in); add it to :data:`PAGES`.
"""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType

from fastapi import FastAPI
from fastapi.responses import Response

from service._ratelimit import RateLimiter
from service._settings import Settings
from service.api.errors import ServiceError
from service.console import (
    assets,
    pages_agency,
    pages_oversight,
    pages_public,
    pages_review,
    pages_session,
    pages_steward,
)
from service.console.context import ConsoleState, Visitor, console_router
from service.console.i18n import load_catalogues
from service.console.rendering import Renderer
from service.console.security import PREFIX, ConsoleHeaders

__all__ = ["PAGES", "install"]

PAGES: tuple[ModuleType, ...] = (  # pages_session first
    pages_session,
    pages_agency,
    pages_oversight,
    pages_public,
    pages_steward,
    pages_review,
)


def _not_found_router():
    router = console_router()

    @router.get("/{rest:path}")
    def not_found(rest: str, ctx: Visitor) -> Response:
        """Any other path under /console: a page saying so, in the visitor's language."""
        raise ServiceError(404, "not_found", "no such page of the console")

    return router


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the console under ``/console``. Refuses (:class:`~.i18n.MissingCatalogueError`,
    RuntimeError) when a compiled catalogue or a static file is missing."""
    catalogues = load_catalogues()
    files = assets.read_assets()
    homes: dict[str, str] = {}
    for module in PAGES:
        homes |= module.HOME
    rate = settings.console_sign_ins_per_minute
    app.state.console = ConsoleState(
        renderer=Renderer(catalogues),
        idle=timedelta(minutes=settings.console_idle_minutes),
        sign_ins=RateLimiter(rate, max(1, int(rate))),
        # each audience's links, then the key's own page (pages_session) last
        nav=tuple(link for module in (*PAGES[1:], PAGES[0]) for link in module.NAV),
        homes=homes,
    )
    app.include_router(assets.router_for(files), prefix=PREFIX)
    for module in PAGES:
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(_not_found_router(), prefix=PREFIX)  # last: after every page
    app.add_middleware(ConsoleHeaders)
