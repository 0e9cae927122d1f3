"""`caselink bench --only index_updates`: the tracing index kept in step in place, at 1,000,000
records, against reloading it whole.

The registry of the query benchmark (:mod:`evaluation._bench_query`: two agencies registering
the same 500,000 synthetic people, sealed, one case per person) is written into a service's
SQLite database. Then:

* **over HTTP** — a real ``caselink serve`` builds its index at start-up; agency-a withdraws
  some of its records, one after another, and each receipt is timed at the client. Right
  after each receipt the tracing team asks for that person (agency-c's registration): the
  case must no longer name agency-a.
* **in process** — the full reload (read, open, sort, fit: what every change cost before)
  is timed; then an :class:`~service._index_store.IndexStore` takes withdrawals (the
  withdrawal's transaction and the index's in-place update timed apart) and a run
  (``run_records`` new registrations joining their cases and ``merges`` pairs of cases
  merged, written by :meth:`linkage.Registry.apply` as a run writes them): the time for the
  index to hold the run (compare the registry's ids and cases, read the new records, apply)
  is set beside the reload. The index after them is compared with a reload of the database.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation._bench import peak_rss_gib
from evaluation._bench_query import SERVER_ENV, _fill_registry, _first_answer, _setup
from evaluation._bench_service import PURPOSE, people, query_bodies
from linkage import DataKeyRing
from linkage.sealing import FilterCipher

__all__ = ["bench_index_updates"]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _over_http(
    url: str,
    work: Path,
    agreement: str,
    keys: tuple[str, str],
    env: dict,
    sought: list[tuple[str, bytes, str]],
) -> dict[str, Any]:
    """Withdraw each (ref, query body, case id) over HTTP; the receipt's time, then a query."""
    from service import ServiceProcess
    from service.client import Client

    tracer, submitter = keys
    env = {**SERVER_ENV, **env}
    started = time.perf_counter()
    with (
        ServiceProcess(url, log=work / "serve.log", env=env, startup_timeout=300) as svc,
        Client(svc.url, tracer) as c,
        Client(svc.url, submitter) as sub,
    ):
        _first_answer(c, agreement, sought[0][1])
        ready = time.perf_counter() - started

        def agencies(body: bytes, case: str) -> list[str] | None:
            found = c.query(agreement, body, purpose=PURPOSE, top_k=5)["results"][0]
            return next((x["agencies"] for x in found["candidates"] if x["case_id"] == case), None)

        load, ms, held_before, gone_after = os.getloadavg(), [], [], []
        for ref, body, case in sought:
            held_before.append("agency-a" in (agencies(body, case) or []))
            t = time.perf_counter()
            sub.withdraw(agreement, ref, "consent")
            ms.append(_ms(time.perf_counter() - t))
            gone_after.append("agency-a" not in (agencies(body, case) or []))
    return {
        "withdrawals": len(ms),
        "receipt_ms_median": statistics.median(ms),
        "receipt_ms": ms,
        "found_at_agency_a_before": sum(held_before),
        "gone_at_once_after_receipt": sum(gone_after),
        "service_ready_to_first_answer_seconds": round(ready, 1),
        "load_average_during": [round(x, 2) for x in load],
    }


def _a_run(engine, agreement: str, cipher, rng, n_new: int, merges: int):
    """``n_new`` re-registrations (a few bits changed) joining their cases, and ``merges``
    cases absorbed by others — as a run stores them (:meth:`linkage.Registry.apply`)."""
    from linkage import Registry, RegistryUpdate

    registry = Registry(engine, scope=agreement, create_tables=False, codec=cipher)
    ids, _, cases = registry.record_cases()
    picks = np.sort(rng.choice(len(ids), n_new + 2 * merges, replace=False))
    chosen = [(int(ids[k]), str(cases[k])) for k in picks]
    state_ids = np.array([x[0] for x in chosen[:n_new]], np.int64)
    fingerprint, filter_bits = registry.meta()
    base = registry.index_rows(filter_bits // 64, state_ids)
    flips, rows = rng.integers(0, filter_bits, (n_new, 8)), np.arange(n_new)
    bits, filters = np.uint64(1) << (flips % 64).astype(np.uint64), base.filters.copy()
    for k in range(flips.shape[1]):  # eight bits changed per re-registration
        filters[rows, flips[:, k] // 64] ^= bits[:, k]
    pairs = [(chosen[n_new + 2 * m][1], chosen[n_new + 2 * m + 1][1]) for m in range(merges)]
    absorbed = {b: a for a, b in pairs if a != b}
    moving = np.isin(cases, list(absorbed))
    moved_ids, moved_cases = ids[moving], cases[moving]
    t = time.perf_counter()
    registry.apply(
        RegistryUpdate(
            fingerprint=fingerprint,
            filter_bits=filter_bits,
            new_agencies=np.array(["agency-b"] * n_new, object),
            new_refs=np.array([f"RUN-{k}" for k in range(n_new)], object),
            new_filters=filters,
            new_case_ids=base.case_ids,
            new_confidence=np.full(n_new, 0.9),
            changed_ids=moved_ids.astype(np.int64),
            changed_case_ids=np.array([absorbed[c] for c in moved_cases], object),
            changed_confidence=np.full(len(moved_ids), 0.9),
            links=[],
            new_cases=[],
            merges=absorbed,
            case_confidence={},
        )
    )
    return len(moved_ids), time.perf_counter() - t


def _in_process(
    url: str, agreement: str, cipher, refs: list[str], run_records: int, merges: int, seed: int
) -> dict[str, Any]:
    from service._audit import Actor
    from service._db import make_engine
    from service._index import load_index
    from service._index_store import IndexStore
    from service._withdraw import withdraw
    from service.repositories.agreements import agreement as agreement_row

    engine = make_engine(url)
    t = time.perf_counter()
    load_index(engine, agreement, codec=cipher)
    reload_s = time.perf_counter() - t
    store = IndexStore(engine, codec=cipher, process_from=None)  # built here, timed above
    try:
        store.refresh(agreement).result()
        with engine.connect() as conn:
            row = agreement_row(conn, agreement)
        transaction_ms, index_ms = [], []
        for ref in refs:
            t = time.perf_counter()
            receipt = withdraw(
                engine, row, Actor("agency-a", "submitter"), "agency-a", ref, "consent", PURPOSE
            )
            t1 = time.perf_counter()
            store.changed(agreement, receipt.registry_ids).result()
            transaction_ms.append(_ms(t1 - t))
            index_ms.append(_ms(time.perf_counter() - t1))
        moved, stored_s = _a_run(
            engine, agreement, cipher, np.random.default_rng(seed), run_records, merges
        )
        t = time.perf_counter()
        index = store.changed(agreement).result()
        run_s = time.perf_counter() - t
        t = time.perf_counter()
        fresh = load_index(engine, agreement, codec=cipher, model=index.model)
        reload_unfitted_s = time.perf_counter() - t
        same = bool(
            np.array_equal(index.record_ids, fresh.record_ids)
            and np.array_equal(
                index.case_ids[index.case_code].astype(str),
                fresh.case_ids[fresh.case_code].astype(str),
            )
            and np.array_equal(index.filters.filters, fresh.filters.filters)
        )
    finally:
        store.shutdown()
        engine.dispose()
    return {
        "full_reload_seconds": round(reload_s, 2),
        "full_reload_without_fit_seconds": round(reload_unfitted_s, 2),
        "withdrawal": {
            "count": len(refs),
            "transaction_ms_median": statistics.median(transaction_ms),
            "index_update_ms_median": statistics.median(index_ms),
            "index_update_ms": index_ms,
        },
        "run": {
            "new_records": run_records,
            "merged_cases": merges,
            "records_recased": moved,
            "stored_seconds": round(stored_s, 2),
            "index_in_place_seconds": round(run_s, 2),
            "rebuilt": index.changed_since_fit == 0,
        },
        "records_after": index.records,
        "index_equals_a_reload": same,
        "full_reload_over_run_in_place": round(reload_s / max(run_s, 1e-9), 1),
        "full_reload_over_withdrawal_update": round(
            reload_s * 1000 / max(statistics.median(index_ms), 1e-6)
        ),
    }


def bench_index_updates(
    n: int = 1_000_000,
    withdrawals: int = 9,
    run_records: int = 10_000,
    merges: int = 100,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Withdrawal receipts over HTTP and in-place runs at ``n`` records, beside a reload."""
    r = people(n, 4 * withdrawals, seed)  # agency-c holds a sample: enough of them to ask
    sought = [(p, row) for p, row in r.queries if p >= 0][:withdrawals]
    with tempfile.TemporaryDirectory(prefix="caselink-bench-index-") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'caselink.db'}"
        key_file = DataKeyRing.generate().write(work / "keys" / "data-keys")
        env, cipher = {"CASELINK_DATA_KEY_FILE": str(key_file)}, FilterCipher.from_file(key_file)
        sample = pd.DataFrame([sought[0][1]._asdict()])
        agreement, tracer, submitter = _setup(url, work, r.schema, r.secret, sample, env)
        case_of = _fill_registry(url, agreement, r.registered, r.truth, r.schema, cipher)
        ref_of = {int(p): str(ref) for ref, p in r.truth.loc["agency-a"].items()}
        bodies = query_bodies(sought, r.schema, r.secret, work)
        over_http = _over_http(
            url,
            work,
            agreement,
            (tracer, submitter),
            env,
            [(ref_of[p], body, case_of[p]) for (p, _), body in zip(sought, bodies, strict=True)],
        )
        asked = {p for p, _ in sought}
        others = [ref_of[p] for p in sorted(set(ref_of) - asked)[-withdrawals:]]
        local = _in_process(url, agreement, cipher, others, run_records, merges, seed)
    return {
        "registered_records": n,
        "database": "sqlite",
        "http": over_http,
        "in_process": local,
        "bench_peak_rss_gib": round(peak_rss_gib(), 2),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
