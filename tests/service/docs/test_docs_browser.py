"""``/docs`` and ``/redoc`` in a real browser, against a real server: they render the API and
ask nothing of any host but the service — as in a field office with no internet.

Debian's Chromium (``make browser`` installs it) driven by Playwright. Every request a page
makes is recorded, even one the page's Content-Security-Policy stops; any to another host is
aborted (this machine has no route out anyway, and a page must not wait on one) and fails the
test, and so does any error the page logs (:mod:`tests.service.browser`).
"""

from __future__ import annotations

import json

import pytest

from tests.service import loopback
from tests.service.browser import LOAD_TIMEOUT_MS, Visit, offline_page


@pytest.fixture()
def visit(browser, published):
    """``open(path)``: the page at ``path`` of the server, every request it makes recorded."""
    contexts = []

    def open_page(path: str) -> Visit:
        context = browser.new_context()
        contexts.append(context)
        seen = offline_page(context, published.url)
        seen.page.goto(f"{published.url}{path}", wait_until="load", timeout=LOAD_TIMEOUT_MS)
        return seen

    yield open_page
    for context in contexts:
        context.close()


def _operations(published) -> dict[str, dict]:
    document = loopback.get(f"{published.url}/openapi.json", timeout=30).json()
    return {op["operationId"]: op for item in document["paths"].values() for op in item.values()}


def test_swagger_ui_renders_every_operation_and_the_authorize_button(visit, published):
    operations = _operations(published)
    seen = visit("/docs")
    page = seen.page
    upload = page.locator("#operations-batches-upload_batch")
    upload.wait_for(state="visible", timeout=LOAD_TIMEOUT_MS)
    assert "Upload an encoded batch" in upload.inner_text()
    assert page.locator(".opblock").count() == len(operations)
    assert page.get_by_text("Keys and roles").is_visible()  # the introduction, as markdown

    authorize = page.locator("button.authorize")
    assert authorize.is_visible()
    authorize.click()
    dialog = page.locator(".modal-ux")
    dialog.wait_for(state="visible", timeout=LOAD_TIMEOUT_MS)
    assert "bearer" in dialog.inner_text() and "Bearer" in dialog.inner_text()

    page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
    assert seen.elsewhere(published.url) == []
    assert f"{published.url}/docs/static/swagger-ui-bundle.js" in seen.requests
    assert f"{published.url}/openapi.json" in seen.requests
    assert seen.errors == []


def test_redoc_renders_every_operation_with_no_google_fonts(visit, published):
    operations = _operations(published)
    seen = visit("/redoc")
    page = seen.page
    upload = page.locator('[data-section-id="operation/upload_batch"]')
    upload.wait_for(state="attached", timeout=LOAD_TIMEOUT_MS)
    assert "Upload an encoded batch" in upload.inner_text()
    for name in operations:
        assert page.locator(f'[data-section-id="operation/{name}"]').count() == 1, name

    page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
    assert seen.elsewhere(published.url) == []
    assert f"{published.url}/docs/static/redoc.standalone.js" in seen.requests
    assert not any("fonts" in u for u in seen.requests), json.dumps(seen.requests)
    assert seen.errors == []


def test_a_request_to_another_host_is_aborted_and_recorded_and_the_services_pass(visit, published):
    """The guard of every browser test (:func:`tests.service.browser.offline_page`): a fetch
    to another host, or to another port of this one, fails at once and is listed by
    ``elsewhere``; one to the service answers."""
    seen = visit("/openapi.json")  # a page of the service's own, without a page's CSP
    failed: dict[str, str] = {}
    seen.page.on("requestfailed", lambda r: failed.setdefault(r.url, r.failure or ""))
    fetch = "url => fetch(url).then(r => r.status, e => 'failed: ' + e.name)"
    host, port = published.url.rsplit(":", 1)
    outside = ["http://192.0.2.1/x.js", f"{host}:{int(port) % 65535 + 1}/healthz"]
    assert [seen.page.evaluate(fetch, url) for url in outside] == ["failed: TypeError"] * 2
    assert seen.page.evaluate(fetch, f"{published.url}/healthz") == 200
    assert seen.elsewhere(published.url) == outside
    # aborted by the guard, not refused or unreachable on the way out
    assert failed == dict.fromkeys(outside, "net::ERR_INTERNET_DISCONNECTED")
