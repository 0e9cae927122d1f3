"""Real caselink servers over loopback, on SQLite and on PostgreSQL.

Each server is a process ``caselink serve`` with its own database (a SQLite file, or a
fresh PostgreSQL schema dropped afterwards) and its own process group, killed at teardown;
it is forked from the pytest worker's forkserver (:mod:`tests.forkserver`: the
service imported once, not at every start).
Its Ray is chosen where it is made (:func:`ray_settings`): it joins the test process's Ray
(``ray_session``: one Ray per test process, not one start-up and shutdown per server), or
starts one of its own where a test is about the service's own Ray or kills servers. The
``fleet`` launches one per backend at once, each with a Ray of its own; ``service``
(package-scoped: stopped, with its Ray, once this folder's tests are done; one parameter per
backend) is the one the tests of a backend share, with an admin key made as ``caselink admin
create-agency --role admin`` makes it (:func:`bootstrap_key`) and a steward key the admin
issues over HTTP; ``world`` on it is a three-agency agreement whose first run has succeeded.
test_crash kills servers of its own (fault points).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

import bloom
from service.client import Client
from tests.conftest import POSTGRES_URL
from tests.forkserver import Captured, Forked, popen, spawn
from tests.service import loopback

BACKENDS = ("sqlite", "postgresql")
STARTUP_TIMEOUT = 120.0
PURPOSES = ["linkage", "tracing", "evaluation"]  # evaluation: the summary's default purpose
OPERATOR = "caselink-operator"  # the agency of the admin key each server's database starts with


# -- databases ------------------------------------------------------------------------------
@dataclass
class Database:
    """One database for one server: its URL and an engine for looking behind the API."""

    kind: str
    url: str
    _engine: sa.Engine | None = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            args = {"timeout": 60} if self.kind == "sqlite" else {}
            self._engine = sa.create_engine(self.url, connect_args=args)
        return self._engine

    def count(self, table: sa.Table, *where: Any) -> int:
        with self.engine.connect() as conn:
            q = sa.select(sa.func.count()).select_from(table)
            return int(conn.execute(q.where(*where) if where else q).scalar_one())

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@contextlib.contextmanager
def make_database(kind: str, request: pytest.FixtureRequest, where: Path) -> Iterator[Database]:
    """A SQLite file in ``where``, or a fresh PostgreSQL schema (skips if none answers)."""
    if kind == "sqlite":
        db = Database(kind, f"sqlite:///{where / 'caselink.db'}")
        yield db
        db.dispose()
        return
    admin: sa.Engine = request.getfixturevalue("postgres_engine")
    schema = "caselink_test_" + secrets.token_hex(6)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    db = Database(kind, f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


# -- processes ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_settings(address: str | None) -> dict[str, str]:
    """The Ray of a test server: join the Ray at ``address`` (``ray_session.address``: the
    test process's), or, with None, start a lean one of its own (one CPU, 100 MB of object
    store) -- for the tests about the service's own Ray and those that kill servers."""
    if address is None:
        return {"CASELINK_RAY_NUM_CPUS": "1", "CASELINK_RAY_OBJECT_STORE_MB": "100"}
    return {"CASELINK_RAY_ADDRESS": address}


def service_env(db_url: str, ray: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a ``caselink`` command on ``db_url``: no CASELINK_ setting of this
    process's, Ray as :func:`ray_settings` says, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASELINK_")}
    env.update(
        CASELINK_DATABASE_URL=db_url,
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="disabled",
        CASELINK_MAX_UPLOAD_MB="1",
        COLUMNS="2000",  # rich tables of the CLI: one line per row
    )
    env.update(ray_settings(ray))
    env.update(extra)
    return env


def caselink_started(db_url: str, *args: str) -> Captured:
    """Start the ``caselink`` command on ``db_url`` in a process of its own
    (:func:`tests.forkserver.popen`); read it with ``communicate``."""
    return popen(["caselink", *args], env=service_env(db_url))


class Server:
    """``caselink serve`` in its own process group, on a free loopback port; ``ray``: the
    address of the Ray it joins, or None for a Ray of its own (:func:`ray_settings`)."""

    def __init__(
        self, db: Database, workdir: Path, name: str = "server", *, ray: str | None, **env: str
    ) -> None:
        self.db, self.workdir, self.name = db, workdir, name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="clray", dir="/tmp"))  # short socket paths
        self.env = service_env(db.url, ray, RAY_TMPDIR=str(self.ray_tmp), **env)
        self.proc: Forked | subprocess.Popen | None = None
        self.starts = 0

    @property
    def stderr_path(self) -> Path:
        return self.workdir / f"{self.name}-{self.starts}.err"

    def stderr(self) -> str:
        """What the current (or last) process wrote to stderr."""
        return self.stderr_path.read_text(errors="replace")

    def all_stderr(self) -> str:
        """What every process started by this object wrote to stderr."""
        return "".join(
            (self.workdir / f"{self.name}-{n}.err").read_text(errors="replace")
            for n in range(1, self.starts + 1)
        )

    def launch(self) -> None:
        """``caselink serve`` on this server's port, in a session of its own: forked from the
        worker's forkserver (:mod:`tests.forkserver`: the service imported once)."""
        self.starts += 1
        self.proc = spawn(
            ["caselink", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            cwd=self.workdir,
            stdout=self.workdir / f"{self.name}-{self.starts}.out",
            stderr=self.stderr_path,
        )

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"caselink serve exited with {self.proc.returncode}:\n{self.stderr()[-3000:]}"
            )

    def _healthy(self) -> bool:
        with contextlib.suppress(httpx.TransportError):
            # the shared trust (tests/service/loopback.py): a bare httpx.get loads the CA
            # bundle again (30 ms of CPU a poll, a fifth of a core taken from the server)
            url = f"{self.url}/healthz"
            return loopback.get(url, timeout=2).status_code == 200
        return False

    def wait_migrated(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until the server has brought the database schema up to date (it then starts Ray):
        its log says so, or it answers already."""
        deadline = time.monotonic() + timeout
        while "database schema is current" not in self.stderr() and not self._healthy():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no migration after {timeout:.0f} s:\n{self.stderr()}")
            time.sleep(0.1)

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self._healthy():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no /healthz after {timeout:.0f} s:\n{self.stderr()}")
            time.sleep(0.1)

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def kill(self) -> None:
        """SIGKILL the server and everything in its process group (its Ray processes)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.ray_tmp, ignore_errors=True)

    def client(self, key: str, **kwargs: Any) -> Client:
        return Client(self.url, key, **kwargs)


@dataclass
class Service:
    """A running server; the admin key bootstrapped on its database by the CLI, and the key of
    the steward of the coordinating agency, which the admin issued."""

    server: Server
    db: Database
    steward_key: str
    steward_agency: str = "caselink-steward"
    admin_key: str = ""
    admin_agency: str = OPERATOR

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, key: str | None = None, **kwargs: Any) -> Client:
        return self.server.client(key or self.steward_key, **kwargs)

    def admin(self, **kwargs: Any) -> Client:
        return self.server.client(self.admin_key, **kwargs)


class Fleet:
    """One server per backend the session's tests use, launched together so that later
    backends start up while the first one's tests run. Each database gets its admin from
    :func:`bootstrap_key` once its schema is current, while the server starts Ray: a Ray of
    its own (tests/service/e2e/test_flow.py checks that the first run ran on it)."""

    def __init__(self, stack: contextlib.ExitStack, request, tmp_path_factory) -> None:
        used = {
            i.callspec.params.get("service")
            for i in request.session.items
            if hasattr(i, "callspec")
        }
        self.skipped: dict[str, str] = {}
        self.servers: dict[str, Server] = {}
        self.ready: dict[str, Service] = {}
        for kind in [k for k in BACKENDS if k in used]:
            try:
                db = stack.enter_context(
                    make_database(kind, request, tmp_path_factory.mktemp(kind))
                )
            except pytest.skip.Exception as e:
                self.skipped[kind] = str(e)
                continue
            server = Server(db, tmp_path_factory.mktemp(f"server-{kind}"), ray=None)
            stack.callback(server.cleanup)  # before the database goes
            server.launch()
            self.servers[kind] = server

    def service(self, kind: str) -> Service:
        if kind in self.skipped:
            pytest.skip(self.skipped[kind])
        if kind not in self.ready:
            server = self.servers[kind]
            server.wait_migrated()
            admin_key = bootstrap_key(server.db.url, OPERATOR, "admin")  # while Ray starts
            server.wait_ready()
            self.ready[kind] = _with_steward(server, admin_key)
        return self.ready[kind]


def bootstrap_key(db_url: str, agency: str, role: str) -> str:
    """A key of ``role`` for ``agency`` (made if new), issued straight on the database: what
    ``caselink admin create-agency AGENCY --role ROLE`` does, by the same function, in this
    process rather than in a fresh interpreter (the command itself is tested by
    tests/service/core/test_cli_flow.py)."""
    from service._admin import bootstrap_agency, open_database

    engine = open_database(db_url)
    try:
        return bootstrap_agency(engine, agency, role).api_key
    finally:
        engine.dispose()


def started_with_keys(
    server: Server, agencies: tuple[str, ...], steward_agency: str = "caselink-steward"
) -> tuple[str, dict[str, str], str]:
    """Launch ``server`` on a fresh database, make its operator, the ``agencies`` with a
    submitter key each and ``steward_agency`` with a steward key: (admin key, submitter keys,
    steward key)."""
    server.launch()
    server.wait_migrated(timeout=600)
    admin = bootstrap_key(server.db.url, OPERATOR, "admin")  # while Ray starts
    server.wait_ready(timeout=600)
    with server.client(admin) as c:
        for agency in (*agencies, steward_agency):
            c.create_agency(agency)
        keys = {agency: c.create_key(agency, "submitter")["api_key"] for agency in agencies}
        steward = c.create_key(steward_agency, "steward")["api_key"]
    return admin, keys, steward


def _with_steward(server: Server, admin_key: str) -> Service:
    """The service, once its admin has made the coordinating agency and its steward's key."""
    service = Service(server, server.db, "", admin_key=admin_key)
    with service.admin() as admin:
        admin.create_agency(service.steward_agency)
        service.steward_key = admin.create_key(service.steward_agency, "steward")["api_key"]
    return service


@pytest.fixture(scope="package")
def fleet(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Fleet]:
    with contextlib.ExitStack() as stack:
        yield Fleet(stack, request, tmp_path_factory)


@pytest.fixture(scope="package", params=BACKENDS)
def service(request: pytest.FixtureRequest, fleet: Fleet) -> Service:
    return fleet.service(request.param)


# -- data -----------------------------------------------------------------------------------
def encode_file(
    df: pd.DataFrame, schema: bloom.Schema, secret: bloom.Secret, agency: str, path: Path
) -> Path:
    bloom.encode(df, schema, secret, agency=agency, id_column="record_ref").write(path)
    return path


def agreement_body(
    schema: bloom.Schema, parties: list[str], name: str = "test", auditors: list[str] = ()
) -> dict:
    return dict(
        name=name,
        parties=parties,
        auditors=list(auditors),
        purposes=PURPOSES,
        schema_fingerprint=schema.fingerprint,
        filter_bits=schema.filter_bits,
        segments=[{"name": n, "bits": b} for n, b in schema.layout],
        retention_days=365,
    )


@dataclass
class World:
    """Three agencies linked under one agreement, and what the tests need to probe it."""

    service: Service
    agreement: dict
    data: Any  # evaluation SyntheticData: registers and truth
    uploaded: dict[str, pd.DataFrame]  # per agency: the records sent in the first round
    held_back: dict[str, pd.DataFrame]  # per agency: records kept for the incremental round
    planted: pd.DataFrame  # agency, record_ref, person: identical records in all three
    keys: dict[str, str]  # agency -> submitter key
    role_keys: dict[str, str]  # role -> key in the agreement with that role (see _keys)
    outsider_keys: dict[str, str]  # role -> key of an agency outside the agreement
    revoked_key: str
    first_run: dict
    first_cases: dict[str, list[dict]] = field(default_factory=dict)
    workdir: Path = Path()
    cli_verify: Captured | None = None  # caselink admin verify-audit, started at the end
    _cli_result: tuple[int, str, str] | None = None

    def verify_audit_cli(self) -> tuple[int, str, str]:
        """Exit code, stdout and stderr of the verify-audit started when the flow was done."""
        if self._cli_result is None:
            assert self.cli_verify is not None
            out, err = self.cli_verify.communicate(timeout=120)
            self._cli_result = (self.cli_verify.returncode, out, err)
        return self._cli_result

    @property
    def agreement_id(self) -> str:
        return self.agreement["agreement_id"]

    def client(self, agency: str) -> Client:
        return self.service.client(self.keys[agency])


AGENCIES = ("agency-a", "agency-b", "agency-c")
OVERSIGHT = "oversight"  # named as the world agreement's auditor; no party
PLANTED = pd.DataFrame(
    {
        "given_name": ["Zebulon", "Quintessa", "Barnabas"],
        "family_name": ["Okonkwo-Lindqvist", "Vasquez-Haraldsen", "Tshabalala-Moreau"],
        "father_name": ["Ignatius", "Evander", "Leopold"],
        "sex": ["M", "F", "M"],
        "date_of_birth": ["1971-07-23", "1988-11-04", "1959-02-17"],
        "place_of_birth": ["Timbuktu", "Valparaiso", "Durban"],
    }
)


def _registers(seed: int = 7) -> tuple[Any, dict[str, pd.DataFrame], pd.DataFrame]:
    from evaluation import generate_synthetic

    data = generate_synthetic(240, 3, seed=seed)
    registers, planted = {}, []
    for k, agency in enumerate(AGENCIES):
        refs = [f"P{k + 1}-{j:03d}" for j in range(len(PLANTED))]
        planted.append(
            pd.DataFrame({"agency": agency, "record_ref": refs, "person": range(len(PLANTED))})
        )
        registers[agency] = pd.concat(
            [data.agencies[agency], PLANTED.assign(record_ref=refs)], ignore_index=True
        )
    return data, registers, pd.concat(planted, ignore_index=True)


@pytest.fixture(scope="package")
def world(service: Service, person_schema, secret, tmp_path_factory) -> Iterator[World]:
    """The full three-agency flow up to a succeeded first run, asserted step by step."""
    workdir = tmp_path_factory.mktemp(f"world-{service.db.kind}")
    with service.client() as steward, service.admin() as admin:
        w = _build_world(service, steward, admin, person_schema, secret, workdir)
    for agency in AGENCIES:
        with w.client(agency) as c:
            w.first_cases[agency] = list(c.iter_cases(w.agreement_id, page=100))
    w.cli_verify = caselink_started(service.db.url, "admin", "verify-audit")  # ~4 s to start
    yield w
    w.verify_audit_cli()  # reaped, whether or not a test asked for it


def _keys(service: Service, steward: Client, admin: Client) -> tuple[dict, dict, dict, str]:
    me = steward.me()
    assert (me["agency"], me["role"]) == (service.steward_agency, "steward")
    assert admin.me()["role"] == "admin"
    for agency in (*AGENCIES, "outsider", OVERSIGHT):
        assert admin.create_agency(agency)["name"] == agency
    keys = {a: admin.create_key(a, "submitter")["api_key"] for a in AGENCIES}
    outsider_keys = {
        r: admin.create_key("outsider", r)["api_key"]
        for r in ("steward", "submitter", "tracer", "evaluator", "auditor")
    }
    role_keys = {  # of party agencies, but the auditor's: of the agency named as auditor
        "steward": service.steward_key,
        "submitter": keys["agency-a"],
        "tracer": admin.create_key("agency-b", "tracer")["api_key"],
        "evaluator": admin.create_key("agency-a", "evaluator")["api_key"],
        "auditor": admin.create_key(OVERSIGHT, "auditor")["api_key"],
    }
    revoked = admin.create_key("agency-a", "submitter")
    admin.revoke_key(revoked["key_id"])
    return keys, role_keys, outsider_keys, revoked["api_key"]


def _build_world(
    service: Service,
    steward: Client,
    admin: Client,
    schema: bloom.Schema,
    secret: bloom.Secret,
    workdir: Path,
) -> World:
    keys, role_keys, outsider_keys, revoked = _keys(service, steward, admin)
    agreement = steward.create_agreement(
        **agreement_body(schema, list(AGENCIES), name="three agencies", auditors=[OVERSIGHT])
    )
    assert agreement["parties"] == sorted([*AGENCIES, service.steward_agency])
    assert agreement["auditors"] == [OVERSIGHT]
    assert agreement["purposes"] == PURPOSES
    assert agreement["schema_fingerprint"] == schema.fingerprint
    assert agreement["filter_bits"] == schema.filter_bits
    assert agreement["retention_days"] == 365
    agreement_id = agreement["agreement_id"]

    data, registers, planted = _registers()
    uploaded, held_back = {}, {}
    for agency in AGENCIES:
        synthetic = data.agencies[agency]  # the last 20 come in the incremental round
        planted_rows = registers[agency].iloc[len(synthetic) :]
        uploaded[agency] = pd.concat([synthetic.iloc[:-20], planted_rows], ignore_index=True)
        held_back[agency] = synthetic.iloc[-20:].reset_index(drop=True)
        path = encode_file(uploaded[agency], schema, secret, agency, workdir / f"{agency}.parquet")
        with service.client(keys[agency]) as c:
            stored = c.upload(agreement_id, path)
        assert stored["agency"] == agency and stored["record_count"] == len(uploaded[agency])
        assert stored["status"] == "pending" and stored["duplicate"] is False

    with service.client(keys["agency-a"]) as c:
        started = c.start_run(agreement_id)
        assert started["status"] in ("queued", "running")
        run = c.wait_run(agreement_id, started["run_id"], timeout=120, poll=0.2)
    assert run["status"] == "succeeded", run
    assert run["stats"]["new_records"] == sum(len(u) for u in uploaded.values())
    return World(
        service=service,
        agreement=agreement,
        data=data,
        uploaded=uploaded,
        held_back=held_back,
        planted=planted,
        keys=keys,
        role_keys=role_keys,
        outsider_keys=outsider_keys,
        revoked_key=revoked,
        first_run=run,
        workdir=workdir,
    )
