"""A small, real caselink world for the fuzzer to reach: a server, keys of every role, data.

:func:`open_world` issues keys straight on the database (as ``caselink admin`` does): one per
role of ``service._keys.ROLES`` — the steward's (and an admin's, where that role exists) at
the coordinating agency, the others at ``agency-a`` — and *victim* keys of every role at every
agency, the only key ids the fuzzer may rotate or revoke (the callers' own keys must survive
the run). It then starts ``caselink serve`` (:class:`service.ServiceProcess`), and through the
API the steward makes an agreement of ``agency-a`` and ``agency-b`` and each agency uploads a
small batch of random filters (four of ``agency-b``'s copy ``agency-a``'s, so that some
cases span both agencies); a run links them, and one more batch of ``agency-a`` stays pending.

:class:`FuzzWorld` then knows the real values the routes take — the agreement, run, agency
and victim key ids, record refs, purposes, the schema — a valid JSON body per operation that
takes one, a few known Parquet bodies — the batch uploaded (again: a duplicate), a fresh
valid batch, a valid query — and a body one byte over the size limit.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import bloom
from evaluation._fuzz_bodies import Layout, forge
from service import ServiceProcess
from service._admin import bootstrap_agency, open_database
from service._keys import ROLES
from service.client import Client

__all__ = ["COORDINATION", "FuzzWorld", "NO_KEY", "PURPOSES", "open_world", "server_env"]

COORDINATION, A, B = "coordination", "agency-a", "agency-b"
AGENCIES = (COORDINATION, A, B)
COORDINATION_ROLES = ("steward", "admin")  # keys held by the coordinating agency
PURPOSES = ["linkage", "tracing", "evaluation", "oversight"]
NO_KEY = "none"
MAX_UPLOAD_MB = 1
_MIGRATING = threading.Lock()


def server_env(ray_tmp: str, **extra: str) -> dict[str, str]:
    """A lean server: one Ray CPU, a small object store, a 1 MiB upload limit."""
    return {
        "CASELINK_RAY_NUM_CPUS": "1",
        "CASELINK_RAY_OBJECT_STORE_MB": "100",
        "CASELINK_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
        "RAY_TMPDIR": ray_tmp,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        **extra,
    }


@dataclass
class FuzzWorld:
    """A running server and the real values its routes take."""

    url: str
    db_kind: str
    keys: dict[str, str | None] = field(repr=False)  # role (and NO_KEY) -> API key
    values: dict[str, list[Any]]  # parameter or body field name -> real values
    bodies: list[bytes] = field(repr=False)  # known batch and query bodies
    layout: Layout
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)  # valid JSON bodies
    oversize: bytes = field(default=b"\0" * (MAX_UPLOAD_MB * 2**20 + 1), repr=False)
    process: ServiceProcess | None = None
    log: Path = Path()
    notes: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def roles(self) -> list[str]:
        return list(self.keys)

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        if "ray_tmp" in self.notes:
            shutil.rmtree(self.notes.pop("ray_tmp"), ignore_errors=True)


def _issue_keys(db_url: str) -> tuple[dict[str, str | None], list[str], str]:
    """Keys of every role (and none), victim key ids, and ``agency-b``'s uploader's key."""
    with _MIGRATING:  # alembic's context is global: one migration at a time per process
        engine = open_database(db_url)
    try:
        keys: dict[str, str | None] = {
            role: bootstrap_agency(
                engine, COORDINATION if role in COORDINATION_ROLES else A, role
            ).api_key
            for role in ROLES
        }
        victims = [
            bootstrap_agency(engine, agency, role).key_id for agency in AGENCIES for role in ROLES
        ]
        uploader = bootstrap_agency(engine, B, "submitter").api_key
    finally:
        engine.dispose()
    keys[NO_KEY] = None
    return keys, victims, uploader


def _layout() -> tuple[bloom.Schema, Layout]:
    schema = bloom.Schema.load("person")
    return schema, Layout(schema.fingerprint, schema.layout, agencies=(A, B))


def _filters(n: int, layout: Layout, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(
        0, 2**63, size=(n, layout.bits // 64), dtype=np.uint64
    )


def _upload(url: str, key: str, agreement: str, body: bytes, path: Path) -> dict:
    path.write_bytes(body)
    with Client(url, key) as c:
        return c.upload(agreement, path)


def _populate(world: FuzzWorld, schema: bloom.Schema, work: Path) -> None:
    keys, layout, url = world.keys, world.layout, world.url
    steward, submitter = keys["steward"], keys["submitter"]
    assert steward is not None and submitter is not None
    with Client(url, steward) as c:
        agreement = c.create_agreement(
            name="fuzz",
            parties=[A, B],
            purposes=PURPOSES,
            schema_fingerprint=schema.fingerprint,
            filter_bits=schema.filter_bits,
            segments=schema.layout,
            retention_days=365,
            review_band=(0.01, 1.0),  # every stored link queued: real review ids to send
        )["agreement_id"]
    b_key = world.notes["uploader"]
    a_filters = _filters(12, layout, seed=1)
    b_filters = np.concatenate([a_filters[:4], _filters(8, layout, seed=2)])
    a_refs, b_refs = [f"A-{k:03d}" for k in range(12)], [f"B-{k:03d}" for k in range(12)]
    first = forge(a_refs, a_filters, layout, A)
    _upload(url, submitter, agreement, first, work / "a.parquet")
    _upload(url, b_key, agreement, forge(b_refs, b_filters, layout, B), work / "b.parquet")
    with Client(url, submitter) as c:
        run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=300, poll=0.2)
    if run["status"] != "succeeded":
        raise RuntimeError(f"the fuzz world's first run failed: {run.get('error')}")
    with Client(url, submitter) as c:
        reviews = [x["review_id"] for x in c.iter_reviews(agreement)]
    pending = [f"A-{k}" for k in range(100, 105)]
    _upload(
        url,
        submitter,
        agreement,
        forge(pending, _filters(5, layout, 3), layout, A),
        work / "pending.parquet",
    )
    layout_json = [{"name": n, "bits": b} for n, b in schema.layout]
    fresh = forge([f"A-{k}" for k in range(200, 203)], _filters(3, layout, 4), layout, A)
    query = forge(["Q-1", "Q-2"], b_filters[:2], layout, A)
    world.bodies = [first, fresh, query]
    world.values.update(
        agreement_id=[agreement],
        run_id=[run["run_id"]],
        review_id=reviews or ["rev_0000000000000000"],
        name=list(AGENCIES),
        agency=list(AGENCIES),
        parties=[[A], [A, B], [COORDINATION, B]],
        record_ref=[*a_refs[:2], pending[0], b_refs[0]],
        schema_fingerprint=[schema.fingerprint],
        filter_bits=[schema.filter_bits],
        segments=[layout_json],
    )
    world.templates = {
        "POST /v1/agencies": {"name": "agency-new"},
        "POST /v1/agencies/{name}/keys": {"role": "tracer"},
        "POST /v1/agreements": {
            "name": "edge",
            "parties": [A],
            "purposes": ["linkage"],
            "schema_fingerprint": schema.fingerprint,
            "filter_bits": schema.filter_bits,
            "segments": layout_json,
            "retention_days": 30,
        },
        "POST /v1/agreements/{agreement_id}/reviews/{review_id}/decision": {"decision": "unsure"},
        "POST /v1/agreements/{agreement_id}/withdrawals": {
            "record_ref": "A-005",
            "reason": "consent",
        },
    }


def open_world(
    db_url: str,
    db_kind: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    startup_timeout: float = 180.0,
) -> FuzzWorld:
    """Issue the keys, start the server and populate it; the caller closes the world."""
    keys, victims, uploader = _issue_keys(db_url)
    schema, layout = _layout()
    ray_tmp = tempfile.mkdtemp(prefix="clfz", dir="/tmp")  # short socket paths
    log = workdir / f"server-{db_kind}.log"
    process = ServiceProcess(
        db_url, log=log, env=server_env(ray_tmp, **(env or {})), startup_timeout=startup_timeout
    )
    world = FuzzWorld(
        url="",
        db_kind=db_kind,
        keys=keys,
        bodies=[],
        layout=layout,
        log=log,
        values={"key_id": victims, "x-caselink-purpose": PURPOSES},
        notes={"uploader": uploader, "ray_tmp": ray_tmp},
    )
    process.start()
    world.process, world.url = process, process.url
    try:
        _populate(world, schema, workdir)
    except BaseException:
        world.close()
        raise
    return world
