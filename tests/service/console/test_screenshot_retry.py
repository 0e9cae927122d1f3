"""The browser tests' screenshots: Chromium's "Unable to capture screenshot" (no frame ready, on
a busy machine) is tried again; any other error is raised at once (tests.service.browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Error

from tests.service.browser import CAPTURE_FAILED, CAPTURE_TRIES, save_screenshot


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
