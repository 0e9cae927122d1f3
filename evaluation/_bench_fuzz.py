"""`caselink bench --only fuzz`: the suite's schemathesis run, with a far larger budget.

The same world and checks as ``tests/service/fuzz`` (:mod:`evaluation._fuzz`): one server per
database — a SQLite file, and a fresh schema on the PostgreSQL at
``CASELINK_BENCH_POSTGRES_URL`` (default: the local test database; skipped, with the reason,
where none answers) — fuzzed as every role and with no key, ``examples`` generated cases per
operation plus the edge cases, drawn once and sent as each role. The figures are counts, not
a verdict: requests, statuses, requests that failed a check, and each distinct failure with
its reproduction. The seed is drawn anew each time and recorded, so a finding can be
replayed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from evaluation._fuzz import Tally, build_corpus, fuzz_role, load_schema
from evaluation._fuzz_world import open_world

__all__ = ["bench_fuzz"]

EXAMPLES = 50
POSTGRES_URL = os.environ.get(
    "CASELINK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHOWN_FAILURES = 100


@contextlib.contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema on ``url`` (dropped afterwards); the URL that selects it."""
    admin = sa.create_engine(url)
    name = "caselink_fuzz_" + secrets.token_hex(6)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{name}"
    finally:
        with contextlib.suppress(sa.exc.SQLAlchemyError), admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


def _fuzz_backend(kind: str, url: str, work: Path, examples: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    world = open_world(url, kind, work)
    ready = time.perf_counter() - started
    roles: dict[str, Any] = {}
    total = Tally()
    try:
        corpus = build_corpus(world, load_schema(world.url), examples, seed)
        drawn = time.perf_counter() - started - ready
        for role in world.roles:
            t0 = time.perf_counter()
            tally = fuzz_role(world, role, corpus)
            total.add(tally)
            figures = tally.as_dict()
            figures.pop("failures")
            roles[role] = {**figures, "seconds": round(time.perf_counter() - t0, 1)}
    finally:
        world.close()
    figures = total.as_dict()
    figures["failures"] = figures["failures"][:SHOWN_FAILURES]
    return {
        **figures,
        "roles": roles,
        "server_ready_seconds": round(ready, 1),
        "corpus_cases": len(corpus),
        "corpus_draw_seconds": round(drawn, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def bench_fuzz(examples: int = EXAMPLES, seed: int | None = None) -> dict[str, Any]:
    """Schemathesis as every role on SQLite and PostgreSQL; counts and distinct failures."""
    seed = secrets.randbits(32) if seed is None else seed
    out: dict[str, Any] = {"examples_per_operation_and_role": examples, "seed": seed}
    with tempfile.TemporaryDirectory(prefix="caselink-bench-fuzz-") as tmp:
        work = Path(tmp)
        (work / "sqlite").mkdir()
        out["sqlite"] = _fuzz_backend(
            "sqlite",
            f"sqlite:///{work / 'sqlite' / 'caselink.db'}",
            work / "sqlite",
            examples,
            seed,
        )
        try:
            with _postgres_schema(POSTGRES_URL) as url:
                (work / "postgresql").mkdir()
                out["postgresql"] = _fuzz_backend(
                    "postgresql", url, work / "postgresql", examples, seed
                )
        except sa.exc.OperationalError as e:
            out["postgresql"] = {"skipped": f"PostgreSQL is not reachable: {type(e).__name__}"}
    backends = [b for b in ("sqlite", "postgresql") if "requests" in out[b]]
    out["requests"] = sum(out[b]["requests"] for b in backends)
    out["distinct_failures"] = sum(out[b]["distinct_failures"] for b in backends)
    return out
