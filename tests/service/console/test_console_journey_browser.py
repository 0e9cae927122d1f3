"""The coordinator's journey and every role's pages, in a real browser against a real
``caselink serve`` — issue 16's "Done when", offline, in English, French and Arabic.

- :func:`test_a_coordinator_sets_up_watches_reads_verifies_and_publishes`: a steward signs
  in, sets up an agreement from the form (parties, purposes, retention, schema) and amends
  it; the two parties upload a batch each through the API (their job, not the
  coordinator's); the steward starts the run from the console's run page and watches the
  live progress page reach success; reads who accessed what, for which purpose, in the audit
  log filtered by purpose and by action; verifies the chain; publishes the public page,
  which a visitor with no key then reads — no count from 1 to 9.
- :func:`test_every_role_walks_its_pages`: a key of each role the console serves signs in
  and follows every link its pages offer (the side navigation, an agreement's sections, a
  run): each answers 200 (a role is never offered a page that then refuses it), every
  control is named in the ARIA snapshot, and no page shows a ref of another agency (the
  refs of agency-b, planted by its upload, never appear to the keys of agency-a or agency-c).

As :mod:`tests.service.console.test_console_browser`: Debian's Chromium driven by Playwright,
every request to the server only, no console error, right to left in Arabic. The server is
the folder's (:mod:`tests.service.console.served`), this module's agreements its own;
screenshots in ``build/screenshots/console`` with ``make screenshots``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

import bloom
from tests.service.browser import LOAD_TIMEOUT_MS, Visit, keep_screenshot, page_checks
from tests.service.console.served import Served
from tests.service.servers import Server, agreement_body, encode_file

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "build" / "screenshots" / "console"
LOCALES = {"en": "en-GB", "fr": "fr-FR", "ar": "ar"}
FEWER = {"en": "fewer than 10", "fr": "moins de 10", "ar": "أقل من 10"}
OTHER_REF = re.compile(r"B-(WALK|JOURNEY)-\d{3}")  # agency-b's refs: no other key sees one
WALK_PAGES = 60  # a cap on the pages one role's walk opens (it opens about 20)


@dataclass(frozen=True)
class JourneyServer:
    served: Served
    keys: dict[str, str]  # role -> key (agency-a's; the auditor's is agency-c's)
    uploaders: dict[str, str]  # agency-b and agency-c's submitter keys
    walk_agreement: str  # parties agency-a and agency-b, audited by agency-c, linked once
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


def _register(letter: str, kind: str, seed: int, n: int = 24) -> pd.DataFrame:
    from evaluation import generate_synthetic

    data = generate_synthetic(n, 2, seed=seed)
    own = next(iter(data.agencies.values()))
    return own.assign(record_ref=[f"{letter}-{kind}-{j:03d}" for j in range(len(own))])


@pytest.fixture(scope="module")
def journey_server(console_service: Served, tmp_path_factory) -> JourneyServer:
    """On the folder's server: agency-a (a key of every agency role, its steward's the
    coordinator's), agency-b and agency-c (a submitter each; agency-c also an auditor); one
    agreement of a and b, audited by c, linked once."""
    served = console_service
    workdir = tmp_path_factory.mktemp("journey-browser")
    keys = {"admin": served.admin}
    for role in ("steward", "submitter", "tracer", "evaluator"):
        keys[role] = served.issue("agency-a", role)
    keys["auditor"] = served.issue("agency-c", "auditor")
    uploaders = {a: served.submitters[f"agency-{a}"] for a in "bc"}
    with served.server.client(keys["steward"]) as c:
        body = agreement_body(
            served.schema, ["agency-a", "agency-b"], name="Walk", auditors=["agency-c"]
        )
        walk = c.create_agreement(**body)["agreement_id"]
    for agency, key, df in (
        ("agency-a", keys["submitter"], _register("A", "WALK", 31)),
        ("agency-b", uploaders["b"], _register("B", "WALK", 37)),
    ):
        path = encode_file(df, served.schema, served.secret, agency, workdir / f"{agency}.pq")
        with served.server.client(key) as c:
            c.upload(walk, path)
    with served.server.client(keys["submitter"]) as c:
        run = c.start_run(walk)
        assert c.wait_run(walk, run["run_id"], poll=0.2)["status"] == "succeeded"
    return JourneyServer(served, keys, uploaders, walk, workdir)


@pytest.fixture()
def open_journey(open_page, journey_server):
    """``open(lang, path)``: a fresh browser (no cookie) on ``path``."""

    def opened(lang: str, path: str) -> Visit:
        return open_page(journey_server.url, path, LOCALES[lang])

    return opened


def _checked(seen: Visit, js: JourneyServer, lang: str, name: str) -> str:
    """What every page must pass; keeps a screenshot if asked; returns its text."""
    page = seen.page
    page_checks(seen, js.url, lang, name)
    assert not OTHER_REF.search(page.content()), f"{lang}/{name}: another agency's ref"
    keep_screenshot(page, SHOTS / f"journey-{lang}-{name}.png")
    return page.locator("body").inner_text()


def _sign_in(seen: Visit, key: str) -> None:
    seen.page.locator("#api_key").fill(key)
    with seen.page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        seen.page.locator("#api_key").press("Enter")


def _click(seen: Visit, selector: str) -> None:
    with seen.page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        seen.page.locator(selector).first.click()


def _column(seen: Visit, n: int) -> list[str]:
    return seen.page.locator(f"table.audit tbody tr td:nth-child({n})").all_inner_texts()


@pytest.mark.parametrize("lang", ["en", "fr", "ar"])
def test_a_coordinator_sets_up_watches_reads_verifies_and_publishes(
    open_journey, journey_server, lang
):
    js = journey_server
    seen = open_journey(lang, "/console")
    page = seen.page
    if lang == "ar":  # chosen with the language selector
        _click(seen, "a[hreflang='ar']")
    _sign_in(seen, js.keys["steward"])
    assert page.url.endswith("/console/steward/agreements")
    _checked(seen, js, lang, "home")

    # sets up an agreement: parties, purposes, retention, schema; then amends it
    _click(seen, "main a[href$='/steward/agreements/new']")
    name = f"Journey {lang}"
    page.locator("#name").fill(name)
    page.locator("input[name='parties'][value='agency-b']").check()
    page.locator("input[name='parties'][value='agency-c']").check()
    page.locator("#purposes").fill("tracing, evaluation")
    page.locator("#schema_name").select_option("person")
    page.locator("#retention_days").fill("90")
    _click(seen, "main form button[type='submit']")
    assert re.search(r"/steward/agreements/agr_[0-9a-f]{16}\?done=created$", page.url)
    agreement_id = page.url.split("/")[-1].split("?")[0]
    assert page.get_by_role("status").count() == 1
    text = _checked(seen, js, lang, "created")
    assert name in text and "agency-b" in text and "agency-c" in text
    page.locator("#retention-field").fill("60")
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        page.locator("#retention-field").press("Enter")
    assert page.url.endswith("?done=amended") and page.get_by_role("status").count() == 1

    # the agencies' part: a batch each, through the API
    seed = 40 + 2 * ["en", "fr", "ar"].index(lang)
    for letter, agency in (("B", "b"), ("C", "c")):
        df = _register(letter, "JOURNEY", seed + (letter == "C"))
        path = encode_file(
            df, js.schema, js.secret, f"agency-{agency}", js.workdir / f"{agreement_id}-{letter}.pq"
        )
        with js.server.client(js.uploaders[agency]) as c:
            c.upload(agreement_id, path)

    # watches a run: from the side navigation to the agreement's runs, started, followed live
    _click(seen, "nav.side a[href$='/console/agency']")
    _click(seen, f"main a[href$='/agency/{agreement_id}']")
    _click(seen, "nav.sections a[href$='/runs']")
    _checked(seen, js, lang, "runs")
    _click(seen, f"form[action$='/agency/{agreement_id}/runs'] button[type='submit']")
    assert f"/agency/{agreement_id}/runs/run_" in page.url
    page.locator(".status-succeeded").wait_for(timeout=LOAD_TIMEOUT_MS)
    assert any(u.endswith("/progress") for u in seen.requests)  # the page polled the run
    assert page.locator("progress").get_attribute("value") == "1.0"
    _checked(seen, js, lang, "run-succeeded")

    # a party reads its cases, for a purpose: an access the log must show
    with js.server.client(js.uploaders["b"]) as c:
        assert list(c.iter_cases(agreement_id))

    # reads who accessed what, for which purpose: the audit log, filtered
    _click(seen, "nav.side a[href$='/console/oversight']")
    _click(seen, f"main a[href$='/oversight/{agreement_id}']")
    _click(seen, "nav.sections a[href$='/audit']")
    _checked(seen, js, lang, "audit")
    purposes = [
        v for v in page.locator("#filter-purpose option").evaluate_all("os => os.map(o => o.value)")
    ]
    chosen = next(p for p in purposes if p)  # the purposes the log holds: the filter's choices
    page.locator("#filter-purpose").select_option(chosen)
    _click(seen, "form.filters button[type='submit']")
    assert set(_column(seen, 6)) == {chosen}
    _click(seen, "form.filters a")  # clear the filter
    page.locator("#filter-action").select_option("batch.upload")
    _click(seen, "form.filters button[type='submit']")
    assert set(_column(seen, 5)) == {"batch.upload"}
    assert set(_column(seen, 3)) == {"agency-b", "agency-c"}  # who uploaded
    _checked(seen, js, lang, "audit-filtered")

    # verifies the audit
    _click(seen, "form[action$='/audit/verify'] button[type='submit']")
    result = page.locator("#verification-result[role=status]")
    result.wait_for(timeout=LOAD_TIMEOUT_MS)
    assert result.inner_text().strip()
    _checked(seen, js, lang, "verified")

    # publishes the public page
    _click(seen, "nav.side a[href$='/steward/agreements']")
    _click(seen, f"main a[href$='/steward/agreements/{agreement_id}']")
    _click(seen, "form[action$='/publication'] button[type='submit']")
    assert page.url.endswith("?done=published") and page.get_by_role("status").count() == 1
    _checked(seen, js, lang, "published")

    # which anyone, with no key, reads
    seen = open_journey(lang, f"/console/public/agreements/{agreement_id}")
    text = _checked(seen, js, lang, "public")
    assert name in text and "agency-b" in text and "agency-c" in text
    # no count that could single a person out: every number shown is 0 or at least 10
    cells = seen.page.locator("main td").all_inner_texts()
    numbers = [c for c in cells if re.fullmatch(r"[\d\s,.\u066c\u202f\u00a0]+", c.strip())]
    for shown in numbers:
        assert not 1 <= int(re.sub(r"\D", "", shown)) <= 9, shown


# every role the console serves, in every language. Every page a walk opens in the walk's
# agreement is audited, so its audit log grows by some twenty entries a walk: the roles that
# read the log (steward, auditor) walk before the others, and page through a log of about
# a hundred entries (more than one page: the paging links are followed too) instead of
# three hundred.
WALKERS = [
    (role, lang)
    for role in ("admin", "steward", "auditor", "submitter", "tracer", "evaluator")
    for lang in ("en", "fr", "ar")
]


def _walkable(js: JourneyServer, url: str) -> str | None:
    """The console path a walk follows, or None: only this server's console pages of no
    agreement or of the walk's agreement, never the language switch."""
    parts = urlsplit(url)
    path = parts.path
    if not url.startswith(js.url) or not path.startswith("/console"):
        return None
    if path.startswith("/console/language/") or path.startswith("/console/static/"):
        return None
    ids = re.findall(r"agr_[0-9a-f]{16}", path)
    if ids and ids != [js.walk_agreement]:
        return None
    return path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.parametrize(("role", "lang"), WALKERS)
def test_every_role_walks_its_pages(open_journey, journey_server, role, lang):
    js = journey_server
    seen = open_journey(lang, "/console")
    page = seen.page
    if lang == "ar":
        _click(seen, "a[hreflang='ar']")
    _sign_in(seen, js.keys[role])
    home = urlsplit(page.url).path
    assert home != "/console/sign-in", f"{role} was not signed in"
    _checked(seen, js, lang, f"walk-{role}-home")
    todo, walked = [home], set()
    while todo:
        path = todo.pop(0)
        if path in walked:
            continue
        walked.add(path)
        assert len(walked) <= WALK_PAGES, f"{role}: more pages than a walk expects"
        answer = page.goto(f"{js.url}{path}", timeout=LOAD_TIMEOUT_MS)
        assert answer is not None and answer.status == 200, f"{role}: {path} answered " + (
            str(answer.status) if answer else "nothing"
        )
        assert page.locator("form.sign-out").count() == 1, f"{role}: {path} signed out"
        _checked(seen, js, lang, f"walk-{role}" + re.sub(r"[^a-z0-9]+", "-", path[8:]))
        hrefs = page.locator("a[href]").evaluate_all("links => links.map(a => a.href)")
        for href in hrefs:
            follow = _walkable(js, href)
            if follow is not None and follow not in walked:
                todo.append(follow)
    # every page of the side navigation was among them
    assert {p for p in walked if "agr_" not in p} >= {home}
    sections = {p.rsplit("/", 1)[-1] for p in walked if js.walk_agreement in p}
    expected = {
        "admin": set(),
        "steward": {"runs", "withdraw", "audit", "retention", "withdrawals"},
        "submitter": {"batches", "runs", "cases", "withdraw", "retention"},
        "tracer": set(),
        "evaluator": {"quality"},
        "auditor": {"audit"},
    }[role]
    assert expected <= sections, (role, sections)
