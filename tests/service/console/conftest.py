"""The console's fixtures: one in-process world for the oversight and public pages' tests
(:mod:`.oversight_world`: building it links two registers, so both modules share it); one
real server (:mod:`.served`) and one Chromium (:mod:`tests.service.browser`) for every
browser test of the folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.browser import browser, open_page  # noqa: F401
from tests.service.console.inprocess import World, console_world
from tests.service.console.oversight_world import History, plant_history
from tests.service.console.served import console_service  # noqa: F401


@pytest.fixture(scope="session")
def oversight(
    ray_session, tmp_path_factory, person_schema, secret
) -> Iterator[tuple[World, History]]:
    w = console_world(tmp_path_factory.mktemp("oversight"), person_schema, secret)
    try:
        yield w, plant_history(w, person_schema)
    finally:
        w.state.stop()
