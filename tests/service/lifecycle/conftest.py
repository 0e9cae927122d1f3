"""Fixtures of the lifecycle tests: registries on SQLite and PostgreSQL, and real servers.

Registries are scoped by a fresh uuid (PostgreSQL) or live in their own SQLite file. The
servers are ``caselink serve`` subprocesses (``servers.py``), one per backend for this
package, so withdrawals and purges here never disturb the shared world of ``tests/service``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bloom
from linkage._registry import RegistryUpdate
from linkage._types import NewRecordRef
from service import ServiceProcess
from service.client import Client
from tests.service import loopback
from tests.service.lifecycle.servers import (
    agreement_body,
    encode_file,
    running_service,
)
from tests.service.servers import PLANTED, Database, make_database


def planted_update(
    records: list[tuple[str, str, str]],
    links: list[tuple[int, int, float]],
    confidence: dict[str, float] | None = None,
) -> RegistryUpdate:
    """A registry update inserting ``records`` (agency, ref, case id) with ``links`` between
    their positions — the shape of what a linking run stores, built by hand."""
    n = len(records)
    cases = list(dict.fromkeys(c for _, _, c in records))
    conf = confidence or {}
    return RegistryUpdate(
        fingerprint="blake3:" + "0" * 64,
        filter_bits=64,
        new_agencies=np.array([a for a, _, _ in records], dtype=object),
        new_refs=np.array([r for _, r, _ in records], dtype=object),
        new_filters=np.arange(1, n + 1, dtype=np.uint64).reshape(n, 1),
        new_case_ids=np.array([c for _, _, c in records], dtype=object),
        new_confidence=np.array([conf.get(r, 0.9) for _, r, _ in records]),
        changed_ids=np.zeros(0, np.int64),
        changed_case_ids=np.zeros(0, object),
        changed_confidence=np.zeros(0),
        links=[(NewRecordRef(a), NewRecordRef(b), p) for a, b, p in links],
        new_cases=[(c, 0.9) for c in cases],
        merges={},
        case_confidence={},
    )


def eventually(probe, expected, timeout: float = 20.0):
    """What ``probe()`` returns once it equals ``expected`` (or at the timeout): the tracing
    index is rebuilt in the background after a change is published."""
    deadline = time.monotonic() + timeout
    while (seen := probe()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return seen


def in_process(*args: str):
    """The ``caselink`` command run in this process (Typer's runner): the same code as the
    installed command without its start-up time; the real command runs where it matters."""
    from typer.testing import CliRunner

    from caselink_cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "2000"})


# -- real servers ---------------------------------------------------------------------------
AGENCIES = ("agency-a", "agency-b", "agency-c")
SWEEP_SECONDS = "1"  # the service's own sweeper runs every second here


@dataclass
class Life:
    """A server with three agencies: agreement ``long`` (365 days, all three) and ``short``
    (1 day, agency-a and agency-b), each with a succeeded first run."""

    server: ServiceProcess
    db: Database
    steward: str  # key
    keys: dict[str, str]  # agency -> submitter key
    tracer: str  # agency-b's tracer key
    outsider: str  # a submitter key of an agency outside both agreements
    long: str
    short: str
    uploaded: dict[str, pd.DataFrame]  # per agency: what went into ``long``
    workdir: Path
    schema: bloom.Schema
    secret: bloom.Secret
    admin: str = ""  # key: the operator's, for agencies, keys and the service's audit chain

    def client(self, agency: str | None = None, key: str | None = None) -> Client:
        return Client(self.server.url, key or (self.keys[agency] if agency else self.steward))

    def cases(self, agency: str, agreement: str | None = None) -> dict[str, dict]:
        with self.client(agency) as c:
            rows = c.iter_cases(agreement or self.long, page=1000)
            return {r["record_ref"]: r for r in rows}

    def trace(self, agreement: str, person: pd.DataFrame) -> dict[str, list[str]]:
        """agency-b's tracer asks for one person: case id -> agencies holding a record."""
        path = encode_file(
            person.assign(record_ref="Q-1"),
            self.schema,
            self.secret,
            "agency-b",
            self.workdir / "query.parquet",
        )
        response = loopback.post(
            f"{self.server.url}/v1/agreements/{agreement}/queries",
            content=path.read_bytes(),
            headers={
                "Authorization": f"Bearer {self.tracer}",
                "X-Caselink-Purpose": "tracing",
                "Content-Type": "application/vnd.apache.parquet",
            },
            timeout=60,
        )
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        return {c["case_id"]: c["agencies"] for c in result["candidates"]}

    def upload_and_run(self, agency: str, agreement: str, df: pd.DataFrame, name: str) -> dict:
        path = encode_file(df, self.schema, self.secret, agency, self.workdir / name)
        with self.client(agency) as c:
            batch = c.upload(agreement, path)
            run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=120, poll=0.2)
        assert run["status"] == "succeeded", run
        return batch


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def life(request, tmp_path_factory, person_schema, secret, ray_session) -> Iterator[Life]:
    from service._admin import bootstrap_agency, open_database

    workdir = tmp_path_factory.mktemp(f"life-{request.param}")
    with (
        make_database(request.param, request, workdir) as db,
        running_service(
            db, workdir, ray_session.address, CASELINK_RETENTION_SWEEP_SECONDS=SWEEP_SECONDS
        ) as server,
    ):
        engine = open_database(db.url)  # migrated by the server already
        admin = bootstrap_agency(engine, "operator", "admin").api_key
        steward = bootstrap_agency(engine, "steward", "steward").api_key
        engine.dispose()
        yield _populate(server, db, (admin, steward), workdir, person_schema, secret)


def _agreement(c: Client, schema, parties, name: str, days: int) -> str:
    return c.create_agreement(**agreement_body(schema, list(parties), name, days))["agreement_id"]


def _populate(server, db, admin_steward, workdir, schema, secret) -> Life:
    from evaluation import generate_synthetic

    admin, steward = admin_steward
    with Client(server.url, admin) as a:
        for agency in (*AGENCIES, "outsider"):
            a.create_agency(agency)
        keys = {ag: a.create_key(ag, "submitter")["api_key"] for ag in AGENCIES}
        tracer = a.create_key("agency-b", "tracer")["api_key"]
        outsider = a.create_key("outsider", "submitter")["api_key"]
    with Client(server.url, steward) as c:
        long = _agreement(c, schema, AGENCIES, "long", 365)
        short = _agreement(c, schema, AGENCIES[:2], "short", 1)
    data = generate_synthetic(60, 3, seed=11)
    uploaded = {}
    for k, agency in enumerate(AGENCIES):
        refs = [f"P{k + 1}-{j:03d}" for j in range(len(PLANTED))]
        uploaded[agency] = pd.concat(
            [data.agencies[agency], PLANTED.assign(record_ref=refs)], ignore_index=True
        )
    life = Life(
        server,
        db,
        steward,
        keys,
        tracer,
        outsider,
        long,
        short,
        uploaded,
        workdir,
        schema=schema,
        secret=secret,
        admin=admin,
    )
    for agency in AGENCIES:
        path = encode_file(uploaded[agency], schema, secret, agency, workdir / f"{agency}.parquet")
        with life.client(agency) as c:
            c.upload(long, path)
    with life.client("agency-a") as c:
        run = c.wait_run(long, c.start_run(long)["run_id"], timeout=120, poll=0.2)
    assert run["status"] == "succeeded", run
    for agency in AGENCIES[:2]:
        life.upload_and_run(agency, short, uploaded[agency].iloc[:30], f"{agency}-short.parquet")
    return life
