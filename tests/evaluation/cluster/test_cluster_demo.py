"""A real Ray cluster of two nodes on this machine, linking through ``caselink serve``.

``ray start --head`` and ``ray start --address`` (one CPU each, their own temp dirs and free
ports), the service joined to them by ``CASELINK_RAY_ADDRESS``, two agreements linked in a run
each: Ray's own records must show the runs' tasks on both nodes, and every agreement's cases
must be those of the same batch files linked in this process without Ray. The cluster is gone
afterwards, and only its own processes were stopped.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

from evaluation._cluster_demo import run_cluster_demo, same_cases
from evaluation._ray_cluster import _members


@pytest.fixture(autouse=True)
def _no_cluster_env(monkeypatch):
    """The service joins the demo's cluster, whatever this shell says."""
    for name in (
        "CASELINK_RAY_ADDRESS",
        "CASELINK_RAY_NUM_CPUS",
        "CASELINK_RAY_OBJECT_STORE_MB",
        "RAY_ADDRESS",
    ):
        monkeypatch.delenv(name, raising=False)


def _gone(group: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while _members(group) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _members(group)


def test_the_service_on_a_two_node_cluster_runs_tasks_on_both_and_links_as_one_process(
    tmp_path,
):
    demo = run_cluster_demo(tmp_path, people=100)

    assert [n.name for n in demo.nodes] == ["head", "worker-1"]
    assert len({n.node_id for n in demo.nodes}) == 2 and all(n.node_id for n in demo.nodes)
    # Ray's task events: each run's task finished (on whichever node SPREAD's round robin,
    # which the search tasks move on too, gave it), and the runs' candidate searches ran as
    # tasks of their own (RaySearch) on both nodes
    assert demo.run_tasks.total() == 2 and set(demo.run_tasks) <= {"head", "worker-1"}
    assert set(demo.search_tasks) == {"head", "worker-1"}
    for name, served in demo.served.items():
        here = demo.single_process[name]
        assert len(served) == len(here) > 100
        assert served["case_id"].nunique() < len(served)  # some records were linked
        assert same_cases(served, here), name
    assert demo.ok
    for node in demo.nodes:  # stopped through its own process group; temp dir removed
        assert _gone(node.group), f"{node.name}: {_members(node.group)}"
        assert not node.temp_dir.exists()
    assert (tmp_path / "ray-head.log").exists() and (tmp_path / "ray-worker-1.log").exists()


def test_run_search_tasks_runs_the_search_as_tasks_on_one_node_and_links_as_one_process(
    tmp_path,
):
    """CASELINK_RUN_SEARCH=tasks: on a one-node Ray, where ``auto`` would search inside the
    run's task, the service's runs still search in tasks of their own -- and link as one
    process does."""
    demo = run_cluster_demo(tmp_path, people=60, cpus=(2,), run_search="tasks")
    assert [n.name for n in demo.nodes] == ["head"]
    assert demo.run_tasks.total() == 2 and set(demo.search_tasks) == {"head"}
    for name, served in demo.served.items():
        assert same_cases(served, demo.single_process[name]), name
    assert demo.ok


def test_same_cases_compares_the_grouping_and_confidence_not_the_ids():
    a = pd.DataFrame(
        {
            "agency": ["x", "x", "y"],
            "record_ref": ["1", "2", "1"],
            "case_id": ["CL-A", "CL-A", "CL-B"],
            "confidence": [0.9, 0.9, 1.0],
        }
    )
    renamed = a.assign(case_id=["CL-Q", "CL-Q", "CL-R"]).iloc[::-1]
    assert same_cases(a, renamed)
    assert not same_cases(a, a.assign(case_id=["CL-A", "CL-B", "CL-B"]))
    assert not same_cases(a, a.assign(confidence=[0.9, 0.8, 1.0]))
    assert not same_cases(a, a.iloc[:2])


def test_a_local_ray_never_joins_a_cluster_that_ray_start_left_running(tmp_path):
    """``ensure_ray()`` without an address starts a Ray of its own, even where ``ray start``
    recorded a running head as the machine's current cluster (``<temp>/ray/
    ray_current_cluster``, which a bare ``ray.init()`` would join)."""
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from evaluation._ray_cluster import LocalRayCluster, _ray_env

    probe = (
        "from linkage import ensure_ray; import ray; ensure_ray(num_cpus=1); "
        "print(ray.get_runtime_context().gcs_address)"
    )
    temp = Path(tempfile.mkdtemp(prefix="clprobe", dir="/tmp"))  # short: Ray's socket paths
    try:
        with LocalRayCluster(tmp_path, cpus=(1,)) as cluster:
            (temp / "ray").mkdir()
            (temp / "ray" / "ray_current_cluster").write_text(cluster.address)
            done = subprocess.run(
                [sys.executable, "-c", probe],
                env=_ray_env() | {"RAY_TMPDIR": str(temp)},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr[-2000:]
            started = done.stdout.strip().splitlines()[-1]
            assert started and started != cluster.address
    finally:
        shutil.rmtree(temp, ignore_errors=True)
