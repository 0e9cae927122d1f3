"""The console in a real browser against a real ``caselink serve``: an agency's data officer
signs in, in English, French and Arabic, walks every page of an agreement, withdraws a record,
and watches a run — offline, keyboard first.

Debian's Chromium driven by Playwright (:mod:`tests.service.browser`): every request a page
makes must go to the server (anything else is aborted and fails the test), and no page may
log an error (a script or style the Content-Security-Policy stopped is one). On every page:
every control has an accessible name (Playwright's ARIA snapshot), no ref of another agency
appears; with ``CASELINK_UPDATE_SCREENSHOTS=1`` (``make screenshots``) a screenshot is
saved (``build/screenshots/console``, and the README's in ``docs/screenshots``). In Arabic
the page is right to left and the layout mirrors: the navigation stands to the right of
the content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import bloom
from tests.service.browser import (
    LOAD_TIMEOUT_MS,
    Visit,
    focused_on_arrival,
    keep_screenshot,
    page_checks,
)
from tests.service.console.served import Served
from tests.service.servers import PLANTED, Server, agreement_body, encode_file

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "build" / "screenshots" / "console"
README_SHOTS = {("en", "cases"): ROOT / "docs" / "screenshots" / "console-agency-cases.png"}
PARTIES = ("agency-a", "agency-b")  # agency-c, on the server too, is no party
LANGUAGES = ("en", "fr", "ar")


@dataclass(frozen=True)
class ConsoleServer:
    served: Served
    agreement_id: str
    keys: dict[str, str]  # agency -> submitter key
    refs: dict[str, list[str]]  # agency -> its refs
    workdir: Path  # this module's files

    @property
    def server(self) -> Server:
        return self.served.server

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def schema(self) -> bloom.Schema:
        return self.served.schema

    @property
    def secret(self) -> bloom.Secret:
        return self.served.secret


def _registers(seed: int = 19) -> dict[str, pd.DataFrame]:
    from evaluation import generate_synthetic

    data = generate_synthetic(40, len(PARTIES), seed=seed)
    out = {}
    for k, agency in enumerate(PARTIES):
        own = data.agencies[agency]
        letter = "AB"[k]
        refs = [f"{letter}-{j:03d}" for j in range(len(own))]
        planted = [f"{letter}-PLANTED-{j}" for j in range(len(PLANTED))]
        out[agency] = pd.concat(
            [own.assign(record_ref=refs), PLANTED.assign(record_ref=planted)], ignore_index=True
        )
    return out


@pytest.fixture(scope="module")
def console_server(console_service: Served, tmp_path_factory) -> ConsoleServer:
    """On the folder's server: agency-a and agency-b linked under one agreement, a first run
    done."""
    served = console_service
    workdir = tmp_path_factory.mktemp("console-agency")
    keys = served.submitters
    with served.server.client(served.steward) as steward:
        body = agreement_body(served.schema, list(PARTIES), name="Family tracing")
        agreement_id = steward.create_agreement(**body)["agreement_id"]
    refs = {}
    for agency, df in _registers().items():
        path = encode_file(df, served.schema, served.secret, agency, workdir / f"{agency}.parquet")
        with served.server.client(keys[agency]) as c:
            c.upload(agreement_id, path)
        refs[agency] = list(df["record_ref"])
    with served.server.client(keys["agency-a"]) as c:
        run = c.start_run(agreement_id)
        assert c.wait_run(agreement_id, run["run_id"], poll=0.2)["status"] == "succeeded"
    return ConsoleServer(served, agreement_id, keys, refs, workdir)


@pytest.fixture()
def open_console(open_page, console_server):
    """``open(locale)``: a fresh browser (no cookie) on the sign-in page, its
    ``Accept-Language`` that of ``locale``."""

    def opened(locale: str = "en-GB") -> Visit:
        return open_page(console_server.url, "/console", locale)

    return opened


def _checked(seen: Visit, console: ConsoleServer, lang: str, name: str) -> str:
    """Checks every page passes; keeps a screenshot if asked; returns its text."""
    page = seen.page
    page_checks(seen, console.url, lang, name)
    text = page.locator("body").inner_text()
    for ref in console.refs["agency-b"]:
        assert ref not in text, f"{lang}/{name}: another agency's ref"
    keep_screenshot(page, SHOTS / f"{lang}-{name}.png", README_SHOTS.get((lang, name)))
    return text


def _sign_in_by_keyboard(seen: Visit, key: str) -> None:
    """The key typed and sent with the keyboard only: the field has the focus on arrival,
    Tab reaches the button, Enter on it signs in."""
    page = seen.page
    focused = focused_on_arrival(page)
    assert focused == "api_key"
    page.keyboard.type(key)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('type')") == "submit"
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.keyboard.press("Enter")


def _follow(seen: Visit, name: str) -> None:
    with seen.page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        seen.page.get_by_role("link", name=name, exact=True).first.click()


WORDS = {  # what each language calls the links followed
    "en": ("Batches", "Runs", "Cases", "Withdraw a record", "Overview"),
    "fr": ("Lots", "Appariements", "Cas", "Retirer un enregistrement", "Vue d'ensemble"),
    "ar": ("الدفعات", "عمليات الربط", "الحالات", "سحب سجل", "نظرة عامة"),
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_agency_walks_its_pages_and_withdraws_a_record(open_console, console_server, lang):
    console = console_server
    seen = open_console("fr-FR" if lang == "fr" else "en-GB")
    page = seen.page
    if lang == "ar":  # chosen with the language selector, remembered for the session
        with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
            page.get_by_role("link", name="العربية").click()
    assert page.url.endswith("/console/sign-in")
    _checked(seen, console, lang, "sign-in")
    _sign_in_by_keyboard(seen, console.keys["agency-a"])
    assert page.url.endswith("/console/agency")
    _checked(seen, console, lang, "agreements")

    # the skip link is the first stop of the keyboard, and takes it to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    nav = page.locator("nav.side").bounding_box()
    main = page.locator("main").bounding_box()
    assert nav is not None and main is not None
    if lang == "ar":  # mirrored: the navigation to the right of the content
        assert nav["x"] > main["x"] + main["width"] / 2
    else:
        assert nav["x"] + nav["width"] <= main["x"]

    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.get_by_role("link", name="Family tracing", exact=True).click()
    text = _checked(seen, console, lang, "agreement")
    assert "agency-a" in text and "agency-b" in text
    batches, runs, cases, withdraw, _overview = WORDS[lang]
    _follow(seen, batches)
    _checked(seen, console, lang, "batches")
    _follow(seen, runs)
    _checked(seen, console, lang, "runs")
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.locator("table a[href*='/runs/run_']").first.click()
    _checked(seen, console, lang, "run")
    _follow(seen, cases)
    text = _checked(seen, console, lang, "cases")
    assert "A-PLANTED-0" in text and "agency-b" in text  # its ref; the other agency, by name
    assert page.locator("table.cases tbody tr").count() > 0

    _follow(seen, withdraw)
    _checked(seen, console, lang, "withdraw")
    ref = console.refs["agency-a"][LANGUAGES.index(lang)]
    page.get_by_role("textbox").fill(ref)
    page.get_by_role("combobox").select_option("consent")
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.get_by_role("button", name=re.compile(".")).last.click()
    text = _checked(seen, console, lang, "receipt")
    assert ref in text and re.search(r"wdr_[0-9a-f]{16}", text)
    with console.server.client(console.keys["agency-a"]) as c:
        assert ref not in {r["record_ref"] for r in c.iter_cases(console.agreement_id)}


def test_a_run_is_followed_live_by_the_page(open_console, console_server):
    console = console_server
    more = _registers(seed=23)["agency-a"].assign(
        record_ref=lambda d: [f"A-LATE-{j:03d}" for j in range(len(d))]
    )
    path = encode_file(
        more, console.schema, console.secret, "agency-a", console.workdir / "late.parquet"
    )
    with console.server.client(console.keys["agency-a"]) as c:
        c.upload(console.agreement_id, path)
    seen = open_console()
    _sign_in_by_keyboard(seen, console.keys["agency-a"])
    page = seen.page
    page.goto(f"{console.url}/console/agency/{console.agreement_id}/runs", timeout=LOAD_TIMEOUT_MS)
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.get_by_role("button", name="Start a linkage run").click()
    assert "/runs/run_" in page.url
    # the script of the service polls the run and reloads the page once it has finished
    page.locator(".status-succeeded").wait_for(timeout=LOAD_TIMEOUT_MS)
    assert f"{console.url}/console/static/progress.js" in seen.requests
    assert any(u.endswith("/progress") for u in seen.requests)
    assert page.locator("progress").get_attribute("value") == "1.0"
    _checked(seen, console, "en", "run-finished")


def test_a_refused_key_and_signing_out(open_console, console_server):
    seen = open_console()
    page = seen.page
    _sign_in_by_keyboard(seen, "clk_0000000000000000_not-a-key")
    alert = page.get_by_role("alert")
    assert "This key was not accepted" in alert.inner_text()
    assert page.locator("#api_key").input_value() == ""  # the key is not sent back
    # the page itself came with status 401, which Chromium logs: that one error, no other
    assert seen.errors == [
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]
    seen.errors.clear()
    _checked(seen, console_server, "en", "sign-in-refused")
    _sign_in_by_keyboard(seen, console_server.keys["agency-b"])
    assert page.url.endswith("/console/agency")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["caselink_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/console"
    assert console_server.keys["agency-b"] not in str(page.context.cookies())
    assert page.evaluate("document.cookie") == ""  # nothing a script could read
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/console/sign-in?ended=out")
    assert "You have signed out." in page.get_by_role("status").inner_text()
    page.goto(f"{console_server.url}/console/agency", timeout=LOAD_TIMEOUT_MS)
    assert "/console/sign-in" in page.url
