"""What the service benchmarks share: synthetic registers and queries, and an agreement set up
through a real service.

Two agencies (``agency-a``, ``agency-b``) each register every one of ``n / 2`` synthetic people,
each registration corrupted on its own; a third (``agency-c``) holds a sample of the same
people — the sought people of the tracing queries, and the new batch of the load benchmark.
Everything is encoded with the shipped ``person`` schema under a fixed secret.

:func:`open_agreement` makes agencies and an agreement through the REST API of a running
service, with a key bootstrapped on its database; :data:`MINTING_ROLE` is the one role that
creates agencies and mints their keys there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bloom
from evaluation._synthetic import generate

__all__ = [
    "MINTING_ROLE",
    "PURPOSE",
    "TRACER",
    "Registers",
    "bootstrap_keys",
    "mint_keys",
    "open_agreement",
    "people",
    "percentiles",
    "query_bodies",
]

MINTING_ROLE = "admin"  # the role that creates agencies and mints keys for them
AGREEMENT_ROLE = "steward"  # the role that sets up data-sharing agreements
COORDINATION = "coordination"
PURPOSE = "tracing"
TRACER = "tracing-team"


def percentiles(ms: np.ndarray) -> dict[str, float]:
    """p50, p95, p99, max and mean of latencies in milliseconds."""
    q = np.percentile(ms, [50, 95, 99])
    return {
        "p50": round(float(q[0]), 2),
        "p95": round(float(q[1]), 2),
        "p99": round(float(q[2]), 2),
        "max": round(float(ms.max()), 2),
        "mean": round(float(ms.mean()), 2),
    }


@dataclass(frozen=True)
class Registers:
    """Encoded registers of agency-a and agency-b, the truth, the queries and agency-c."""

    schema: bloom.Schema
    secret: bloom.Secret
    registered: dict[str, bloom.EncodedBatch]
    truth: pd.Series  # entity id by (agency, record_ref)
    queries: list[tuple[int, Any]]  # (entity id or -1 for nobody registered, row)
    third: pd.DataFrame  # agency-c's register (plaintext, encode it to upload)


def people(n: int, n_queries: int, seed: int, *, third: int = 0) -> Registers:
    """Two registers of n/2 people each (every person in both); agency-c holds about
    ``max(n_queries, third)`` of them; queries are agency-c's first ``n_queries`` records and
    ``n_queries / 4`` people nobody registered."""
    persons = n // 2
    share = min(1.0, max(n_queries, third) / persons)
    data = generate(persons, 3, overlap=[1.0, 1.0, share], seed=seed)
    absent = generate(max(1, n_queries // 4), 1, seed=seed + 1).agencies["agency-a"]
    schema, secret = bloom.Schema.load("person"), bloom.Secret(bytes(range(32)))
    reg = {
        a: bloom.encode(data.agencies[a], schema, secret, agency=a, id_column="record_ref")
        for a in ("agency-a", "agency-b")
    }
    truth = data.truth.set_index(["agency", "record_ref"])["entity_id"]
    sought = data.agencies["agency-c"].head(n_queries)
    queries = [
        (int(truth[("agency-c", r)]), row)
        for r, row in zip(sought["record_ref"], sought.itertuples(index=False), strict=True)
    ]
    queries += [(-1, row) for row in absent.itertuples(index=False)]
    return Registers(schema, secret, reg, truth, queries, data.agencies["agency-c"])


def query_bodies(queries, schema: bloom.Schema, secret: bloom.Secret, work: Path) -> list[bytes]:
    """Each query row as the one-record encoded batch a tracer sends."""
    out = []
    for k, (_, row) in enumerate(queries):
        df = pd.DataFrame([row._asdict()]).assign(record_ref=f"Q-{k}")
        path = work / "q.parquet"
        bloom.encode(df, schema, secret, agency=TRACER, id_column="record_ref").write(path)
        out.append(path.read_bytes())
    return out


def bootstrap_keys(url: str) -> tuple[str, str]:
    """Keys for the coordination agency, straight on the database: (minting, agreements)."""
    from service._admin import bootstrap_agency, open_database

    engine = open_database(url)
    try:
        minting = bootstrap_agency(engine, COORDINATION, MINTING_ROLE).api_key
        steward = (
            minting
            if AGREEMENT_ROLE == MINTING_ROLE
            else bootstrap_agency(engine, COORDINATION, AGREEMENT_ROLE).api_key
        )
    finally:
        engine.dispose()
    return minting, steward


def open_agreement(
    service_url: str, keys: tuple[str, str], schema: bloom.Schema, parties: list[str], name: str
) -> str:
    """Create the parties and an agreement for linkage and tracing; returns its id."""
    from service.client import Client

    minting, steward = keys
    with Client(service_url, minting) as c:
        for agency in parties:
            c.create_agency(agency)
    return create_agreement(service_url, steward, schema, parties, name)


def create_agreement(
    service_url: str, steward: str, schema: bloom.Schema, parties: list[str], name: str
) -> str:
    """An agreement of ``parties`` (agencies already made) for linkage and tracing under
    ``schema``, made with the ``steward`` key; returns its id."""
    from service.client import Client

    with Client(service_url, steward) as c:
        return c.create_agreement(
            name=name,
            parties=parties,
            purposes=["linkage", PURPOSE],
            schema_fingerprint=schema.fingerprint,
            filter_bits=schema.filter_bits,
            segments=schema.layout,
            retention_days=365,
        )["agreement_id"]


def mint_keys(service_url: str, minting_key: str, agency: str, role: str, n: int) -> list[str]:
    """``n`` keys of ``role`` for ``agency``, each its own (own rate-limit bucket)."""
    from service.client import Client

    with Client(service_url, minting_key) as c:
        return [c.create_key(agency, role)["api_key"] for _ in range(n)]
