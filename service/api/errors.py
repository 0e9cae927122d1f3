"""Errors the API answers with: one JSON shape, ``{"error", "detail", "problems"}``.

``error`` is a stable code a client can branch on (``unauthorized``, ``forbidden``,
``not_found``, ``invalid_batch``, ``wrong_secret`` (a batch or query encoded with
another secret than its agreement's), ``conflict``, ``too_large``, ``invalid_request``,
``rate_limited`` with a ``Retry-After`` header, ``unavailable``);
``detail`` says what is wrong and what to do; ``problems`` lists every problem found
(a batch with three faults gets all three). No message ever holds a filter, a key or an
identifier's value, and no input is echoed: an id the caller sent is named only if it has the
form of an id of its kind (:func:`named_id`), so a control character or a record_ref sent in
its place never comes back in an answer or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from caselink_errors import CaselinkError, ServiceError

__all__ = ["ID_PATTERNS", "ServiceError", "install_handlers", "named_id", "well_formed"]

_HEX16 = "[0-9a-f]{16}"
_CROCKFORD = "[0-9ABCDEFGHJKMNPQRSTVWXYZ]"
ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "agreement": re.compile(f"agr_{_HEX16}"),
    "run": re.compile(f"run_{_HEX16}"),
    "batch": re.compile(f"bat_{_HEX16}"),
    "key": re.compile(f"key_{_HEX16}"),
    "review": re.compile(f"rev_{_HEX16}"),
    "case": re.compile(f"CL-{_CROCKFORD}{{4}}-{_CROCKFORD}{{4}}-[0-9A-Z*~$=]"),
}


def well_formed(kind: str, value: str) -> bool:
    """Whether ``value`` has the form of an id of ``kind``; one that has not names nothing
    (and is never sent to a database: PostgreSQL refuses a NUL in a string with an error)."""
    return ID_PATTERNS[kind].fullmatch(value) is not None


def named_id(kind: str, value: str) -> str:
    """``"<kind> <value>"`` if ``value`` has the form of an id of ``kind`` (a key of
    :data:`ID_PATTERNS`), else ``"<kind> (the id you sent)"``: never anything else it held."""
    return f"{kind} {value}" if well_formed(kind, value) else f"{kind} (the id you sent)"


def _body(error: str, detail: str, problems: Sequence[str] = ()) -> dict:
    return {"error": error, "detail": detail, "problems": list(problems)}


def _field(loc: Sequence) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path", "header"))


async def _caselink_error(_request: Request, exc: Exception) -> JSONResponse:
    """Any error of the tree, at its class's status (:mod:`caselink_errors`); a refusal of
    the API's own (:class:`ServiceError`) at the status it was given."""
    assert isinstance(exc, CaselinkError)
    status = exc.http_status
    headers = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "60"}}.get(status)
    detail = exc.detail if isinstance(exc, ServiceError) else str(exc).split("\n")[0]
    return JSONResponse(_body(exc.code, detail, exc.problems), status, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [f"{_field(e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()]
    return JSONResponse(_body("invalid_request", "the request is invalid", problems), 422)


BUSY_RETRY_SECONDS = 2


async def _busy(_request: Request, exc: Exception) -> JSONResponse:
    """The database could not be reached in time (every pooled connection busy, SQLite's
    write lock held past its timeout, the server away) or an audit entry could not be
    written: nothing was done or answered, and the call may simply be sent again."""
    detail = f"the service is busy and did nothing; retry in {BUSY_RETRY_SECONDS} s"
    return JSONResponse(
        _body("unavailable", detail, [f"service: {detail}"]),
        503,
        headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
    )


def install_handlers(app: FastAPI) -> None:
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    from service._audit_writer import AuditUnavailableError

    for busy in (PoolTimeoutError, OperationalError, AuditUnavailableError):
        app.add_exception_handler(busy, _busy)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(CaselinkError, _caselink_error)
