"""One real ``caselink serve`` (SQLite) for every browser test of the console.

The four browser modules (an agency's pages, the coordinator's journey and every role's walk,
oversight and the public page, the steward's pages) each build their world on this one
server — their own agreements, keys and uploads — instead of starting a server (and its Ray)
of their own: :func:`~tests.service.console.conftest.console_service` starts it once for the
folder. What each module asserts is scoped to its own agreements, so what the others add
beside them changes nothing it reads; no agreement's name is the prefix of another's (the
agency's test follows a link by its name).

On it: the operator's admin key, the agencies ``agency-a``, ``agency-b`` and ``agency-c``
with a submitter key each, and ``caselink-steward`` with a steward key; a module issues
whatever other key it needs with :meth:`Served.issue`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import bloom
from tests.service.servers import Server, make_database, started_with_keys

AGENCIES = ("agency-a", "agency-b", "agency-c")


@dataclass(frozen=True)
class Served:
    server: Server
    admin: str  # caselink-operator's admin key
    steward: str  # caselink-steward's steward key
    submitters: dict[str, str]  # agency -> its submitter key
    workdir: Path
    schema: bloom.Schema
    secret: bloom.Secret

    @property
    def url(self) -> str:
        return self.server.url

    def issue(self, agency: str, role: str) -> str:
        """A new key of ``role`` for ``agency``, issued by the admin."""
        with self.server.client(self.admin) as c:
            return str(c.create_key(agency, role)["api_key"])


@pytest.fixture(scope="package")
def console_service(
    request: pytest.FixtureRequest,
    person_schema: bloom.Schema,
    secret: bloom.Secret,
    tmp_path_factory: pytest.TempPathFactory,
    ray_session,
) -> Iterator[Served]:
    """The server, started once for the folder's browser tests, stopped after the last."""
    workdir = tmp_path_factory.mktemp("console-browser")
    with make_database("sqlite", request, workdir) as db:
        server = Server(
            db,
            workdir,
            name="console",
            ray=ray_session.address,
            CASELINK_CONSOLE_SIGN_INS_PER_MINUTE="1000",
        )
        try:
            admin, submitters, steward = started_with_keys(server, AGENCIES)
            yield Served(server, admin, steward, submitters, workdir, person_schema, secret)
        finally:
            server.cleanup()
