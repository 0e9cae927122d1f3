"""One real ``caselink serve`` (SQLite) for the API as its readers use it: ``/docs`` and
``/redoc`` in a browser, and a client generated from the served document.

``published`` (package-scoped: stopped once this folder's tests are done) holds the server
(the machinery of ``tests/service/servers.py``), a submitter key for each of three agencies,
a tracer key of ``agency-b``, and an agreement between the three with nothing uploaded yet:
the generated client uploads, runs and queries itself. One backend suffices: neither the
pages nor the document depend on the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import bloom
from tests.service.browser import browser  # noqa: F401  (one Chromium for the folder)
from tests.service.servers import (
    AGENCIES,
    PLANTED,
    Server,
    agreement_body,
    encode_file,
    make_database,
    started_with_keys,
)


@dataclass(frozen=True)
class Published:
    server: Server
    schema: bloom.Schema
    secret: bloom.Secret
    agreement_id: str
    keys: dict[str, str]  # agency -> submitter key
    tracer_key: str  # of agency-b
    workdir: Path

    @property
    def url(self) -> str:
        return self.server.url

    def encoded(self, df: pd.DataFrame, agency: str, name: str) -> bytes:
        """``df`` as ``caselink encode`` writes it for ``agency`` under the agreement."""
        path = self.workdir / f"{name}.parquet"
        return encode_file(df, self.schema, self.secret, agency, path).read_bytes()


def registers(seed: int = 5) -> dict[str, pd.DataFrame]:
    """A small synthetic register per agency, each with the three people of ``PLANTED``."""
    from evaluation import generate_synthetic

    data = generate_synthetic(40, len(AGENCIES), seed=seed)
    out = {}
    for k, agency in enumerate(AGENCIES):
        refs = [f"P{k + 1}-{j:03d}" for j in range(len(PLANTED))]
        out[agency] = pd.concat(
            [data.agencies[agency], PLANTED.assign(record_ref=refs)], ignore_index=True
        )
    return out


@pytest.fixture(scope="package")
def published(request, person_schema, secret, tmp_path_factory, ray_session) -> Iterator[Published]:
    workdir = tmp_path_factory.mktemp("published")
    with make_database("sqlite", request, workdir) as db:
        server = Server(db, workdir, name="docs", ray=ray_session.address)
        try:
            admin_key, keys, steward_key = started_with_keys(server, AGENCIES)
            with server.client(admin_key) as admin:
                tracer_key = admin.create_key("agency-b", "tracer")["api_key"]
            with server.client(steward_key) as steward:
                body = agreement_body(person_schema, list(AGENCIES), name="published")
                agreement_id = steward.create_agreement(**body)["agreement_id"]
            yield Published(server, person_schema, secret, agreement_id, keys, tracer_key, workdir)
        finally:
            server.cleanup()
