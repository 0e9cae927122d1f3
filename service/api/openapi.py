"""The published OpenAPI document: FastAPI's, completed with what FastAPI cannot infer.

FastAPI documents each route's success and a 422 in its own validation shape, and takes the
``Authorization`` header for an ordinary parameter. :func:`complete` adds the rest, from one
table here rather than from every route:

- the error model ``Error`` (``{"error", "detail", "problems"}``) and one shared response per
  error status, whose ``error`` code is pinned (401 ``unauthorized``, 422 ``invalid_request``
  or ``invalid_batch``, …), with the ``WWW-Authenticate`` and ``Retry-After`` headers;
- the ``bearer`` security scheme, in place of the ``Authorization`` parameter, with 401;
- per operation, the error statuses its code can answer: 422 where it takes parameters or a
  body, 403 and 404 on an agreement's routes (role, purpose, party), 404 on its public
  routes (``/v1/public/agreements/...``: not published), and those of :data:`EXTRA`
  (conflicts, sizes, the rate limit, a tracing index not ready);
- the Parquet bodies of uploads and tracing queries — as ``application/vnd.apache.parquet``
  and as ``application/octet-stream``, the binary body every client generator knows (one
  that knows no Parquet type would otherwise leave both operations out) —, the CSV form of
  ``/cases``, and the 200 of a batch sent twice;
- for readers: the API's introduction (:data:`DESCRIPTION`), a description of each tag
  (:data:`TAGS`) and of the parameters every agreement route shares (:data:`PARAMETERS`),
  where the route declares none.

Operation ids are the routes' function names (:func:`operation_id`): ``upload_batch``, not
``upload_batch_v1_agreements__agreement_id__batches_post``, so a generated client reads well.
:func:`install` makes ``app.openapi()`` serve the completed document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

__all__ = [
    "BINARY",
    "DESCRIPTION",
    "ERROR_CODES",
    "EXTRA",
    "PARAMETERS",
    "PARQUET",
    "TAGS",
    "complete",
    "install",
    "operation_id",
]

DESCRIPTION = """\
caselink links the records of one person across agencies without any agency, or this
service, seeing another agency's names. Each agency encodes its register on its own machine
(`caselink encode`, with the agreement's schema and secret) into keyed Bloom filters; the
service matches the filters, gives each person a shared case id with a calibrated
confidence, and audits every call.

**Keys and roles.** Every call but `/healthz` needs an API key, sent as
`Authorization: Bearer clk_...` (the **Authorize** button here). A key belongs to one agency
and has one role:

- `admin` runs the service: adds agencies, issues keys, reads the service's own audit. It
  reads no agreement.
- `steward` sets up agreements, manages its agency's keys, reads an agreement's audit and
  summary, and withdraws records.
- `submitter` uploads its agency's encoded batches, starts linkage runs, reads the case ids of
  its agency's records and withdraws them.
- `tracer` sends tracing queries: is this sought person known anywhere?
- `evaluator` reads an agreement's summary figures.
- `auditor` oversees: it reads an agreement and its audit, and has the audit verified and
  checkpointed, for the agreements its agency is named on as an auditor; nothing else.

**Agreements and purposes.** Records are shared under an agreement: its parties, the
agencies named to oversee it (its auditors), the purposes it allows, its schema and its
retention. Only its parties, and the `auditor` keys of its auditors, see an agreement;
anyone else gets 404. A call under an agreement may state its purpose in the
`X-Caselink-Purpose` header, and the agreement must allow it; tracing queries must state one.

**Errors.** Every error answer is `{"error", "detail", "problems"}`: a stable code, what to
do, and every problem found. No answer repeats an identifier you sent.
"""
TAGS: list[dict[str, str]] = [
    {"name": "health", "description": "Whether the service and its database answer."},
    {
        "name": "agencies and keys",
        "description": "Agencies and their API keys: who may call, and with which role.",
    },
    {
        "name": "agreements",
        "description": "Data-sharing agreements: parties, purposes, schema, linkage settings "
        "and retention.",
    },
    {
        "name": "batches",
        "description": "Uploads of encoded batches: the Parquet files `caselink encode` wrote.",
    },
    {"name": "runs", "description": "Linkage runs: the pending batches linked into cases."},
    {
        "name": "cases",
        "description": "What an agency reads back: the case id of each of its records, and "
        "an agreement's aggregate figures.",
    },
    {
        "name": "queries",
        "description": "Tracing queries: is a sought person known anywhere in the agreement?",
    },
    {
        "name": "withdrawals",
        "description": "Withdrawing a record: on consent withdrawn, for a correction, or for "
        "erasure.",
    },
    {
        "name": "consent",
        "description": "Consent scopes: an agency changes what its records may be used for "
        "(`tracing`, `coordination`...); an agreement maps each purpose to the scope it needs.",
    },
    {
        "name": "reviews",
        "description": "Clerical review without names: the uncertain links each agency "
        "resolves on its side, the constraints agreeing decisions make, and the reviewed pairs "
        "as labels.",
    },
    {
        "name": "audit",
        "description": "The audit chains: read them, verify them whole, take signed "
        "checkpoints of their heads.",
    },
]
# Descriptions of parameters the routes declare bare, by (where, name).
PARAMETERS: dict[tuple[str, str], str] = {
    ("path", "agreement_id"): "The agreement's id (`agr_` and 16 hex digits), as creating or "
    "listing agreements gave it.",
    ("path", "run_id"): "The run's id (`run_` and 16 hex digits), as starting the run gave it.",
    ("path", "key_id"): "The key's id (`key_` and 16 hex digits, as `GET /v1/keys` lists it); "
    "never the key itself.",
    ("query", "offset"): "How many of your records to skip: the `next_offset` of the page "
    "before (0 for the first page).",
    ("query", "limit"): "The most items in one page.",
    ("query", "format"): "`json` for one page of records; `csv` for all of them at once as a "
    "CSV file (`offset` and `limit` then do not apply).",
    ("query", "min_confidence"): "Leave out cases whose confidence is below this probability.",
}

ERROR_CODES: dict[int, tuple[str, ...]] = {
    401: ("unauthorized",),
    403: ("forbidden",),
    404: ("not_found",),
    409: ("conflict",),
    413: ("too_large",),
    422: ("invalid_request", "invalid_batch", "wrong_secret"),
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
PUBLIC_AGREEMENT = "/v1/public/agreements/{agreement_id}"  # no key; 404 unless published

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
    ("put", f"{AGREEMENT}/records/consent"): (409,),
    ("post", f"{AGREEMENT}/reviews/{{review_id}}/decision"): (409,),  # resolved for good
    ("get", "/v1/audit"): (403,),
    ("get", "/v1/audit/verify"): (403,),
    ("get", "/v1/audit/checkpoint"): (403,),
}
# Bodies FastAPI cannot see: the routes stream them from the request themselves. Each is
# declared under both media types; the service reads the body whatever its Content-Type.
BINARY = "application/octet-stream"
BINARY_BODIES = {
    ("post", f"{AGREEMENT}/batches"): "The Parquet file `caselink encode` wrote for your "
    "agency, with the agreement's schema and secret, sent as it is.",
    ("post", f"{AGREEMENT}/queries"): "The sought people, in a Parquet file `caselink encode` "
    "wrote for your agency with the agreement's schema and secret; their refs are yours.",
}


def operation_id(route: APIRoute) -> str:
    """The operation id of ``route``: its function's name (unique in the app)."""
    return route.name


def _error_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "title": "Error",
        "description": "Every error answer: a stable code, what to do, and every problem found.",
        "required": ["error", "detail", "problems"],
        "properties": {
            "error": {
                **text,
                "enum": sorted({c for cs in ERROR_CODES.values() for c in cs}),
                "description": "A stable code to branch on; each status has its own.",
            },
            "detail": {
                **text,
                "description": "What is wrong and what to do, in a sentence for a person.",
            },
            "problems": {
                "type": "array",
                "items": text,
                "description": "Every problem found, each led by the field, parameter, header "
                "or row it concerns; never a value you sent.",
            },
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
    if path.startswith(PUBLIC_AGREEMENT):
        found.add(404)
    return found


def _document(method: str, path: str, op: dict[str, Any]) -> None:
    params = op.get("parameters", [])
    kept = [p for p in params if not (p["in"] == "header" and p["name"] == "authorization")]
    secured = len(kept) < len(params)
    for p in kept:
        described = p.get("description") or p.get("schema", {}).get("description")
        if not described and (p["in"], p["name"]) in PARAMETERS:
            p["description"] = PARAMETERS[p["in"], p["name"]]
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
            "content": {PARQUET: binary, BINARY: binary},
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
    """Add the error model, error statuses, security, bodies and the descriptions FastAPI
    cannot infer to ``document`` (in place)."""
    document["tags"] = TAGS
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
