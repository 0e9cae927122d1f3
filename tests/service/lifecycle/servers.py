"""Real servers for the lifecycle tests: databases, ``caselink serve`` subprocesses, test data.

Each server is :class:`service.ServiceProcess` (``caselink serve`` on a free loopback port)
on its own database: a SQLite file, or a fresh PostgreSQL schema dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

import bloom
from service import ServiceProcess
from tests.service.servers import Database, ray_settings


def service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASELINK_")}
    env.update(
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="disabled",
        COLUMNS="2000",
        **extra,
    )
    return env


def caselink(db_url: str, *args: str) -> subprocess.CompletedProcess:
    """The ``caselink`` command on ``db_url``: its entry function, in this process
    (``tests/cli.py``)."""
    from tests.cli import caselink as in_process

    env = service_env(CASELINK_DATABASE_URL=db_url)
    return in_process(
        *args, env={k: v for k, v in env.items() if k.startswith("CASELINK_") or k == "COLUMNS"}
    )


@contextlib.contextmanager
def running_service(
    db: Database, workdir: Path, ray_address: str, **env: str
) -> Iterator[ServiceProcess]:
    """``caselink serve`` on ``db`` until the block ends, joined to the Ray at
    ``ray_address`` (the test process's, ``ray_session``: no Ray started and stopped per
    server; Ray sockets under a short path)."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="cllife", dir="/tmp"))
    settings = service_env(RAY_TMPDIR=str(ray_tmp), **ray_settings(ray_address), **env)
    extra = {k: v for k, v in settings.items() if k.startswith(("CASELINK_", "RAY_"))}
    proc = ServiceProcess(db.url, log=workdir / "server.log", env=extra, startup_timeout=120)
    try:
        with proc:
            yield proc
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def encode_file(df: pd.DataFrame, schema, secret, agency: str, path: Path) -> Path:
    bloom.encode(df, schema, secret, agency=agency, id_column="record_ref").write(path)
    return path


def agreement_body(schema: bloom.Schema, parties: list[str], name: str, days: int) -> dict:
    return dict(
        name=name,
        parties=parties,
        purposes=["linkage", "tracing"],
        schema_fingerprint=schema.fingerprint,
        filter_bits=schema.filter_bits,
        segments=[{"name": n, "bits": b} for n, b in schema.layout],
        retention_days=days,
    )
