"""Tracing queries under load: many tracers, each with its own key, alone and while a run links.

A real ``caselink serve`` (:class:`service.ServiceProcess`, SQLite) gets ``n`` synthetic
records the way agencies give them: two encoded registers uploaded and linked by runs of
:data:`REGISTRATION_CHUNK` records. Then ``clients`` tracing clients — each a tracing agency of
its own with its own ``tracer`` key, so its own rate-limit bucket whether the limit belongs to
the key or to the agency — send one-record queries over loopback for ``seconds`` (phase 1,
``queries_alone``), and again while a third agency uploads a new batch of ``batch`` records
and a run links it (phase 2, ``during_upload_and_run``, which lasts at least until the run
has finished).

Clients are paced at ``per_client_per_second`` (default: the service's default allowance, 60
query records a minute) and the service keeps its default rate limit: the figures are the
latency that tracers using their whole allowance would see, and any request beyond it is a
429, counted apart. ``per_client_per_second=None`` sends back to back instead, with the limit
raised so that it measures throughput, not the limiter.

Per phase: requests, answers by status, p50/p95/p99 of answered requests (measured at the
client), and the load average before and after; in phase 2 also the upload's and the run's
durations and the latency within each stage of the run.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import bloom
from evaluation._bench_load_traffic import (
    Phase,
    Tracer,
    Watch,
    by_stage,
    figures,
    loads,
    traffic,
    while_running,
)
from evaluation._bench_service import (
    TRACER,
    Registers,
    bootstrap_keys,
    mint_keys,
    open_agreement,
    people,
    query_bodies,
)

__all__ = ["bench_load", "bench_load_postgresql"]

GOAL_P99_MS = 500.0  # while a run is going (issue 11)
RUN_TIMEOUT = 1800.0  # longest wait for a run, seconds
BODIES_PER_CLIENT = 8  # distinct queries each client cycles through
REGISTRATION_CHUNK = 25_000  # records per registration run
_WHY_CHUNKS = (
    "each run's candidate search stays within blocking's exhaustive limit "
    "(2e9 comparisons, on Ray), and its registry commit short; one run of 50,000 x "
    "50,000 planned LSH at the auto floor (Dice 0.51): 618M candidates, 861 s and "
    "18 GB in the service"
)


def _write(batch: bloom.EncodedBatch, path: Path) -> Path:
    batch.write(path)
    return path


def _follow(c, agreement: str, run_id: str, watch: Watch) -> dict[str, Any]:
    """Poll the run to its end, marking its stages; a 5xx answer to a poll is counted."""
    from service.client import ClientError

    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            run = c.run(agreement, run_id)
        except ClientError as e:
            if e.status < 500:
                raise
            watch.poll_errors[str(e.status)] = watch.poll_errors.get(str(e.status), 0) + 1
            continue
        watch.mark(run["stage"])
        if run["status"] in ("succeeded", "failed"):
            return run
        time.sleep(0.2)
    raise TimeoutError(f"a bench run has not finished after {RUN_TIMEOUT:.0f} s")


def _link(url: str, uploads: list[tuple[str, Path]], agreement: str, watch: Watch) -> None:
    """Each (submitter key, batch) uploaded, then one run (started by the last uploader)
    linking them all; the stages are marked in ``watch``."""
    from service.client import Client

    t = time.perf_counter()
    watch.mark("upload")
    for key, path in uploads:
        with Client(url, key, timeout=RUN_TIMEOUT) as c:
            c.upload(agreement, path)
    watch.upload = (t, time.perf_counter())
    with Client(url, uploads[-1][0], timeout=RUN_TIMEOUT) as c:
        t = time.perf_counter()
        run = _follow(c, agreement, c.start_run(agreement)["run_id"], watch)
    watch.run = (t, time.perf_counter())
    watch.mark("after the run")
    watch.outcome = {
        "status": run["status"],
        "stats": run.get("stats"),
        "error": run.get("error"),
        "poll_errors": watch.poll_errors,
    }
    watch.done.set()
    if run["status"] != "succeeded":
        raise RuntimeError(f"a bench run failed: {run.get('error')}")


def _seconds(span: tuple[float, float] | None) -> float | None:
    return round(span[1] - span[0], 2) if span else None


def _limits(per_client: float | None) -> tuple[dict[str, str], dict[str, Any]]:
    """The service's environment, and the rate-limit choice as the results record it."""
    from service._settings import Settings

    rate = Settings.model_fields["query_rate_per_minute"].default
    burst = Settings.model_fields["query_burst"].default
    choice = (
        f"the service's default limit; each client paced at {per_client} queries/s "
        "(one record each): the latency of tracers using their allowance"
    )
    if per_client is None:
        rate, burst = 1e9, 1000
        choice = "raised: clients send back to back, so the figures are throughput, not the limit"
    env = {
        "CASELINK_QUERY_RATE_PER_MINUTE": str(rate),
        "CASELINK_QUERY_BURST": str(burst),
        "CASELINK_RAY_OBJECT_STORE_MB": "200",
    }
    return env, {
        "per_minute": rate,
        "burst": burst,
        "client_pace_per_second": per_client,
        "choice": choice,
    }


def _batches(regs: Registers, work: Path, batch: int) -> list[tuple[str, Path]]:
    """(agency, Parquet file) in upload order: agency-a's and agency-b's registers in chunks of
    :data:`REGISTRATION_CHUNK`, and last agency-c's new batch of ``batch`` records."""
    out = []
    for agency, b in regs.registered.items():
        for k, lo in enumerate(range(0, len(b), REGISTRATION_CHUNK)):
            part = slice(lo, lo + REGISTRATION_CHUNK)
            chunk = bloom.EncodedBatch(b.record_refs[part], b.filters[part], b.metadata)
            out.append((agency, _write(chunk, work / f"{agency}-{k}.parquet")))
    third = bloom.encode(
        regs.third.head(batch), regs.schema, regs.secret, agency="agency-c", id_column="record_ref"
    )
    return [*out, ("agency-c", _write(third, work / "agency-c.parquet"))]


def _register(
    url: str, subs: dict[str, str], agreement: str, files: list[tuple[str, Path]]
) -> dict[str, Any]:
    """Each file uploaded by its agency and linked by a run of its own."""
    runs = []
    for agency, path in files:
        watch = Watch()
        _link(url, [(subs[agency], path)], agreement, watch)
        runs.append(
            {
                "agency": agency,
                "records": _records(path),
                "upload_seconds": _seconds(watch.upload),
                "run_seconds": _seconds(watch.run),
            }
        )
    return {"runs": runs, "chunk": REGISTRATION_CHUNK, "why_chunks": _WHY_CHUNKS}


@dataclass(frozen=True)
class _Load:
    """Who queries and how: the tracers, and their pace."""

    url: str
    pid: int  # the service's process
    agreement: str
    tracers: list[Tracer]
    interval: float  # seconds between one client's queries; 0 = back to back
    seconds: float

    def run(
        self,
        going: Callable[[float], bool],
        side: Callable[[], None] | None = None,
        bound: int | None = None,
    ) -> Phase:
        pace = 1 / self.interval if self.interval else 1000.0
        bound = bound or int((self.seconds + RUN_TIMEOUT) * pace) + 1
        main = traffic(self.url, self.agreement, self.tracers, self.interval, going, bound, side)
        try:
            import uvloop  # the service's event loop too: the client's share of CPU is less
        except ImportError:
            return asyncio.run(main)
        return uvloop.run(main)


def _cpu_seconds(pid: int) -> float | None:
    """CPU time the process has used so far (Linux; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _phase_figures(
    load: _Load, reqs: Phase, start: float, before: list[float], cpu: float | None
) -> dict[str, Any]:
    out = figures(reqs, time.perf_counter() - start, before)
    after = _cpu_seconds(load.pid)
    used = round(after - cpu, 1) if cpu is not None and after is not None else None
    out["service_cpu_seconds"] = used
    out["service_cpu_ms_per_answer"] = (
        round(1000 * used / out["answered"], 1) if (used is not None and out["answered"]) else None
    )
    return out


def _alone(load: _Load) -> dict[str, Any]:
    before, cpu, start = loads(), _cpu_seconds(load.pid), time.perf_counter()
    reqs = load.run(lambda t: t < start + load.seconds)
    return _phase_figures(load, reqs, start, before, cpu)


def _with_run(load: _Load, submitter: str, path: Path, records: int) -> dict[str, Any]:
    watch, lead = Watch(), min(5.0, load.seconds / 6)

    def side() -> None:
        time.sleep(lead)  # a few seconds of queries alone first, as a baseline
        try:
            _link(load.url, [(submitter, path)], load.agreement, watch)
        finally:
            watch.done.set()

    def going(t: float) -> bool:
        return (t < start + load.seconds or not watch.done.is_set()) and (
            t < start + load.seconds + RUN_TIMEOUT
        )

    before, cpu, start = loads(), _cpu_seconds(load.pid), time.perf_counter()
    reqs = load.run(going, side)
    out = _phase_figures(load, reqs, start, before, cpu)
    out["upload"] = {"records": records, "seconds": _seconds(watch.upload)}
    out["run"] = {"seconds": _seconds(watch.run), **watch.outcome}
    out["latency_ms_while_running"] = while_running(reqs, watch)
    out["latency_ms_by_stage"] = by_stage(reqs, watch)
    return out


def _tracers(
    url: str, minting_key: str, bodies: list[bytes], clients: int, work: Path
) -> list[Tracer]:
    """One tracing agency per client with a tracer key of its own, and its query bodies:
    :data:`BODIES_PER_CLIENT` of the queries, re-labelled for its agency."""
    out = []
    for i, agency in enumerate(_tracing_agencies(clients)):
        (key,) = mint_keys(url, minting_key, agency, "tracer", 1)
        picked = [
            bodies[(i * BODIES_PER_CLIENT + k) % len(bodies)] for k in range(BODIES_PER_CLIENT)
        ]
        out.append(Tracer(key, [_relabel(b, agency, work) for b in picked]))
    return out


def _tracing_agencies(clients: int) -> list[str]:
    return [f"{TRACER}-{i:02d}" for i in range(clients)]


def _relabel(body: bytes, agency: str, work: Path) -> bytes:
    """The same encoded query as sent by ``agency`` (the service checks the sender)."""
    path = work / "relabel.parquet"
    path.write_bytes(body)
    batch = bloom.read_batch(path)
    meta = replace(batch.metadata, agency=agency)
    return bloom.EncodedBatch(batch.record_refs, batch.filters, meta).write(path).read_bytes()


def _measure(
    svc,
    keys: tuple[str, str],
    regs: Registers,
    files: list[tuple[str, Path]],
    bodies: list[bytes],
    clients: int,
    seconds: float,
    per_client: float | None,
    on_phase: Callable[[str, Any], None],
) -> dict[str, Any]:
    parties = ["agency-a", "agency-b", "agency-c"]
    agreement = open_agreement(
        svc.url, keys, regs.schema, [*parties, *_tracing_agencies(clients)], "load bench"
    )
    subs = {a: mint_keys(svc.url, keys[0], a, "submitter", 1)[0] for a in parties}
    tracers = _tracers(svc.url, keys[0], bodies, clients, files[0][1].parent)
    registration = _register(svc.url, subs, agreement, files[:-1])
    interval = 1 / per_client if per_client else 0.0
    load = _Load(svc.url, svc.process.pid, agreement, tracers, interval, seconds)
    load.run(lambda t: True, bound=1)  # warm-up: one query per client
    on_phase("queries_alone", svc)
    alone = _alone(load)
    on_phase("during_upload_and_run", svc)
    (agency, path) = files[-1]
    during = _with_run(load, subs[agency], path, _records(path))
    on_phase("finished", svc)
    return {"registration": registration, "queries_alone": alone, "during_upload_and_run": during}


def _records(path: Path) -> int:
    return len(bloom.read_batch(path))


def bench_load(
    n: int = 100_000,
    clients: int = 50,
    seconds: float = 60.0,
    *,
    batch: int = 20_000,
    n_queries: int = 200,
    per_client_per_second: float | None = 1.0,
    seed: int = 0,
    on_phase: Callable[[str, Any], None] | None = None,
    work_dir: Path | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Tracing latency of ``clients`` tracers against ``n`` records, alone and during a run.

    ``on_phase(name, service)`` is called as each phase starts and before the service stops
    (e.g. to attach a profiler); ``work_dir`` keeps the database and the service's log;
    ``database_url`` an empty database for the service (default: SQLite in the work dir)."""
    from service import ServiceProcess

    t0 = time.perf_counter()
    regs = people(n, n_queries, seed, third=batch)
    env, limit = _limits(per_client_per_second)
    with tempfile.TemporaryDirectory(prefix="caselink-bench-load-") as tmp:
        work = Path(work_dir or tmp)
        url = database_url or f"sqlite:///{work / 'caselink.db'}"
        files = _batches(regs, work, batch)
        bodies = query_bodies(regs.queries, regs.schema, regs.secret, work)
        encoded = time.perf_counter() - t0
        keys = bootstrap_keys(url)
        own = {**env, "CASELINK_DATA_KEY_FILE": str(work / "data-keys")}  # not the user's
        with ServiceProcess(url, log=work / "serve.log", env=own, startup_timeout=300) as svc:
            figures = _measure(
                svc,
                keys,
                regs,
                files,
                bodies,
                clients,
                seconds,
                per_client_per_second,
                on_phase or (lambda *_: None),
            )
    during = figures["during_upload_and_run"]
    p99 = (during["latency_ms_while_running"] or {}).get("p99")
    errors = figures["queries_alone"]["errors_other_than_429"] + during["errors_other_than_429"]
    return {
        "registered_records": sum(len(b) for b in regs.registered.values()),
        "clients": clients,
        "keys": clients,
        "tracing_agencies": clients,
        "phase_seconds": seconds,
        "query_records_per_request": 1,
        "distinct_queries": len(bodies),
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "rate_limit": limit,
        "service_env": env,
        "cores": os.cpu_count(),
        "goals": {
            "errors_other_than_429": 0,
            "p99_ms_while_running": GOAL_P99_MS,
            "met": errors == 0 and p99 is not None and p99 <= GOAL_P99_MS,
        },
        "generate_and_encode_seconds": round(encoded, 1),
        **figures,
    }


POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def bench_load_postgresql(**kw: Any) -> dict[str, Any]:
    """:func:`bench_load` with the service on PostgreSQL: a database of its own, made on the
    server of ``CASELINK_BENCH_POSTGRES_URL`` (default :data:`POSTGRES_ADMIN_URL`, a role that
    may create databases) and dropped afterwards; its name is in the figures
    (``scratch_database``)."""
    import secrets

    import sqlalchemy as sa

    admin = sa.engine.make_url(os.environ.get("CASELINK_BENCH_POSTGRES_URL", POSTGRES_ADMIN_URL))
    name = f"caselink_bench_load_{secrets.token_hex(4)}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = admin.set(database=name).render_as_string(hide_password=False)
            return {**bench_load(database_url=url, **kw), "scratch_database": name}
        finally:
            with engine.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()
