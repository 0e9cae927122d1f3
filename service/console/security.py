"""What every console response carries, and the console's cookies.

:class:`ConsoleHeaders` sets the strict Content-Security-Policy (:data:`CSP`: scripts, styles
and images from the service itself only, no inline script or style, no framing, forms posted
back to the service only) and its companions on every response under ``/console``, whatever
answered it — a page, a static file, an error. Pages are never cached; static files are.

Cookies (:func:`set_cookie`) are httpOnly, ``SameSite=Strict``, confined to the console's
path, and ``Secure`` when the request came over https. :func:`safe_next` keeps a redirect
after sign-in inside the console.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSP",
    "PREFIX",
    "ConsoleHeaders",
    "clear_cookie",
    "console_path",
    "safe_next",
    "set_cookie",
]

PREFIX = "/console"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_NEXT = re.compile(r"/console(/[A-Za-z0-9_\-./]*)?(\?[A-Za-z0-9_\-.=&%]*)?")


class ConsoleHeaders:
    """ASGI middleware: the console's security headers on every response under /console."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(f"{PREFIX}/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                headers = [*message.get("headers", [])]
                headers += [(n, v) for n, v in _HEADERS if n not in names]
                if not static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def console_path(request: Request, path: str = "") -> str:
    """``/console`` + ``path``, under the prefix a proxy serves the service at, if any."""
    return f"{request.scope.get('root_path', '')}{PREFIX}{path}"


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None = None
) -> None:
    """A console cookie: httpOnly, SameSite=Strict, Path=/console, Secure under https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=console_path(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name,
        path=console_path(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path of the console (to go back to after sign-in), else None:
    never another site, never a scheme-relative ``//host``."""
    if value and _NEXT.fullmatch(value) and "//" not in value and ".." not in value:
        return value
    return None
