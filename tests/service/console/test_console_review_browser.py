"""An agency's review queue in a real browser against a real ``caselink serve``: a data
officer of each agency signs in, opens the agreement's review page, and decides an item with
the page's buttons — in English, French and Arabic, offline, every control named.

The agreement queues every stored link (band [0.01, 1]); agency-a's officer sees its own refs
and agency-b's name only, never agency-b's refs. Both deciding "same person" resolves the
item (the page then shows it resolved, with no buttons); a form sent without the session's
CSRF token is refused and changes nothing. On the folder's one server and Chromium
(:mod:`.served`, :mod:`tests.service.browser`), as the other console browser modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.service.browser import LOAD_TIMEOUT_MS, Visit, keep_screenshot, page_checks
from tests.service.console.served import Served
from tests.service.servers import Server, agreement_body, encode_file

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "build" / "screenshots" / "console"
AGENCIES = ("agency-a", "agency-b")
AGREEMENT = "Clerical review"  # no other browser module's agreement starts so
REVIEW = {"en": "Review", "fr": "Revue", "ar": "المراجعة"}
SAME = {"en": "Same person", "fr": "Même personne", "ar": "الشخص نفسه"}
RECORDED = {"en": "was recorded", "fr": "a été enregistrée", "ar": "سُجّل قرارك"}


@dataclass(frozen=True)
class ReviewServer:
    server: Server
    agreement_id: str
    keys: dict[str, str]
    refs: dict[str, list[str]]

    @property
    def url(self) -> str:
        return self.server.url


def _registers() -> dict[str, pd.DataFrame]:
    from evaluation import generate_synthetic

    data = generate_synthetic(60, 2, seed=5)
    return {
        agency: data.agencies[agency].assign(
            record_ref=[f"{'AB'[k]}-{j:03d}" for j in range(len(data.agencies[agency]))]
        )
        for k, agency in enumerate(AGENCIES)
    }


@pytest.fixture(scope="module")
def console_server(console_service: Served, tmp_path_factory) -> ReviewServer:
    """On the folder's server: agency-a and agency-b linked under an agreement that queues
    every stored link, its first run done."""
    served = console_service
    workdir = tmp_path_factory.mktemp("console-review")
    keys = {agency: served.submitters[agency] for agency in AGENCIES}
    with served.server.client(served.steward) as steward:
        body = agreement_body(served.schema, list(AGENCIES), name=AGREEMENT)
        agreement_id = steward.create_agreement(**body, threshold=0.9999, review_band=(0.01, 1.0))[
            "agreement_id"
        ]
    refs = {}
    for agency, df in _registers().items():
        path = encode_file(df, served.schema, served.secret, agency, workdir / f"{agency}.parquet")
        with served.server.client(keys[agency]) as c:
            c.upload(agreement_id, path)
        refs[agency] = list(df["record_ref"])
    with served.server.client(keys["agency-a"]) as c:
        run = c.start_run(agreement_id)
        assert c.wait_run(agreement_id, run["run_id"], poll=0.2)["status"] == "succeeded"
        assert len(list(c.iter_reviews(agreement_id))) >= 3
    return ReviewServer(served.server, agreement_id, keys, refs)


@pytest.fixture()
def signed_in(open_page, console_server):
    """``signed_in(agency, locale)``: a fresh browser context (the folder's Chromium) signed
    in with the agency's key, on its agreement's review page."""

    def opened(agency: str, lang: str = "en") -> Visit:
        locale = {"en": "en-GB", "fr": "fr-FR", "ar": "ar"}[lang]
        seen = open_page(console_server.url, "/console", locale)
        page = seen.page
        if lang == "ar":
            with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
                page.get_by_role("link", name="العربية").click()
        page.locator("#api_key").fill(console_server.keys[agency])
        with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
            page.locator("#api_key").press("Enter")
        with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
            page.get_by_role("link", name=AGREEMENT, exact=True).click()
        with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
            page.get_by_role("link", name=REVIEW[lang], exact=True).click()
        return seen

    return opened


def _checked(seen: Visit, console: ReviewServer, lang: str, name: str) -> str:
    page_checks(seen, console.url, lang, name)
    text = seen.page.locator("body").inner_text()
    for ref in console.refs["agency-b"]:
        assert ref not in text, f"{lang}/{name}: another agency's ref"
    keep_screenshot(seen.page, SHOTS / f"{lang}-{name}.png")
    return text


def _status(console: ReviewServer, agency: str, review_id: str) -> dict:
    with console.server.client(console.keys[agency]) as c:
        return {x["review_id"]: x for x in c.iter_reviews(console.agreement_id)}[review_id]


@pytest.mark.parametrize("lang", ["en", "fr", "ar"])
def test_an_agency_decides_an_item_with_the_pages_buttons(signed_in, console_server, lang):
    seen = signed_in("agency-a", lang)
    page = seen.page
    assert page.url.endswith(f"/console/agency/{console_server.agreement_id}/reviews")
    text = _checked(seen, console_server, lang, "reviews")
    assert "agency-b" in text and re.search(r"A-\d{3}", text)  # its refs; the other by name
    row = page.locator("table.reviews tbody tr").nth(["en", "fr", "ar"].index(lang))
    review_id = row.get_attribute("id")
    assert review_id and review_id.startswith("rev_")
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        row.get_by_role("button", name=re.compile(f"^{SAME[lang]}")).click()
    assert f"decided={review_id}" in page.url
    notice = page.get_by_role("status").inner_text()
    assert review_id in notice and RECORDED[lang] in notice
    _checked(seen, console_server, lang, "reviews-decided")
    assert _status(console_server, "agency-a", review_id)["your_decision"] == "same"
    assert _status(console_server, "agency-b", review_id)["your_decision"] is None


def test_both_agencies_agreeing_resolve_the_item(signed_in, console_server):
    with console_server.server.client(console_server.keys["agency-b"]) as c:
        item = next(iter(c.iter_reviews(console_server.agreement_id)))
    review_id = item["review_id"]
    with console_server.server.client(console_server.keys["agency-a"]) as c:
        c.decide_review(console_server.agreement_id, review_id, "same")
    seen = signed_in("agency-b")
    page = seen.page
    row = page.locator(f"tr[id='{review_id}']")
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        row.get_by_role("button", name=f"Same person: {review_id}", exact=True).click()
    assert "show=all" in page.url  # resolved: shown among all items, no longer waiting
    row = page.locator(f"tr[id='{review_id}']")
    assert "same person: kept in one case" in row.inner_text()
    assert row.get_by_role("button").count() == 0  # resolved for good
    page_checks(seen, console_server.url, "en", "reviews-resolved")
    assert _status(console_server, "agency-b", review_id)["status"] == "same"


def test_a_decision_without_the_sessions_csrf_token_is_refused(signed_in, console_server):
    seen = signed_in("agency-a")
    row = seen.page.locator("table.reviews tbody tr").last
    review_id = row.get_attribute("id")
    before = _status(console_server, "agency-a", review_id)
    path = f"/console/agency/{console_server.agreement_id}/reviews/{review_id}"
    answer = seen.page.request.post(f"{console_server.url}{path}", form={"decision": "different"})
    assert answer.status == 403
    assert _status(console_server, "agency-a", review_id) == before
