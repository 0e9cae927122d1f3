"""A database too busy to answer in time is a 503 with Retry-After in the error model — never a
500 — whichever layer noticed it: the connection pool, SQLite's lock, or the audit writer."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from service._audit_writer import AuditUnavailableError
from service.api.errors import BUSY_RETRY_SECONDS, install_handlers

RAISED = {
    "pool": sa.exc.TimeoutError("QueuePool limit reached"),
    "locked": sa.exc.OperationalError("INSERT", {}, Exception("database is locked")),
    "audit": AuditUnavailableError("the audit entry could not be written (OperationalError)"),
}


def _app() -> FastAPI:
    app = FastAPI()
    install_handlers(app)

    @app.get("/raise/{what}")
    def _raise(what: str) -> None:
        raise RAISED[what]

    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://caselink") as http:
        return await http.get(path)


@pytest.mark.parametrize("what", sorted(RAISED))
def test_a_busy_database_is_a_503_with_retry_after(what):
    r = asyncio.run(_get(f"/raise/{what}"))
    assert r.status_code == 503
    assert r.headers["Retry-After"] == str(BUSY_RETRY_SECONDS)
    body = r.json()
    assert body["error"] == "unavailable" and set(body) == {"error", "detail", "problems"}
    assert "locked" not in r.text and "QueuePool" not in r.text  # no internals echoed
