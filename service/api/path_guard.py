"""Paths with control characters are refused before any route runs.

No id or name the service issues or accepts holds a control character, but a path parameter
is an arbitrary string: a NUL in ``/v1/agreements/%00`` reached the database, where
PostgreSQL refuses NUL in text and the request failed with a 500 (SQLite merely found
nothing). :class:`PathGuard` answers any path holding a C0 control character or DEL with 422
``invalid_request``, the same on every database, and never echoes the path.
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PathGuard"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DETAIL = "the path holds a control character; no id or name on this service does"


class PathGuard:
    """ASGI middleware: 422 for a path with a control character, before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _CONTROL.search(scope.get("path", "")):
            body = {"error": "invalid_request", "detail": _DETAIL, "problems": [f"path: {_DETAIL}"]}
            await JSONResponse(body, 422)(scope, receive, send)
            return
        await self.app(scope, receive, send)
