"""One world for the oversight and public pages' tests (:mod:`.oversight_world`): building
it links two registers, so both modules share it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.console.inprocess import World, console_world
from tests.service.console.oversight_world import History, plant_history


@pytest.fixture(scope="session")
def oversight(
    ray_session, tmp_path_factory, person_schema, secret
) -> Iterator[tuple[World, History]]:
    w = console_world(tmp_path_factory.mktemp("oversight"), person_schema, secret)
    try:
        yield w, plant_history(w, person_schema)
    finally:
        w.state.stop()
