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
from evaluation._bench_linkscale import case_scores, scale_register
from evaluation._bench_service import bootstrap_keys, mint_keys, open_agreement
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
    data, batches = scale_register(n_people, mix, seed=seed)
    with tempfile.TemporaryDirectory(prefix="caselink-service-scale-") as tmp:
        work = Path(tmp)
        paths = {b.metadata.agency: b.write(work / f"{b.metadata.agency}.parquet") for b in batches}
        url_db = f"sqlite:///{(work / 'caselink.db').resolve()}"
        minting, steward = bootstrap_keys(url_db)
        env = {
            "CASELINK_LOG_FORMAT": "text",
            "CASELINK_RUN_NUM_CPUS": str(run_cpus),
            "CASELINK_DATA_KEY_FILE": str(work / "data-keys"),
        }
        with ServiceProcess(url_db, log=work / "service.log", env=env, startup_timeout=180) as svc:
            agreement = open_agreement(
                svc.url,
                (minting, steward),
                bloom.Schema.load("person"),
                list(paths),
                "service scale",
            )
            keys = {name: mint_keys(svc.url, minting, name, "submitter", 1)[0] for name in paths}
            started = time.perf_counter()
            for name, path in paths.items():
                with Client(svc.url, keys[name], timeout=600) as c:
                    c.upload(agreement, path)
            uploaded = time.perf_counter() - started
            assert svc.process is not None
            first = keys[next(iter(paths))]
            with _PeakSampler(svc.process.pid) as peak, Client(svc.url, first) as c:
                t0 = time.perf_counter()
                run = c.wait_run(
                    agreement, c.start_run(agreement)["run_id"], timeout=7200, poll=2.0
                )
                run_seconds = time.perf_counter() - t0
            if run["status"] != "succeeded":
                raise RuntimeError(f"the run failed: {run.get('error')}")
            t0 = time.perf_counter()
            views = []
            for name, key in keys.items():
                with Client(svc.url, key, timeout=600) as c:
                    views.append(pd.DataFrame(list(c.iter_cases(agreement))).assign(agency=name))
            read_seconds = time.perf_counter() - t0
    scores = case_scores(pd.concat(views, ignore_index=True), data.truth)
    return {
        "people": n_people,
        "mix": mix,
        "records": [len(b) for b in batches],
        "upload_seconds": round(uploaded, 1),
        "run_seconds": round(run_seconds, 1),
        "run_stats": run.get("stats", {}),
        "service_tree_peak_rss_gib": round(peak.peak / 2**30, 2),
        "read_cases_seconds": round(read_seconds, 1),
        "precision": round(scores.precision, 4),
        "recall": round(scores.recall, 4),
        "f1": round(scores.f1, 4),
    }
