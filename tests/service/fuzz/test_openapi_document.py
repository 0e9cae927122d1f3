"""The published OpenAPI document: the error model, every error status, security, bodies.

Built from the app without starting it; the fuzzer checks the answers against it.
"""

from __future__ import annotations

import json

import pytest

from service._settings import Settings
from service.api import create_app
from service.api.openapi import BINARY, BINARY_BODIES, ERROR_CODES, EXTRA, PARQUET


@pytest.fixture(scope="module")
def document() -> dict:
    return create_app(Settings(database_url="sqlite://")).openapi()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, op in item.items():
            yield method, path, op


def test_the_error_model_and_one_response_per_error_status(document):
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail", "problems"]
    assert error["additionalProperties"] is False
    responses = document["components"]["responses"]
    assert set(responses) == {f"Error{s}" for s in ERROR_CODES}
    for status, codes in ERROR_CODES.items():
        schema = responses[f"Error{status}"]["content"]["application/json"]["schema"]
        assert schema["allOf"] == [{"$ref": "#/components/schemas/Error"}]
        assert schema["properties"]["error"]["enum"] == list(codes)
    assert responses["Error401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert responses["Error429"]["headers"]["Retry-After"]["required"] is True


def test_fastapis_validation_shape_is_documented_nowhere(document):
    assert "HTTPValidationError" not in json.dumps(document)


def test_every_route_but_the_health_check_and_public_pages_needs_a_bearer_key(document):
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for method, path, op in _operations(document):
        params = [p["name"].lower() for p in op.get("parameters", [])]
        assert "authorization" not in params, (method, path)
        if path == "/healthz":
            assert "security" not in op and set(op["responses"]) == {"200"}
            continue
        if path.startswith("/v1/public/"):  # a published transparency page: no key, no 401
            assert "security" not in op and "401" not in op["responses"], (method, path)
            continue
        assert op["security"] == [{"bearer": []}], (method, path)
        assert op["responses"]["401"] == {"$ref": "#/components/responses/Error401"}


def test_error_statuses_per_operation(document):
    for method, path, op in _operations(document):
        statuses = {int(s) for s in op["responses"] if int(s) >= 400}
        takes_input = bool(op.get("parameters") or op.get("requestBody"))
        assert (422 in statuses) == takes_input, (method, path)
        if path.startswith("/v1/agreements/{agreement_id}"):
            assert {403, 404} <= statuses, (method, path)
        assert set(EXTRA.get((method, path), ())) <= statuses, (method, path)
        if op.get("security"):  # a keyed call reads the database: it may find it too busy
            assert 503 in statuses, (method, path)
            retry = document["components"]["responses"]["Error503"]["headers"]["Retry-After"]
            assert retry["required"] is True
    assert set(document["paths"]["/v1/me"]["get"]["responses"]) == {"200", "401", "503"}


def test_every_operation_the_table_names_exists(document):
    known = {(m, p) for m, p, _ in _operations(document)}
    assert set(EXTRA) <= known
    assert set(BINARY_BODIES) <= known


def test_bodies_and_answers_fastapi_cannot_see(document):
    paths = document["paths"]
    for method, path in BINARY_BODIES:
        body = paths[path][method]["requestBody"]
        assert body["required"] is True
        binary = {"schema": {"type": "string", "format": "binary"}}
        # the Parquet type, and the generic binary type every client generator knows
        assert body["content"] == {PARQUET: binary, BINARY: binary}
        assert body["description"]
    cases = paths["/v1/agreements/{agreement_id}/cases"]["get"]["responses"]["200"]["content"]
    assert set(cases) == {"application/json", "text/csv"}
    upload = paths["/v1/agreements/{agreement_id}/batches"]["post"]["responses"]
    assert upload["200"]["content"] == upload["201"]["content"]
