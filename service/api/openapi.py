"""The published OpenAPI document: FastAPI's, completed with what FastAPI cannot infer.

FastAPI documents each route's success and a 422 in its own validation shape, and takes the
``Authorization`` header for an ordinary parameter. :func:`complete` adds the rest, from one
table here rather than from every route:

- the error model ``Error`` (``{"error", "detail", "problems"}``) and one shared response per
  error status, whose ``error`` code is pinned (401 ``unauthorized``, 422 ``invalid_request``
  or ``invalid_batch``, …), with the ``WWW-Authenticate`` and ``Retry-After`` headers;
- the ``bearer`` security scheme, in place of the ``Authorization`` parameter, with 401;
- per operation, the error statuses its code can answer: 422 where it takes parameters or a
  body, 403 and 404 on an agreement's routes (role, purpose, party), and those of
  :data:`EXTRA` (conflicts, sizes, the rate limit, a tracing index not ready);
- the Parquet bodies of uploads and tracing queries, the CSV form of ``/cases``, and the 200 of
  a batch sent twice.

:func:`install` makes ``app.openapi()`` serve the completed document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

__all__ = ["ERROR_CODES", "EXTRA", "complete", "install"]

ERROR_CODES: dict[int, tuple[str, ...]] = {
    401: ("unauthorized",),
    403: ("forbidden",),
    404: ("not_found",),
    409: ("conflict",),
    413: ("too_large",),
    422: ("invalid_request", "invalid_batch"),
    429: ("rate_limited",),
    503: ("unavailable",),
}
_WHY = {
    401: "No API key, or one that is unknown or revoked.",
    403: "The key's role, or the stated purpose, does not allow this call.",
    404: "Nothing of that id that the caller may see (a non-party gets this too).",
    409: "Conflicts with the current state; the detail says what to wait for or change.",
    413: "The body is larger than this service accepts.",
    422: "The request (parameters, body or batch) is invalid; every problem is listed.",
    429: "The key's tracing rate limit is reached; retry after Retry-After seconds.",
    503: "Busy or not ready (the database busy, a tracing index being built); nothing was "
    "done: retry after Retry-After seconds.",
}
PARQUET = "application/vnd.apache.parquet"
AGREEMENT = "/v1/agreements/{agreement_id}"

# Error statuses beyond the derived ones (401, 422, and 403/404 under an agreement).
EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/v1/agencies"): (403, 409),
    ("get", "/v1/agencies"): (403,),
    ("post", "/v1/agencies/{name}/keys"): (403, 404),
    ("get", "/v1/keys"): (403,),  # only a steward manages keys
    ("post", "/v1/keys/{key_id}/rotate"): (403, 404, 409),
    ("delete", "/v1/keys/{key_id}"): (403, 404, 409),
    ("post", "/v1/agreements"): (403,),
    ("get", "/v1/agreements"): (403,),  # an admin reads no agreement
    ("patch", AGREEMENT): (409,),  # a leaving party still holds records
    ("post", f"{AGREEMENT}/batches"): (409, 413, 422),
    ("post", f"{AGREEMENT}/runs"): (409,),
    ("post", f"{AGREEMENT}/queries"): (413, 422, 429, 503),
    ("post", f"{AGREEMENT}/withdrawals"): (409,),
    ("get", "/v1/audit"): (403,),
    ("get", "/v1/audit/verify"): (403,),
    ("get", "/v1/audit/checkpoint"): (403,),
}
# Bodies FastAPI cannot see: the routes stream them from the request themselves.
BINARY_BODIES = {
    ("post", f"{AGREEMENT}/batches"): "the Parquet file `caselink encode` wrote",
    ("post", f"{AGREEMENT}/queries"): "the sought people, encoded by `caselink encode`",
}


def _error_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "title": "Error",
        "description": "Every error answer: a stable code, what to do, and every problem found.",
        "required": ["error", "detail", "problems"],
        "properties": {
            "error": {**text, "enum": sorted({c for cs in ERROR_CODES.values() for c in cs})},
            "detail": text,
            "problems": {"type": "array", "items": text},
        },
        "additionalProperties": False,
    }


def _error_response(status: int) -> dict[str, Any]:
    codes = list(ERROR_CODES[status])
    schema = {
        "allOf": [{"$ref": "#/components/schemas/Error"}],
        "properties": {"error": {"enum": codes}},
    }
    response: dict[str, Any] = {
        "description": _WHY[status],
        "content": {"application/json": {"schema": schema}},
    }
    header = {401: "WWW-Authenticate", 429: "Retry-After", 503: "Retry-After"}.get(status)
    if header is not None:
        response["headers"] = {header: {"required": True, "schema": {"type": "string"}}}
    return response


def _statuses(method: str, path: str, op: dict[str, Any], secured: bool) -> set[int]:
    found = set(EXTRA.get((method, path), ()))
    if secured:
        found |= {401, 503}  # 503: the database too busy to answer in time
    if op.get("parameters") or op.get("requestBody"):
        found.add(422)
    if path.startswith(AGREEMENT):
        found |= {403, 404}
    return found


def _document(method: str, path: str, op: dict[str, Any]) -> None:
    params = op.get("parameters", [])
    kept = [p for p in params if not (p["in"] == "header" and p["name"] == "authorization")]
    secured = len(kept) < len(params)
    if kept:
        op["parameters"] = kept
    else:
        op.pop("parameters", None)
    if secured:
        op["security"] = [{"bearer": []}]
    if (method, path) in BINARY_BODIES:
        binary = {"schema": {"type": "string", "format": "binary"}}
        op["requestBody"] = {
            "required": True,
            "description": BINARY_BODIES[method, path],
            "content": {PARQUET: binary},
        }
    responses = op.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's validation shape; ours is added where it applies
    for status in sorted(_statuses(method, path, op, secured)):
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}


def _special_answers(paths: dict[str, Any]) -> None:
    """The CSV form of ``/cases``; the 200 of an upload the service holds already."""
    cases = paths.get(f"{AGREEMENT}/cases", {}).get("get")
    if cases is not None:
        cases["responses"]["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    upload = paths.get(f"{AGREEMENT}/batches", {}).get("post")
    if upload is not None and "201" in upload["responses"]:
        again = dict(upload["responses"]["201"])
        again["description"] = "This exact batch was here already (duplicate: true)."
        upload["responses"]["200"] = again


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the error model, error statuses, security and bodies to ``document`` (in place)."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = _error_schema()
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, never sent
        schemas.pop(unused, None)
    components["responses"] = {f"Error{s}": _error_response(s) for s in ERROR_CODES}
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer clk_...`",
        }
    }
    paths = document.get("paths", {})
    for path, item in paths.items():
        for method, op in item.items():
            _document(method, path, op)
    _special_answers(paths)
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document from ``app.openapi()`` (and so ``/openapi.json``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
