"""`make cluster-demo`: agencies link through ``caselink serve`` on a Ray cluster of two nodes.

On this one machine a Ray head and a second Ray node start (:class:`LocalRayCluster`: ``ray
start --head`` and ``ray start --address``, each with its own CPUs, object store, temp dir
and ports), and ``caselink serve`` joins the head through ``CASELINK_RAY_ADDRESS``. Three
agencies hold registers under two agreements; under each they upload their encoded batches
and start a linkage run. The service computes each run in a Ray task of its own
(:func:`linkage.ray_plan_link`), which Ray spreads over the nodes, and the run's task runs its
candidate search as tasks of their own (:class:`linkage.RaySearch`), spread too: Ray's own
records — the task events its GCS keeps — say on which node each task finished. Then the same batch
files are linked in this one process, without Ray, and each agreement's cases must be the
same: the same records together, with the same confidence (case ids aside: a new case draws
its id at random).

``python -m evaluation._cluster_demo [--workdir DIR] [--people N]``; exits 1 if the runs
or their searches did not use every node, or a case differs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

import bloom
import linkage
from evaluation._demo_service import AGENCIES, _encode
from evaluation._ray_cluster import LocalRayCluster, RayNode
from evaluation._synthetic import generate
from service._admin import bootstrap_agency, open_database
from service._process import ServiceProcess
from service.client import Client

__all__ = ["ClusterDemo", "run_cluster_demo", "same_cases"]

RUN_TASK = linkage.RUN_TASK_NAME  # linkage.ray_plan_link's task, by the name Ray records
SEARCH_TASKS = linkage.SEARCH_TASK_NAMES  # linkage.RaySearch's tasks
AGREEMENTS = {"north": 1, "south": 2}  # one agreement per synthetic register (its seed)


@dataclass(frozen=True)
class ClusterDemo:
    """What the demo saw: the nodes, where the runs' tasks ran, and each agreement's cases."""

    address: str  # the head's, as the service was given it
    nodes: tuple[RayNode, ...]  # the head first
    run_tasks: Counter[str]  # node name -> run tasks Ray recorded as finished there
    search_tasks: Counter[str]  # node name -> the runs' candidate-search tasks finished there
    served: dict[str, pd.DataFrame]  # agreement -> agency, record_ref, case_id, confidence
    single_process: dict[str, pd.DataFrame]  # the same batches linked in this process
    seconds: float

    def same(self, agreement: str) -> bool:
        return same_cases(self.served[agreement], self.single_process[agreement])

    @property
    def ok(self) -> bool:
        every_run = self.run_tasks.total() == len(self.served)
        everywhere = set(self.search_tasks) == {n.name for n in self.nodes}
        return every_run and everywhere and all(self.same(a) for a in self.served)


def _canonical(cases: pd.DataFrame) -> pd.DataFrame:
    """Rows by record; the case as the order of its first record (ids are drawn at random)."""
    rows = cases.astype({"agency": str, "record_ref": str}).sort_values(
        ["agency", "record_ref"], ignore_index=True
    )
    return rows.assign(case=pd.factorize(rows["case_id"])[0])


def same_cases(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """The same records, grouped into the same cases, with the same confidence (to the six
    decimals the service answers with); the case ids themselves may differ."""
    x, y = _canonical(a), _canonical(b)
    cols = ["agency", "record_ref", "case"]
    if len(x) != len(y) or not x[cols].equals(y[cols]):
        return False
    return bool(np.allclose(x["confidence"], y["confidence"], rtol=0, atol=1e-6))


def _agency_keys(url: str, admin_key: str) -> dict[str, str]:
    keys = {}
    with Client(url, admin_key) as admin:
        for agency in AGENCIES.values():
            admin.create_agency(agency)
            keys[agency] = admin.create_key(agency, "submitter")["api_key"]
    return keys


def _served(
    url: str, keys: dict[str, str], steward: str, name: str, paths: dict[str, Path]
) -> pd.DataFrame:
    """One agreement: each agency uploads its batch, one starts the run; what each reads back."""
    schema = bloom.Schema.load("person")
    with Client(url, steward) as st:
        agreement = st.create_agreement(
            name=f"cluster demo: {name}",
            parties=list(keys),
            purposes=["linkage"],
            schema_fingerprint=schema.fingerprint,
            filter_bits=schema.filter_bits,
            segments=schema.layout,
            retention_days=30,
        )["agreement_id"]
    for agency, path in paths.items():  # in this order: the order the run links them
        with Client(url, keys[agency]) as c:
            c.upload(agreement, path)
    with Client(url, keys["unhcr"]) as c:
        run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=300, poll=0.5)
    if run["status"] != "succeeded":
        raise RuntimeError(f"the run of {name} failed: {run['error']}")
    views = []
    for agency, key in keys.items():
        with Client(url, key) as c:
            views.append(pd.DataFrame(list(c.iter_cases(agreement))).assign(agency=agency))
    return pd.concat(views, ignore_index=True)[["agency", "record_ref", "case_id", "confidence"]]


def _through_service(
    work: Path, address: str, batches: dict[str, dict[str, Path]], run_search: str | None = None
) -> dict[str, pd.DataFrame]:
    """Every agreement linked by ``caselink serve`` joined to the cluster at ``address``
    (``run_search``: its ``CASELINK_RUN_SEARCH``, default the service's own)."""
    url_db = f"sqlite:///{(work / 'caselink.db').resolve()}"
    engine = open_database(url_db)
    admin = bootstrap_agency(engine, "operator", "admin").api_key
    steward = bootstrap_agency(engine, "coordination", "steward").api_key
    engine.dispose()
    env = {
        "CASELINK_RAY_ADDRESS": address,
        "CASELINK_LOG_FORMAT": "text",
        "CASELINK_DATA_KEY_FILE": str(work / "data-keys"),
        # more CPUs than any node has: a run takes the largest node's (it would wait for
        # ever asking for the cluster's total, which no one node holds)
        "CASELINK_RUN_NUM_CPUS": "64",
    }
    if run_search is not None:
        env["CASELINK_RUN_SEARCH"] = run_search
    svc = ServiceProcess(url_db, log=work / "service.log", env=env, startup_timeout=180)
    with svc:
        keys = _agency_keys(svc.url, admin)
        return {
            name: _served(svc.url, keys, steward, name, paths) for name, paths in batches.items()
        }


def _encode_all(work: Path, people: int) -> dict[str, dict[str, Path]]:
    """Each agreement's batch files, one per agency, each with its agreement's own secret."""
    schema, batches = bloom.Schema.load("person"), {}
    for name, seed in AGREEMENTS.items():
        (work / name).mkdir(parents=True, exist_ok=True)
        data = generate(people, len(AGENCIES), seed=seed)
        batches[name] = _encode(data, work / name, bloom.Secret.generate(), schema)
    return batches


def _in_one_process(paths: dict[str, Path]) -> pd.DataFrame:
    report = linkage.link([bloom.read_batch(p) for p in paths.values()])
    return report.assignments[["agency", "record_ref", "case_id", "confidence"]]


def run_cluster_demo(
    workdir: Path,
    people: int = 150,
    cpus: tuple[int, ...] = (1, 1),
    object_store_mb: int = 100,
    run_search: str | None = None,
) -> ClusterDemo:
    """Start the cluster, link every agreement through the service on it, read where the run
    tasks ran, stop the cluster; then link the same batches in this process. ``run_search``:
    the service's ``CASELINK_RUN_SEARCH`` (default: its own, ``auto``)."""
    started = time.perf_counter()
    work = workdir.resolve()
    (work / "service").mkdir(parents=True, exist_ok=True)
    batches = _encode_all(work, people)
    with LocalRayCluster(work, cpus, object_store_mb) as cluster:
        served = _through_service(work / "service", cluster.address, batches, run_search)
        ran = cluster.wait_for_tasks(RUN_TASK, len(served))
        searched = cluster.wait_for_every_node(SEARCH_TASKS)
        address, nodes = cluster.address, tuple(cluster.nodes)
    here = {name: _in_one_process(paths) for name, paths in batches.items()}
    seconds = time.perf_counter() - started
    return ClusterDemo(address, nodes, ran, searched, served, here, seconds)


def show(demo: ClusterDemo, console: Console) -> None:
    title = f"the Ray cluster at {demo.address}; where runs ran, by Ray's task events"
    nodes = Table(
        "node",
        "CPUs",
        "Ray node id",
        "run tasks finished there",
        "search tasks finished there",
        title=title,
    )
    nodes.columns[2].overflow = "fold"
    for node in demo.nodes:
        nodes.add_row(
            node.name,
            str(node.cpus),
            node.node_id,
            str(demo.run_tasks.get(node.name, 0)),
            str(demo.search_tasks.get(node.name, 0)),
        )
    console.print(nodes)
    runs = Table(
        "agreement",
        "records",
        "cases",
        "same cases as one process without Ray",
        title="linked through caselink serve on the cluster",
    )
    for name, cases in demo.served.items():
        runs.add_row(
            name,
            f"{len(cases):,}",
            f"{cases['case_id'].nunique():,}",
            "yes" if demo.same(name) else "NO",
        )
    console.print(runs)
    verdict = (
        "ok"
        if demo.ok
        else "FAILED: a run's task is missing, not every node ran search tasks, or a case differs"
    )
    console.print(f"cluster demo {verdict} in {demo.seconds:.0f} s; the cluster is stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation._cluster_demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--workdir", type=Path, help="where files go (default: a temp dir)")
    parser.add_argument("--people", type=int, default=150, help="people per register")
    args = parser.parse_args(argv)
    console = Console(soft_wrap=True)
    with tempfile.TemporaryDirectory(prefix="caselink-cluster-") as tmp:
        workdir = args.workdir or Path(tmp)
        with console.status("starting a Ray head and a worker node, then caselink serve"):
            demo = run_cluster_demo(workdir, people=args.people)
        show(demo, console)
    return 0 if demo.ok else 1


if __name__ == "__main__":
    sys.exit(main())
