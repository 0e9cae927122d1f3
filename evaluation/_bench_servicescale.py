"""Linking at scale through the service: the scale section's register, uploaded to a real
``caselink serve`` and linked by its run, timed and measured from outside.

The register of :mod:`evaluation._bench_linkscale` (two agencies, ``rare`` or ``common``
names) is encoded and written as batch files; a service on a fresh SQLite database (its own
local Ray, the settings' defaults but ``CASELINK_RUN_NUM_CPUS``) takes each agency's upload
and one run; the cases each agency reads back are scored against the truth. Memory is the
resident total of the service's process tree (the service, its Ray and the run's task),
sampled every half second while the run works; its peak is what a host must hold.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

import bloom
from evaluation._bench_linkscale import _OVERLAP, _SECRET, COMMON_NAMES
from evaluation._metrics import pairwise_scores
from evaluation._synthetic import generate
from service._admin import bootstrap_agency, open_database
from service._process import ServiceProcess
from service.client import Client

__all__ = ["bench_service_scale", "tree_rss_bytes"]


def tree_rss_bytes(pid: int) -> int:
    """Resident bytes of process ``pid`` and every descendant (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text().split()
        except OSError:  # gone meanwhile
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = int(statm[1]) * page
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


class _PeakSampler:
    """The peak of :func:`tree_rss_bytes` of ``pid``, sampled every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop.wait(self.every)

    def __enter__(self) -> _PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_service_scale(
    n_people: int = 1_000_000, mix: str = "common", *, seed: int = 0, run_cpus: int = 2
) -> dict[str, Any]:
    """One register of ``n_people`` linked through the service (see the module's docstring)."""
    if mix not in ("rare", "common"):
        raise ValueError("mix must be 'rare' or 'common'")
    data = generate(n_people, 2, overlap=_OVERLAP, seed=seed,
                    common_names=COMMON_NAMES if mix == "common" else None)  # fmt: skip
    schema = bloom.Schema.load("person")
    with tempfile.TemporaryDirectory(prefix="caselink-service-scale-") as tmp:
        work = Path(tmp)
        paths = {}
        for name, df in data.agencies.items():
            batch = bloom.encode(df, schema, _SECRET, agency=name, id_column="record_ref")
            paths[name] = batch.write(work / f"{name}.parquet")
        url_db = f"sqlite:///{(work / 'caselink.db').resolve()}"
        engine = open_database(url_db)
        admin = bootstrap_agency(engine, "operator", "admin").api_key
        steward = bootstrap_agency(engine, "coordination", "steward").api_key
        engine.dispose()
        env = {"CASELINK_LOG_FORMAT": "text", "CASELINK_RUN_NUM_CPUS": str(run_cpus),
               "CASELINK_DATA_KEY_FILE": str(work / "data-keys")}  # fmt: skip
        with ServiceProcess(url_db, log=work / "service.log", env=env,
                            startup_timeout=180) as svc:  # fmt: skip
            keys = {}
            with Client(svc.url, admin) as c:
                for name in paths:
                    c.create_agency(name)
                    keys[name] = c.create_key(name, "submitter")["api_key"]
            with Client(svc.url, steward) as st:
                agreement = st.create_agreement(
                    name="service scale", parties=list(keys), purposes=["linkage"],
                    schema_fingerprint=schema.fingerprint, filter_bits=schema.filter_bits,
                    segments=schema.layout, retention_days=30,
                )["agreement_id"]  # fmt: skip
            started = time.perf_counter()
            for name, path in paths.items():
                with Client(svc.url, keys[name], timeout=600) as c:
                    c.upload(agreement, path)
            uploaded = time.perf_counter() - started
            assert svc.process is not None
            with _PeakSampler(svc.process.pid) as peak, Client(svc.url, keys["agency-a"]) as c:
                t0 = time.perf_counter()
                run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=7200,
                                 poll=2.0)  # fmt: skip
                run_seconds = time.perf_counter() - t0
            if run["status"] != "succeeded":
                raise RuntimeError(f"the run failed: {run.get('error')}")
            t0 = time.perf_counter()
            views = []
            for name, key in keys.items():
                with Client(svc.url, key, timeout=600) as c:
                    views.append(pd.DataFrame(list(c.iter_cases(agreement))).assign(agency=name))
            read_seconds = time.perf_counter() - t0
    cases = pd.concat(views, ignore_index=True)
    merged = cases.merge(data.truth, on=["agency", "record_ref"])
    scores = pairwise_scores(merged["case_id"].to_numpy(), merged["entity_id"].to_numpy())
    return {
        "people": n_people,
        "mix": mix,
        "records": [len(df) for df in data.agencies.values()],
        "upload_seconds": round(uploaded, 1),
        "run_seconds": round(run_seconds, 1),
        "run_stats": run.get("stats", {}),
        "service_tree_peak_rss_gib": round(peak.peak / 2**30, 2),
        "read_cases_seconds": round(read_seconds, 1),
        "precision": round(scores.precision, 4),
        "recall": round(scores.recall, 4),
        "f1": round(scores.f1, 4),
    }
