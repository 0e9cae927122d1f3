"""Real servers for the fuzzer, one per backend, shared by every role.

The servers of SQLite and PostgreSQL (a fresh schema, dropped afterwards) are started and
populated together, in threads, each joined to the test process's Ray (``ray_session``)
rather than starting and stopping one of its own; a backend no test of the session uses is
not started, and PostgreSQL is skipped where none answers. Each server holds the small world
of :func:`evaluation._fuzz_world.open_world`.

The fuzzing itself runs in the tests, one role after another, each sending the backend's one
corpus of cases (:func:`evaluation._fuzz.build_corpus`, drawn once). Hypothesis must not run
in two threads at once here: on Python 3.11 concurrent ``ast`` parsing, which it uses to
describe strategies, fails with "AST constructor recursion depth mismatch".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from evaluation._fuzz import Probe, Tally, build_corpus, fuzz_role, load_schema
from evaluation._fuzz_world import NO_KEY, FuzzWorld, open_world
from service._keys import ROLES
from tests.service.servers import make_database

BACKENDS = ("sqlite", "postgresql")
CALLERS = (*ROLES, NO_KEY)
EXAMPLES = 4  # generated cases per operation and role; the edge cases come on top
KEYLESS_EXAMPLES = 2  # without a key every call stops at the key check
HERE = Path(__file__).parent


def examples_for(role: str) -> int:
    return KEYLESS_EXAMPLES if role == NO_KEY else EXAMPLES


@dataclass
class FuzzFleet:
    """The worlds of the backends in use, why the others are missing, and the runs."""

    worlds: dict[str, FuzzWorld] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, BaseException] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)
    corpora: dict[str, list[Probe]] = field(default_factory=dict)

    def world(self, backend: str) -> FuzzWorld:
        if backend in self.skipped:
            pytest.skip(self.skipped[backend])
        if backend in self.failed:
            raise self.failed[backend]
        return self.worlds[backend]

    def fuzz(self, backend: str, role: str) -> Tally:
        """Send the backend's corpus (drawn on first use) as ``role``, with its budget."""
        world = self.world(backend)
        if backend not in self.corpora:
            self.schemas[backend] = load_schema(world.url)
            self.corpora[backend] = build_corpus(world, self.schemas[backend], EXAMPLES)
        return fuzz_role(world, role, self.corpora[backend], examples_for(role))


def _used(session: pytest.Session, name: str, known: tuple[str, ...]) -> list[str]:
    """Values of the parameter ``name`` that collected tests of this folder use."""
    used = {
        i.callspec.params.get(name)
        for i in session.items
        if i.path.parent == HERE and hasattr(i, "callspec")
    }
    return [k for k in known if k in used]


def _start(
    fleet: FuzzFleet, stack: contextlib.ExitStack, databases: dict, tmp_path_factory, ray: str
):
    """Each backend's world, its server joined to the Ray at ``ray`` (the test process's:
    no Ray started and stopped per server)."""
    env = {"CASELINK_RAY_ADDRESS": ray}
    with ThreadPoolExecutor(max(1, len(databases))) as pool:
        starting = {
            kind: pool.submit(
                open_world, db.url, kind, tmp_path_factory.mktemp(f"fuzz-{kind}"), env
            )
            for kind, db in databases.items()
        }
    for kind, future in starting.items():
        try:
            fleet.worlds[kind] = future.result()
        except Exception as e:  # reported by each test of that backend
            fleet.failed[kind] = e
        else:
            stack.callback(fleet.worlds[kind].close)  # before its database goes


@pytest.fixture(scope="package")
def fuzz_fleet(
    request: pytest.FixtureRequest, tmp_path_factory, ray_session
) -> Iterator[FuzzFleet]:
    fleet = FuzzFleet()
    with contextlib.ExitStack() as stack:
        databases = {}
        for kind in _used(request.session, "backend", BACKENDS):
            try:
                databases[kind] = stack.enter_context(
                    make_database(kind, request, tmp_path_factory.mktemp(f"fuzzdb-{kind}"))
                )
            except pytest.skip.Exception as e:
                fleet.skipped[kind] = str(e)
        _start(fleet, stack, databases, tmp_path_factory, ray_session.address)
        yield fleet
