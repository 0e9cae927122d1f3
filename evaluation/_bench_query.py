"""Tracing-query latency: one sought person against 1,000,000 registered records.

Synthetic people (``generate_synthetic``) are registered by two agencies, each registration
corrupted on its own — 1,000,000 records, one case per person — and encoded with the shipped
``person`` schema. The agreement, agencies and keys are made through a real ``caselink serve``
(:class:`service.ServiceProcess`); the registry itself is written straight into the service's
SQLite database (linking a million records through a run is the blocking benchmark's job, not
this one's), each filter sealed under a data key made for the run, as the service would. The
service is then restarted, builds its tracing index at start-up, and answers
one-record queries over HTTP, one after another, from a client on the same machine: a third
registration of a registered person, or a person nobody registered. Latency is measured at
the client (encoded batch in, JSON answer out, the audit entry written on the way), and
in-process for the index search alone.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

import bloom
from evaluation._bench import peak_rss_gib
from evaluation._bench_service import (
    PURPOSE,
    TRACER,
    create_agreement,
    people,
    percentiles,
    query_bodies,
)
from linkage import DataKeyRing, Registry, RegistryUpdate, new_case_id
from linkage.sealing import FilterCipher

__all__ = ["bench_query_latency"]


def _fill_registry(
    url: str, scope: str, reg: dict, truth, schema: bloom.Schema, cipher: FilterCipher
) -> dict:
    """Write the registers into the registry, sealed, as one run would store them
    (:meth:`linkage.Registry.apply`): one case per person."""
    engine = sa.create_engine(url)
    persons = {a: truth.loc[a].reindex(b.record_refs).to_numpy() for a, b in reg.items()}
    everyone = np.unique(np.concatenate(list(persons.values())))
    ids: set[str] = set()
    while len(ids) < len(everyone):  # 40-bit ids: among 500,000 a repeat is likely
        ids.add(new_case_id())
    case_of = dict(zip(everyone.tolist(), sorted(ids), strict=True))
    agencies = np.concatenate([[a] * len(b) for a, b in reg.items()]).astype(object)
    update = RegistryUpdate(
        fingerprint=schema.fingerprint,
        filter_bits=schema.filter_bits,
        new_agencies=agencies,
        new_refs=np.concatenate([np.asarray(b.record_refs, str) for b in reg.values()]).astype(
            object
        ),
        new_filters=np.vstack([b.filters for b in reg.values()]),
        new_case_ids=np.array([case_of[int(p)] for a in reg for p in persons[a]], dtype=object),
        new_confidence=np.full(len(agencies), 0.99),
        changed_ids=np.zeros(0, np.int64),
        changed_case_ids=np.empty(0, object),
        changed_confidence=np.zeros(0),
        links=[],
        new_cases=[(c, 0.99) for c in case_of.values()],
        merges={},
        case_confidence={},
    )
    Registry(engine, scope, create_tables=False, codec=cipher).apply(update)
    engine.dispose()
    return case_of


def _setup(url: str, work: Path, schema, secret, sample, env: dict) -> tuple[str, str, str]:
    """Agencies, keys and the agreement through a real server; one small upload for the
    filter layout. Returns (agreement id, tracer key, agency-a's submitter key)."""
    from service import ServiceProcess
    from service._admin import bootstrap_agency, open_database
    from service.client import Client

    engine = open_database(url)
    admin = bootstrap_agency(engine, "operator", "admin").api_key
    steward = bootstrap_agency(engine, "coordination", "steward").api_key
    engine.dispose()
    with ServiceProcess(url, log=work / "setup.log", env=env) as svc, Client(svc.url, admin) as c:
        for agency in ("agency-a", "agency-b", TRACER):
            c.create_agency(agency)
        parties = ["agency-a", "agency-b", TRACER]
        agreement = create_agreement(svc.url, steward, schema, parties, "query bench")
        tracer = c.create_key(TRACER, "tracer")["api_key"]
        submitter = c.create_key("agency-a", "submitter")["api_key"]
        with Client(svc.url, submitter) as sub:
            path = work / "layout.parquet"
            bloom.encode(sample, schema, secret, agency="agency-a").write(path)
            sub.upload(agreement, path)
    return agreement, tracer, submitter


# the benchmark's server: no query rate limit in the way, a lean local Ray
SERVER_ENV = {
    "CASELINK_QUERY_RATE_PER_MINUTE": "1000000000",
    "CASELINK_QUERY_BURST": "1000",
    "CASELINK_RAY_NUM_CPUS": "1",
    "CASELINK_RAY_OBJECT_STORE_MB": "100",
}


def _first_answer(c, agreement: str, body: bytes, timeout: float = 600.0) -> None:
    """Until the service has built its index and answers (503 while it builds)."""
    from service.client import ClientError

    deadline = time.monotonic() + timeout
    while True:
        try:
            c.query(agreement, body, purpose=PURPOSE)
            return
        except ClientError as e:
            if e.status != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _vm_hwm_gib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 2**20, 2)
    except OSError:
        return None
    return None


def _over_http(url: str, work: Path, agreement: str, tracer: str, bodies, expected, keys: dict):
    from service import ServiceProcess
    from service.client import Client

    env = {**SERVER_ENV, **keys}
    started = time.perf_counter()
    with (
        ServiceProcess(url, log=work / "serve.log", env=env, startup_timeout=300) as svc,
        Client(svc.url, tracer) as c,
    ):
        _first_answer(c, agreement, bodies[0])
        ready = time.perf_counter() - started
        for body in bodies[:20]:  # warm-up: connections, compiled kernels, caches
            c.query(agreement, body, purpose=PURPOSE)
        load_before, ms, right = os.getloadavg(), [], []
        for body, want in zip(bodies, expected, strict=True):
            t = time.perf_counter()
            answer = c.query(agreement, body, purpose=PURPOSE, top_k=5)
            ms.append((time.perf_counter() - t) * 1000)
            found = answer["results"][0]["candidates"]
            right.append((found[0]["case_id"] if found else None) == want)
        load_after = os.getloadavg()
        rss = _vm_hwm_gib(svc.process.pid) if svc.process else None
    return np.array(ms), np.array(right), ready, (load_before, load_after), rss


def _in_process(
    url: str, agreement: str, filters: list[np.ndarray], cipher: FilterCipher
) -> dict[str, Any]:
    from service._db import make_engine
    from service._index import load_index
    from service._index_store import IndexStore

    engine = make_engine(url)
    t = time.perf_counter()
    index = load_index(engine, agreement, codec=cipher)
    built = time.perf_counter() - t
    store = IndexStore(engine, codec=cipher, threads=2)
    out: dict[str, Any] = {"index_load_and_fit_seconds": round(built, 1)}
    ms: dict[int, list[float]] = {1: [], 2: []}
    for k, q in enumerate(filters):  # alternate, so load and caches hit both alike
        for parts in (1, 2) if k % 2 else (2, 1):
            t = time.perf_counter()
            index.search(q, 5, 0.05, parts=parts, pool=store.pool if parts > 1 else None)
            ms[parts].append((time.perf_counter() - t) * 1000)
    out["one_thread_ms"] = percentiles(np.array(ms[1][10:]))
    out["two_threads_ms"] = percentiles(np.array(ms[2][10:]))
    out["calibration"] = {
        "floor": round(index.model.floor, 4),
        "query_prior": round(index.model.matched_share, 4),
        "registry_share": round(index.model.registry_share, 4),
        "pseudo_queries": index.model.pseudo_queries,
    }
    store.shutdown()
    engine.dispose()
    return out


def bench_query_latency(n: int = 1_000_000, n_queries: int = 400, *, seed: int = 0):
    """p50/p95/p99 of one-record tracing queries against ``n`` registered records."""
    t0 = time.perf_counter()
    r = people(n, n_queries, seed)
    schema, secret, reg, truth, queries = r.schema, r.secret, r.registered, r.truth, r.queries
    encoded = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="caselink-bench-query-") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'caselink.db'}"
        key_file = DataKeyRing.generate().write(work / "keys" / "data-keys")
        keys, cipher = {"CASELINK_DATA_KEY_FILE": str(key_file)}, FilterCipher.from_file(key_file)
        sample = queries[-1][1]._asdict()
        import pandas as pd

        agreement, tracer, _ = _setup(url, work, schema, secret, pd.DataFrame([sample]), keys)
        t1 = time.perf_counter()
        case_of = _fill_registry(url, agreement, reg, truth, schema, cipher)
        filled = time.perf_counter() - t1
        del reg, r
        bodies = query_bodies(queries, schema, secret, work)
        expected = [case_of.get(p) for p, _ in queries]
        filters = [bloom.read_batch(_tmp_write(work, b)).filters for b in bodies]
        ms, right, ready, loads, rss = _over_http(
            url, work, agreement, tracer, bodies, expected, keys
        )
        local = _in_process(url, agreement, filters, cipher)
    present = np.array([p >= 0 for p, _ in queries])
    return {
        "registered_records": n,
        "cases": len(case_of),
        "requests": len(ms),
        "query_records_per_request": 1,
        "target_p99_ms": 100,
        "http_ms": percentiles(ms),
        "index_search": local,
        "top1_right_share_registered": round(float(right[present].mean()), 4),
        "absent_answered_none_share": round(float(right[~present].mean()), 4),
        "service_ready_to_first_answer_seconds": round(ready, 1),
        "service_peak_rss_gib": rss,
        "bench_peak_rss_gib": round(peak_rss_gib(), 2),
        "load_average_during": [round(x, 2) for x in loads[0]],
        "load_average_after": [round(x, 2) for x in loads[1]],
        "generate_and_encode_seconds": round(encoded, 1),
        "registry_fill_seconds": round(filled, 1),
    }


def _tmp_write(work: Path, body: bytes) -> Path:
    path = work / "read.parquet"
    path.write_bytes(body)
    return path
