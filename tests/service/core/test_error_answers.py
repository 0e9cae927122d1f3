"""Every error of the tree is answered at its class's status, in the error model, by the
service's own handlers (in process: a FastAPI app with only those handlers installed)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

import caselink_errors as errors
from service.api.errors import install_handlers

RAISED = {
    "schema": (
        errors.SchemaError(["segments: none", "bits: not a number"]),
        422,
        "invalid_request",
    ),
    "batch": (errors.BatchError("the file is not Parquet"), 422, "invalid_batch"),
    "blocking": (errors.BlockingError({"bands": "must be >= 1"}), 422, "invalid_request"),
    "registry": (errors.RegistryError("records of another schema"), 409, "conflict"),
    "memory": (errors.RunMemoryError("the run needs 9 GiB, its budget is 8"), 413, "too_large"),
    "datakey": (errors.DataKeyError("no data key k2 in the ring"), 500, "misconfigured"),
    "sealed": (errors.SealedValueError("record 12's filter was altered"), 500, "damaged"),
    "service": (errors.ServiceError(404, "not_found", "no such agreement"), 404, "not_found"),
    "refused": (
        errors.BatchRefusedError(409, "some records are here", ["record_ref: 2 rows"]),
        409,
        "conflict",
    ),
}


class _InProcess:
    """The app answered in this process, over httpx's ASGI transport (no server)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
                return await c.get(path)

        return asyncio.run(call())


@pytest.fixture(scope="module")
def client() -> _InProcess:
    app = FastAPI()
    install_handlers(app)

    @app.get("/raise/{name}")
    def _raise(name: str) -> None:
        raise RAISED[name][0]

    @app.get("/busy")
    def _busy() -> None:
        raise errors.AuditUnavailableError("the audit entry could not be written (Timeout)")

    return _InProcess(app)


@pytest.mark.parametrize("name", sorted(RAISED))
def test_each_error_is_answered_at_its_status_with_every_problem(client, name):
    error, status, code = RAISED[name]
    response = client.get(f"/raise/{name}")
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "detail", "problems"} and body["error"] == code
    assert body["problems"] == list(error.problems)
    assert "\n" not in body["detail"]  # one line: the headline, or the one problem


def test_an_audit_that_cannot_be_written_is_a_503_to_retry(client):
    response = client.get("/busy")
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
    assert response.headers["Retry-After"] == "2"
