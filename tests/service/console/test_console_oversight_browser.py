"""The oversight and public pages in a real browser against a real ``caselink serve``, in
English, French and Arabic: a steward reads the audit log, filters it, verifies the chain and
exports it as CSV; an auditor named on the agreement signs in and verifies; a visitor with no
key reads the published transparency page — no count from 1 to 9, every control named, no
request off the server, right to left in Arabic.

The agreement's chain holds two past months of entries (appended with their own times by
:func:`tests.service.console.oversight_world.past_entries`) so the public page has complete
months to show. The server is the folder's (:mod:`tests.service.console.served`), the
agreement this module's own. With ``CASELINK_UPDATE_SCREENSHOTS=1`` (``make screenshots``)
screenshots go to ``build/screenshots/console`` and the README's to ``docs/screenshots``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service._audit import append_many
from service._tables import agreements
from tests.service import loopback
from tests.service.browser import (
    LOAD_TIMEOUT_MS,
    Visit,
    keep_screenshot,
    page_checks,
)
from tests.service.console.oversight_world import past_entries
from tests.service.console.served import Served
from tests.service.servers import Server, agreement_body

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "build" / "screenshots" / "console"
README_SHOTS = {
    ("en", "public"): ROOT / "docs" / "screenshots" / "console-public-page.png",
    ("en", "steward-audit"): ROOT / "docs" / "screenshots" / "console-steward-audit.png",
}
PARTIES = ("agency-a", "agency-b")  # agency-c audits
CASE_ID = "cas_planted0000000001"
FEWER = {"en": "fewer than 10", "fr": "moins de 10", "ar": "أقل من 10"}
LOCALES = {"en": "en-GB", "fr": "fr-FR", "ar": "ar"}


@dataclass(frozen=True)
class Oversight:
    served: Served
    agreement_id: str
    steward: str
    auditor: str

    @property
    def server(self) -> Server:
        return self.served.server

    @property
    def url(self) -> str:
        return self.served.url


@pytest.fixture(scope="module")
def oversight_server(console_service: Served) -> Oversight:
    """On the folder's server: an agreement whose parties are agency-a and agency-b, which
    names agency-c as auditor, with two past months of entries in its chain, published."""
    served = console_service
    auditor = served.issue("agency-c", "auditor")
    with served.server.client(served.steward) as c:
        body = agreement_body(served.schema, list(PARTIES), name="Family reunification")
        agreement_id = c.create_agreement(**body)["agreement_id"]
        c.amend_agreement(agreement_id, add_auditors=["agency-c"])
    now = datetime.now(UTC)
    with served.server.db.engine.begin() as conn:
        conn.execute(
            agreements.update()
            .where(agreements.c.id == agreement_id)
            .values(created_at=now - timedelta(days=150))
        )
        append_many(conn, agreement_id, past_entries(now, CASE_ID))
    published = loopback.post(
        f"{served.url}/v1/agreements/{agreement_id}/publication",
        headers={"Authorization": f"Bearer {served.steward}"},
    )
    assert published.status_code == 200, published.text
    return Oversight(served, agreement_id, served.steward, auditor)


@pytest.fixture()
def open_oversight(open_page, oversight_server):
    """``open(lang, path)``: a fresh browser (no cookie) on ``path``."""

    def opened(lang: str, path: str) -> Visit:
        return open_page(oversight_server.url, path, LOCALES[lang])

    return opened


def _checked(seen: Visit, server: Oversight, lang: str, name: str) -> str:
    page = seen.page
    page_checks(seen, server.url, lang, name)
    text = page.locator("body").inner_text()
    keep_screenshot(page, SHOTS / f"{lang}-{name}.png", README_SHOTS.get((lang, name)))
    return text


def _sign_in(seen: Visit, key: str) -> None:
    seen.page.locator("#api_key").fill(key)
    with seen.page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        seen.page.locator("#api_key").press("Enter")


def _submit(seen: Visit, form: str) -> None:
    with seen.page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        seen.page.locator(f"{form} button[type=submit]").click()


def _verify(seen: Visit) -> None:
    _submit(seen, "form[action$='/audit/verify']")
    seen.page.locator("#verification-result[role=status]").wait_for(timeout=LOAD_TIMEOUT_MS)


@pytest.mark.parametrize("lang", ["en", "fr", "ar"])
def test_oversight_and_the_public_page(open_oversight, oversight_server, lang):
    server = oversight_server
    audit = f"/console/oversight/{server.agreement_id}/audit"

    # a steward reads the log, filters it, verifies the chain, exports it
    seen = open_oversight(lang, audit)
    _sign_in(seen, server.steward)
    page = seen.page
    assert page.url.endswith(audit)
    assert page.locator("table.audit tbody tr").count() > 0
    page.locator("#filter-action").select_option("batch.upload")
    _submit(seen, "form.filters")
    actions = page.locator("table.audit tbody tr td:nth-child(5)").all_inner_texts()
    assert actions and set(actions) == {"batch.upload"}
    _checked(seen, server, lang, "steward-audit-filtered")
    page.goto(f"{server.url}{audit}", timeout=LOAD_TIMEOUT_MS)
    _verify(seen)
    assert page.locator("#last-verification").inner_text().strip()
    _checked(seen, server, lang, "steward-audit")
    with page.expect_download(timeout=LOAD_TIMEOUT_MS) as download:
        page.locator("form[action$='/audit/export'] button[type=submit]").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert exported.startswith("seq,at,actor,key_id,role,action,purpose,outcome,details")
    assert "audit.verify" in exported

    # the auditor named on the agreement signs in and verifies
    seen = open_oversight(lang, "/console/sign-in")
    _sign_in(seen, server.auditor)
    page = seen.page
    assert page.url.endswith("/console/oversight")
    _checked(seen, server, lang, "auditor-home")
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.locator(f"a[href$='/oversight/{server.agreement_id}/audit']").click()
    _verify(seen)
    _checked(seen, server, lang, "auditor-audit")

    # anyone, with no key, reads the published page
    seen = open_oversight(lang, f"/console/public/agreements/{server.agreement_id}")
    page = seen.page
    text = _checked(seen, server, lang, "public")
    assert "agency-a" in text and "agency-b" in text
    counts = page.locator("td.count").all_inner_texts()
    assert FEWER[lang] in counts
    for shown in counts:
        assert shown == FEWER[lang] or shown == "0" or int(re.sub(r"\D", "", shown)) >= 10
    assert CASE_ID not in text
    charts = page.locator("svg[role=img]")
    assert charts.count() == 5
    directions = {charts.nth(k).get_attribute("data-direction") for k in range(5)}
    assert directions == {"rtl" if lang == "ar" else "ltr"}
    main = page.locator("main").bounding_box()
    assert main is not None
