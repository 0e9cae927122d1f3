"""`caselink bench --only registry_writes`: how long a run's case writes hold SQLite's write lock.

A run writes its new cases and their confidences inside its one transaction, while every
other writer of the service waits. The registry writes each kind as one ``executemany``
(:meth:`linkage.Registry.apply`, through ``linkage.insert_rows``/``update_rows``); the
reference writes one statement per case, as it did before.
Both run on the service's own engine (WAL, ``BEGIN IMMEDIATE``) over a fresh SQLite file.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

__all__ = ["bench_registry_writes"]


def _write(url: str, n: int, one_by_one: bool) -> float:
    from linkage import insert_rows, update_rows
    from service._db import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    rows = [(f"C{i}", "s", i, 0.5) for i in range(n)]
    insert = sa.text(
        "INSERT INTO registry_cases (case_id, scope, seq, confidence) VALUES (:c, :s, :q, :f)"
    )
    update = sa.text("UPDATE registry_cases SET confidence = :f WHERE case_id = :c")
    t0 = time.perf_counter()
    with engine.begin() as conn:
        if one_by_one:
            for c, s, q, f in rows:
                conn.execute(insert, {"c": c, "s": s, "q": q, "f": f})
            for c, *_ in rows:
                conn.execute(update, {"c": c, "f": 0.7})
        else:  # as the registry writes them
            insert_rows(conn, "registry_cases", ("case_id", "scope", "seq", "confidence"), rows)
            update_rows(
                conn, "registry_cases", ("confidence",), "case_id", [(0.7, r[0]) for r in rows]
            )
    seconds = time.perf_counter() - t0
    engine.dispose()
    return seconds


def bench_registry_writes(n: int = 20_000, repeats: int = 3) -> dict[str, Any]:
    """Median seconds to write ``n`` new cases and update their confidence, both ways."""
    out: dict[str, Any] = {"cases": n, "repeats": repeats, "database": "sqlite"}
    medians: dict[str, float] = {}
    for name, one_by_one in (("executemany", False), ("one_statement_per_case", True)):
        with tempfile.TemporaryDirectory(prefix="caselink-bench-registry-") as tmp:
            runs = [
                _write(f"sqlite:///{Path(tmp) / f'r{k}.db'}", n, one_by_one) for k in range(repeats)
            ]
        medians[name] = statistics.median(runs)
        out[name] = {
            "median_seconds": round(medians[name], 3),
            "runs": [round(x, 3) for x in runs],
        }
    # from the unrounded medians: a small n's times round to 0.000
    out["ratio"] = round(medians["one_statement_per_case"] / medians["executemany"], 2)
    return out
