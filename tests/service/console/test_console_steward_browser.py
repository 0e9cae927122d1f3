"""The steward's pages in a real browser against a real ``caselink serve``: a steward signs
in, in English, French and Arabic, creates an agreement from the form, amends it, publishes
its transparency page and issues a key — offline, every control labelled.

As :mod:`tests.service.console.test_console_browser`: Debian's Chromium driven by Playwright,
every request to the server only, no console error, every control named in the ARIA
snapshot, right to left in Arabic; with ``CASELINK_UPDATE_SCREENSHOTS=1`` (``make
screenshots``) screenshots in ``build/screenshots/console`` and the README's in
``docs/screenshots``. No linkage run: on the folder's server
(:mod:`tests.service.console.served`) the pages are walked in seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.service import loopback
from tests.service.browser import (
    LOAD_TIMEOUT_MS,
    Visit,
    focused_on_arrival,
    keep_screenshot,
    page_checks,
)
from tests.service.console.served import Served

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "build" / "screenshots" / "console"
README_SHOTS = {
    ("en", "steward-agreement"): ROOT / "docs" / "screenshots" / "console-steward-agreement.png"
}
LANGUAGES = ("en", "fr", "ar")


@dataclass(frozen=True)
class StewardServer:
    served: Served
    steward: str  # agency-a's steward key

    @property
    def url(self) -> str:
        return self.served.url

    def get(self, path: str, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return loopback.get(f"{self.url}{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def steward_server(console_service: Served) -> StewardServer:
    """On the folder's server: a steward key of agency-a; agency-b and agency-c to name."""
    return StewardServer(console_service, console_service.issue("agency-a", "steward"))


def _checked(seen: Visit, console: StewardServer, lang: str, name: str) -> str:
    """Checks every page passes; keeps a screenshot if asked; returns its text."""
    page = seen.page
    page_checks(seen, console.url, lang, name)
    keep_screenshot(page, SHOTS / f"{lang}-{name}.png", README_SHOTS.get((lang, name)))
    return page.locator("body").inner_text()


def _click(seen: Visit, selector: str) -> None:
    with seen.page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        seen.page.locator(selector).first.click()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_steward_sets_up_an_agreement_publishes_it_and_issues_a_key(
    open_page, steward_server, lang
):
    console = steward_server
    seen = open_page(console.url, "/console", "fr-FR" if lang == "fr" else "en-GB")
    page = seen.page
    if lang == "ar":
        _click(seen, "a[hreflang='ar']")
    # signed in with the keyboard: the key typed, Enter sends it
    assert focused_on_arrival(page) == "api_key"
    page.keyboard.type(console.steward)
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.keyboard.press("Enter")
    assert page.url.endswith("/console/steward/agreements")
    _checked(seen, console, lang, "steward-agreements")
    nav = page.locator("nav.side").bounding_box()
    main = page.locator("main").bounding_box()
    assert nav is not None and main is not None
    if lang == "ar":  # mirrored: the navigation to the right of the content
        assert nav["x"] > main["x"] + main["width"] / 2
    else:
        assert nav["x"] + nav["width"] <= main["x"]

    # create
    _click(seen, "main a[href$='/steward/agreements/new']")
    _checked(seen, console, lang, "steward-new-agreement")
    name = f"Shelter registers {lang}"
    page.locator("#name").fill(name)
    page.locator("input[name='parties'][value='agency-b']").check()
    page.locator("input[name='auditors'][value='agency-c']").check()
    page.locator("#purposes").fill("tracing, evaluation")
    page.locator("#schema_name").select_option("person")
    page.locator("#retention_days").fill("90")
    _click(seen, "main form button[type='submit']")
    assert re.search(r"/console/steward/agreements/agr_[0-9a-f]{16}\?done=created$", page.url)
    agreement_id = page.url.split("/")[-1].split("?")[0]
    assert page.get_by_role("status").count() == 1
    text = _checked(seen, console, lang, "steward-created")
    assert name in text and "agency-b" in text and "agency-c" in text

    # amend: the retention, sent with Enter from its field
    page.locator("#retention-field").fill("60")
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.locator("#retention-field").press("Enter")
    assert page.url.endswith("?done=amended")
    # and a party added
    page.locator("#add-party").select_option("agency-c")
    _click(seen, "form:has(#add-party) button[type='submit']")
    assert page.url.endswith("?done=amended")

    # publish
    public = f"/v1/public/agreements/{agreement_id}/transparency"
    assert console.get(public).status_code == 404
    _click(seen, "form[action$='/publication'] button[type='submit']")
    assert page.url.endswith("?done=published")
    text = _checked(seen, console, lang, "steward-agreement")
    assert public in text
    assert console.get(public).status_code == 200
    made = console.get(f"/v1/agreements/{agreement_id}", console.steward).json()
    assert made["retention_days"] == 60 and made["parties"] == [
        "agency-a",
        "agency-b",
        "agency-c",
    ]
    assert made["auditors"] == ["agency-c"] and made["purposes"] == ["tracing", "evaluation"]

    # a key issued, shown once
    _click(seen, "nav.side a[href$='/steward/keys']")
    _checked(seen, console, lang, "steward-keys")
    page.locator("#issue-role").select_option("tracer")
    _click(seen, "form[action$='/steward/keys'] button[type='submit']")
    _checked(seen, console, lang, "steward-key-issued")
    key = page.locator("#new-key").input_value()
    assert key.startswith("clk_")
    assert page.get_by_role("alert").count() == 1  # copy it now
    me = console.get("/v1/me", key).json()
    assert me["agency"] == "agency-a" and me["role"] == "tracer"
    _click(seen, "main a[href$='/steward/keys']")
    assert me["key_id"] in page.content() and key not in page.content()
    assert key not in str(page.context.cookies())
