"""The published API as people read it, in process: the OpenAPI document says what each call
does, who may make it and what it answers, with every parameter and field described; and
``/docs`` and ``/redoc`` load everything from the service itself.

The document comes from :func:`create_app` without starting it; the pages through httpx's ASGI
transport (they need none of the service's parts). The pages in a real browser against a real
``caselink serve``, and a client generated from the document, are in tests/service/docs.
"""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser

import httpx
import pytest

from service._keys import ROLES
from service._settings import Settings
from service.api import create_app
from service.api.docs import ASSETS, CSP, STATIC
from service.api.openapi import TAGS

# How a description says who may call: a role by name, or that any key (or none) will do.
WHO = re.compile(r"`(" + "|".join(ROLES) + r")`|[Aa]ny (valid )?key|[Nn]eeds no key")


@pytest.fixture(scope="module")
def app():
    return create_app(Settings(database_url="sqlite://"))


@pytest.fixture(scope="module")
def document(app) -> dict:
    return app.openapi()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, op in item.items():
            yield method, path, op


def get(app, path: str, root_path: str = "") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, root_path=root_path)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            return await c.get(path)

    return asyncio.run(go())


# -- the document -----------------------------------------------------------------------------
def test_every_operation_says_what_it_does_who_may_call_and_what_it_answers(document):
    for method, path, op in _operations(document):
        where = f"{method.upper()} {path}"
        summary, description = op.get("summary", ""), op.get("description", "")
        generated = op["operationId"].replace("_", " ").title()  # FastAPI's, when none is given
        assert summary and summary != generated, f"{where}: no summary of its own"
        assert len(summary) <= 50 and not summary.endswith("."), f"{where}: {summary!r}"
        assert len(description) >= 80, f"{where}: no description for people"
        assert WHO.search(description), f"{where}: the description names no caller"
        for status, answer in op["responses"].items():
            if status.startswith("2"):
                assert answer["description"] != "Successful Response", f"{where} {status}"


def test_every_parameter_is_described(document):
    for method, path, op in _operations(document):
        for p in op.get("parameters", []):
            text = p.get("description") or p["schema"].get("description")
            assert text, f"{method.upper()} {path}: {p['in']} parameter {p['name']}"


def test_every_schema_and_every_field_is_described(document):
    schemas = document["components"]["schemas"]
    assert {"BatchPublic", "QueryAnswer", "Error", "AgreementCreate"} <= set(schemas)
    for name, schema in schemas.items():
        assert schema.get("description"), f"schema {name}"
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field}"
    for status, response in document["components"]["responses"].items():
        assert response["description"], status


def test_every_tag_is_described_and_used(document):
    described = {t["name"] for t in document["tags"] if t["description"]}
    used = {tag for _, _, op in _operations(document) for tag in op["tags"]}
    assert used == described == {t["name"] for t in TAGS}


def test_operation_ids_are_the_route_names(document):
    """``upload_batch``, not FastAPI's ``upload_batch_v1_agreements__agreement_id__batches_post``:
    what a generated client names its functions."""
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids))
    assert {"upload_batch", "query", "start_run", "get_run", "read_cases", "healthz"} <= set(ids)
    assert all(i.isidentifier() and "v1" not in i for i in ids), ids


def test_the_introduction_names_every_role_and_the_error_model(document):
    info = document["info"]["description"]
    for role in ROLES:
        assert f"`{role}`" in info
    assert '`{"error", "detail", "problems"}`' in info
    assert "X-Caselink-Purpose" in info


# -- the pages --------------------------------------------------------------------------------
class _Links(HTMLParser):
    """Every URL a page names in src, href or ReDoc's spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]


def _links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize(
    ("page", "files"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
def test_a_page_names_only_this_services_files(app, page, files):
    r = get(app, page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert not re.search(r"(https?:)?//", r.text), "a URL to another host"
    assert "fonts.googleapis" not in r.text
    assert r.headers["content-security-policy"] == CSP  # the browser fetches from here only
    assert "default-src 'self'" in CSP and "connect-src 'self'" in CSP
    urls = set(_links(r.text))
    assert urls >= {f"{STATIC}/{f}" for f in files}
    for url in urls:
        assert url.startswith(f"{STATIC}/") or url == "/openapi.json", url
        assert get(app, url).status_code == 200, url
    if page == "/docs":
        assert "url: '/openapi.json'" in r.text
        assert '"validatorUrl": null' in r.text  # no document sent to an online validator
    else:
        assert '<redoc spec-url="/openapi.json">' in r.text


def test_behind_a_proxy_prefix_the_pages_name_their_files_under_it(app):
    r = get(app, "/docs", root_path="/caselink")
    assert f"/caselink{STATIC}/swagger-ui-bundle.js" in r.text
    assert "url: '/caselink/openapi.json'" in r.text


def test_the_files_need_no_key_and_are_cached(app):
    for name, media_type in ASSETS.items():
        r = get(app, f"{STATIC}/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"].split(";")[0] == media_type
        assert r.headers["cache-control"] == "public, max-age=86400"
        assert len(r.content) > 1000, name
    assert b"SwaggerUIBundle" in get(app, f"{STATIC}/swagger-ui-bundle.js").content
    redoc = get(app, f"{STATIC}/redoc.standalone.js").content
    assert b"Redoc" in redoc
    assert b"cdn.redoc.ly" not in redoc  # its side menu's logo, fetched whatever the options


@pytest.mark.parametrize(
    "path",
    [
        f"{STATIC}/core.py",
        f"{STATIC}/__init__.py",
        f"{STATIC}/",
        f"{STATIC}/..%2Fcore.py",
        f"{STATIC}/%2E%2E%2Fcore.py",
        f"{STATIC}/../../service/api/app.py",
        f"{STATIC}/swagger-ui.css/x",
        f"{STATIC}/SWAGGER-UI.CSS",
    ],
)
def test_no_other_file_is_served(app, path):
    r = get(app, path)
    assert r.status_code == 404
    body = r.json()
    assert set(body) == {"error", "detail", "problems"} and body["error"] == "not_found"
    assert "core" not in r.text and "app.py" not in r.text


def test_the_pages_and_their_files_are_not_in_the_document(document):
    assert not any(p.startswith(("/docs", "/redoc")) for p in document["paths"])
