"""A real server for tracing queries, on SQLite and on PostgreSQL, with a metrics token.

One ``caselink serve`` per backend (the machinery of ``tests/service/servers.py``), its own
database and a metrics token. The ``tracing`` world on it: three agencies under one agreement
(purposes those of ``agreement_body``), each holding a synthetic register plus the three
planted people of ``PLANTED``; the first run has succeeded. Tests query with tracer keys of
:meth:`Tracing.new_tracer`; the rate limit's budget is the agency's, shared by all those keys,
so the burst here is larger than every test together spends. The rate limit itself is tested
on a server of its own (``test_ratelimit_server.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pytest

import bloom
from service._admin import bootstrap_agency
from service.client import Client
from tests.service import loopback
from tests.service.servers import (
    AGENCIES,
    PLANTED,
    Database,
    Server,
    agreement_body,
    encode_file,
    make_database,
)

BURST = 2000  # query records all the tests of a module send, together, and then some
METRICS_TOKEN = "metrics-token-for-the-tests-0123456789"
QUERY_ENV = {
    "CASELINK_QUERY_BURST": str(BURST),
    "CASELINK_QUERY_RATE_PER_MINUTE": "2",
    "CASELINK_QUERY_TOP_K_MAX": "10",
    "CASELINK_METRICS_TOKEN": METRICS_TOKEN,
}


@dataclass
class Tracing:
    server: Server
    db: Database
    steward: Client  # holds the operator's admin key: it issues keys to every agency
    schema: bloom.Schema
    secret: bloom.Secret
    agreement_id: str
    keys: dict[str, str]  # agency -> submitter key
    workdir: Path
    planted_cases: list[str] = field(default_factory=list)  # case id of PLANTED row k
    _tracers: int = 0

    def new_tracer(self, agency: str = "agency-b") -> str:
        self._tracers += 1
        return self.steward.create_key(agency, "tracer")["api_key"]

    def key_of(self, agency: str, role: str) -> str:
        return self.steward.create_key(agency, role)["api_key"]

    def encode(self, df: pd.DataFrame, agency: str, name: str) -> bytes:
        path = encode_file(df, self.schema, self.secret, agency, self.workdir / f"{name}.parquet")
        return path.read_bytes()

    def query(
        self,
        key: str,
        body: bytes,
        purpose: str | None = "tracing",
        agreement_id: str | None = None,
        **params,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        if purpose is not None:
            headers["X-Caselink-Purpose"] = purpose
        url = f"{self.server.url}/v1/agreements/{agreement_id or self.agreement_id}/queries"
        return loopback.post(url, content=body, headers=headers, params=params, timeout=60)

    def link(self, frames: dict[str, pd.DataFrame], name: str) -> dict:
        """Upload one batch per agency and run the linkage to its end."""
        for agency, df in frames.items():
            path = encode_file(
                df, self.schema, self.secret, agency, self.workdir / f"{name}-{agency}.parquet"
            )
            with self.server.client(self.keys[agency]) as c:
                c.upload(self.agreement_id, path)
        with self.server.client(self.keys[AGENCIES[0]]) as c:
            run = c.wait_run(
                self.agreement_id, c.start_run(self.agreement_id)["run_id"], timeout=120, poll=0.2
            )
        assert run["status"] == "succeeded", run
        return run


def bootstrap_steward(db_url: str, name: str, role: str = "steward") -> str:
    """A steward (or admin) key issued straight on the database, as ``caselink admin`` does."""
    from service._admin import open_database

    engine = open_database(db_url)
    try:
        return bootstrap_agency(engine, name, role).api_key
    finally:
        engine.dispose()


def _registers(seed: int = 11) -> dict[str, pd.DataFrame]:
    from evaluation import generate_synthetic

    data = generate_synthetic(150, 3, seed=seed)
    out = {}
    for k, agency in enumerate(AGENCIES):
        refs = [f"P{k + 1}-{j:03d}" for j in range(len(PLANTED))]
        out[agency] = pd.concat(
            [data.agencies[agency], PLANTED.assign(record_ref=refs)], ignore_index=True
        )
    return out


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def query_db(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Database]:
    where = tmp_path_factory.mktemp(f"query-{request.param}")
    with make_database(request.param, request, where) as db:
        yield db


@pytest.fixture(scope="package")
def tracing(
    query_db: Database, person_schema, secret, tmp_path_factory, ray_session
) -> Iterator[Tracing]:
    workdir = tmp_path_factory.mktemp(f"tracing-{query_db.kind}")
    server = Server(query_db, workdir, name="tracing", ray=ray_session.address, **QUERY_ENV)
    try:
        server.launch()
        server.wait_migrated()
        admin_key = bootstrap_steward(query_db.url, "steward", "admin")
        server.wait_ready()
        with server.client(admin_key) as admin:
            yield _world(server, query_db, admin, person_schema, secret, workdir)
    finally:
        server.cleanup()


def _world(server, db, admin: Client, schema, secret, workdir) -> Tracing:
    for agency in (*AGENCIES, "outsider"):
        admin.create_agency(agency)
    keys = {a: admin.create_key(a, "submitter")["api_key"] for a in AGENCIES}
    with server.client(admin.create_key("steward", "steward")["api_key"]) as steward:
        body = agreement_body(schema, list(AGENCIES), name="trace")
        agreement = steward.create_agreement(**body)
    world = Tracing(server, db, admin, schema, secret, agreement["agreement_id"], keys, workdir)
    world.link(_registers(), "first")
    with server.client(keys["agency-a"]) as c:
        mine = {r["record_ref"]: r["case_id"] for r in c.iter_cases(world.agreement_id)}
    world.planted_cases = [mine[f"P1-{j:03d}"] for j in range(len(PLANTED))]
    return world
