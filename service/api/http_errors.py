"""Errors the framework raises before a route runs, answered in the service's error model.

Starlette answers a body it cannot decode (a JSON body that is not UTF-8) with ``400
{"detail": ...}``, an unknown path with ``404`` and a wrong method with ``405``, all outside
``{"error", "detail", "problems"}``. :func:`install` answers them in that model: the body a
route cannot read is an invalid request like any other (422 ``invalid_request``), the others
keep their status and headers. The path or body is never echoed.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

__all__ = ["install"]

_ANSWERS: dict[int, tuple[int, str, str, str]] = {  # status: (answered, error, detail, where)
    400: (422, "invalid_request", "the body could not be read; send JSON encoded as UTF-8", "body"),
    404: (404, "not_found", "no such path on this service; see /docs for the API", "path"),
    405: (405, "method_not_allowed", "this path does not take that method; see /docs", "method"),
}


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status, error, detail, where = _ANSWERS.get(
        exc.status_code, (exc.status_code, "invalid_request", "the request was refused", "request")
    )
    body = {"error": error, "detail": detail, "problems": [f"{where}: {detail}"]}
    return JSONResponse(body, status, headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
