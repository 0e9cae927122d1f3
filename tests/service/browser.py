"""Debian's Chromium driven by Playwright, offline: the browser of tests/service/docs and
tests/service/console.

:func:`chromium` launches it by its executable path (``make browser`` installs it; Playwright
downloads no browser here): Debian's headless shell of Chromium (package
``chromium-headless-shell``: the same Blink and V8, without the desktop browser around them;
Playwright's own default for headless runs), or the binary :data:`CHROMIUM_ENV` names
(``/usr/bin/chromium``, the full browser, for ``make screenshots``). On 2026-12-06 the journey
walks (tests/service/console/test_console_journey_browser.py, 21 tests, servers included)
took 238 and 248 s of machine CPU in the full browser and 163 and 166 s in the headless
shell (/proc/stat, this 2-core machine otherwise idle), with the same results.

:func:`offline_page` opens a page in a new context that records every request the page
makes, even one its Content-Security-Policy stops, aborts any to another host than the
server (this machine has no route out anyway, and a page must not wait on one), and records
every error the page logs (:class:`Visit`).

The fixtures :func:`browser` (one Chromium for a folder's tests) and :func:`open_page` (a
fresh context per page opened, closed after the test) are imported by the conftest of each
folder that drives the browser.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM_ENV = "CASELINK_TEST_CHROMIUM"  # another Chromium binary to drive
CHROMIUM = Path(os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium-headless-shell")
LOAD_TIMEOUT_MS = 60_000  # a cap on waits for what the page shows; none is a fixed sleep
OFFLINE_SCHEMES = ("data", "blob")  # in-page content, never a request to a host


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Debian's), closed afterwards; fails the test if there is none."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make browser` installs Debian's (apt-get install "
            f"-y chromium chromium-headless-shell; {CHROMIUM_ENV} names another binary); "
            "this test needs a real browser"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def elsewhere(self, origin: str) -> list[str]:
        """The requests to anything but ``origin``."""
        return [
            u
            for u in self.requests
            if not u.startswith(f"{origin}/") and urlsplit(u).scheme not in OFFLINE_SCHEMES
        ]


def offline_page(context: Any, origin: str) -> Visit:
    """A new page of ``context`` watched as the module says; requests off ``origin`` abort."""
    page = context.new_page()
    seen = Visit(page)
    page.on("request", lambda r: seen.requests.append(r.url))
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    # a load the page's Content-Security-Policy stopped is a console error too
    page.on("console", lambda m: m.type == "error" and seen.errors.append(m.text))
    # a pattern Playwright matches in its driver (a Python predicate would bring every
    # request of the page through this process): anything but a URL under ``origin``
    elsewhere = re.compile(f"^(?!{re.escape(origin)}/)")
    context.route(elsewhere, lambda route: route.abort("internetdisconnected"))
    return seen


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the folder's tests (each test opens contexts of its own, so no
    cookie or storage passes from one test to the next). While Playwright's sync API is
    started it marks its event loop as running in this thread, which an ``asyncio.run``
    would trip over: so the browser lives no longer than its folder (package scope, not
    session), and tests/conftest.py runs a folder's browser modules after its others."""
    with chromium() as b:
        yield b


@pytest.fixture()
def open_page(browser: Any) -> Iterator[Callable[..., Visit]]:
    """``open(origin, path, locale="en-GB")``: a new context (no cookie; ``Accept-Language``
    that of ``locale``; downloads accepted) watched by :func:`offline_page`, on
    ``origin + path``. Every context it opened is closed after the test."""
    contexts: list[Any] = []

    def opened(origin: str, path: str, locale: str = "en-GB") -> Visit:
        context = browser.new_context(
            locale=locale, viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        contexts.append(context)
        seen = offline_page(context, origin)
        seen.page.goto(f"{origin}{path}", timeout=LOAD_TIMEOUT_MS)
        return seen

    yield opened
    for context in contexts:
        context.close()


# an ARIA snapshot line of a control that has no accessible name
UNNAMED = re.compile(
    r"^\s*- (textbox|combobox|button|checkbox|radio|link|searchbox|spinbutton)\s*(\[.*\])?:?$"
)


def focused_on_arrival(page: Any) -> str:
    """The id of the element holding the focus once the browser has applied the page's
    ``autofocus``: it does so when it next renders, which on a busy machine came after the
    load event (the focus was still on the body: a CI run failed so). Waits for the focus to
    leave the body, at most :data:`LOAD_TIMEOUT_MS`, then reads it."""
    from playwright.sync_api import TimeoutError as WaitedTooLong

    with contextlib.suppress(WaitedTooLong):  # no focus moved: the caller's assertion says so
        page.wait_for_function(
            "() => document.activeElement && document.activeElement !== document.body",
            timeout=LOAD_TIMEOUT_MS,
        )
    return str(page.evaluate("document.activeElement.id"))


def page_checks(seen: Visit, origin: str, lang: str, name: str) -> None:
    """What every console page must pass: loaded, in ``lang`` (right to left in Arabic),
    every control named in the ARIA snapshot, nothing asked of another host than
    ``origin``, no error logged."""
    page = seen.page
    page.wait_for_load_state("load", timeout=LOAD_TIMEOUT_MS)
    html = page.locator("html")
    assert html.get_attribute("lang") == lang, name
    assert html.get_attribute("dir") == ("rtl" if lang == "ar" else "ltr"), name
    snapshot = page.locator("body").aria_snapshot()
    unnamed = [line for line in snapshot.splitlines() if UNNAMED.match(line)]
    assert unnamed == [], f"{lang}/{name}: controls without an accessible name: {unnamed}"
    assert seen.elsewhere(origin) == [], name
    assert seen.errors == [], f"{lang}/{name}: {seen.errors}"


SCREENSHOTS_ENV = "CASELINK_UPDATE_SCREENSHOTS"  # "1" (``make screenshots``): save them


def keep_screenshot(page: Any, path: Path, readme: Path | None = None) -> None:
    """:func:`save_screenshot` of a checked page at ``path`` (and at ``readme``, one of the
    README's), folders made -- only with :data:`SCREENSHOTS_ENV` set to 1. ``make test``
    checks the pages without saving them: on 2026-12-06 the console folder took 260 s of CPU
    with a full-page capture of every page and 233 s without (a cgroup's ``cpuacct.usage``)."""
    if os.environ.get(SCREENSHOTS_ENV) != "1":
        return
    for target in (path, readme):
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            save_screenshot(page, target)


CAPTURE_FAILED = "Unable to capture screenshot"  # Chromium without a frame to give, under load
CAPTURE_TRIES = 3


def save_screenshot(page: Any, path: Path) -> None:
    """The whole page as a PNG at ``path``. Chromium answers ``captureScreenshot`` with
    "Unable to capture screenshot" when its compositor has no frame ready in time, as on a
    busy machine (seen once in a CI run beside a busy loop): that one error is tried again, up
    to ``CAPTURE_TRIES`` times; any other error, or the last, is raised."""
    from playwright.sync_api import Error

    for attempt in range(1, CAPTURE_TRIES + 1):
        try:
            page.screenshot(path=str(path), full_page=True)
            return
        except Error as e:
            if CAPTURE_FAILED not in str(e) or attempt == CAPTURE_TRIES:
                raise
