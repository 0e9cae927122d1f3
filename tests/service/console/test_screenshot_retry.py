"""The browser tests' screenshots: Chromium's "Unable to capture screenshot" (no frame ready, on
a busy machine) is tried again; any other error is raised at once; pages are kept only when asked
(tests.service.browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Error

from tests.service.browser import (
    CAPTURE_FAILED,
    CAPTURE_TRIES,
    SCREENSHOTS_ENV,
    keep_screenshot,
    save_screenshot,
)


class _Page:
    """Playwright's ``Page.screenshot`` as a stand-in: fails with ``errors`` in turn, then
    writes the file."""

    def __init__(self, *errors: str) -> None:
        self.errors, self.calls = list(errors), 0

    def screenshot(self, *, path: str, full_page: bool) -> None:
        self.calls += 1
        assert full_page
        if self.errors:
            raise Error(self.errors.pop(0))
        Path(path).write_bytes(b"png")


def test_a_capture_without_a_frame_is_tried_again(tmp_path):
    page = _Page(*[f"Page.screenshot: {CAPTURE_FAILED}"] * (CAPTURE_TRIES - 1))
    save_screenshot(page, tmp_path / "shot.png")
    assert page.calls == CAPTURE_TRIES and (tmp_path / "shot.png").read_bytes() == b"png"


def test_it_gives_up_after_the_last_try_and_raises_any_other_error_at_once(tmp_path):
    page = _Page(*[CAPTURE_FAILED] * CAPTURE_TRIES)
    with pytest.raises(Error, match=CAPTURE_FAILED):
        save_screenshot(page, tmp_path / "shot.png")
    assert page.calls == CAPTURE_TRIES
    other = _Page("Target page, context or browser has been closed")
    with pytest.raises(Error, match="closed"):
        save_screenshot(other, tmp_path / "shot.png")
    assert other.calls == 1 and not (tmp_path / "shot.png").exists()


def test_pages_are_kept_only_when_asked_and_the_readmes_beside_them(tmp_path, monkeypatch):
    """``make test`` saves no screenshot; ``make screenshots`` (SCREENSHOTS_ENV=1) saves the
    page's and, given one, the README's, making their folders."""
    shot, readme = tmp_path / "build" / "en-cases.png", tmp_path / "docs" / "cases.png"
    monkeypatch.delenv(SCREENSHOTS_ENV, raising=False)
    page = _Page()
    keep_screenshot(page, shot, readme)
    assert page.calls == 0 and not shot.exists() and not readme.exists()
    monkeypatch.setenv(SCREENSHOTS_ENV, "0")
    keep_screenshot(page, shot, readme)
    assert page.calls == 0 and not shot.exists()
    monkeypatch.setenv(SCREENSHOTS_ENV, "1")
    keep_screenshot(page, shot)
    assert page.calls == 1 and shot.read_bytes() == b"png" and not readme.exists()
    keep_screenshot(page, shot, readme)
    assert page.calls == 3 and readme.read_bytes() == b"png"
