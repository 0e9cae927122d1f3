"""The Ray executor returns exactly what the single-process path returns."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import linkage
import linkage._ray
from linkage import _ray


def assert_same(got: linkage.CandidatePairs, want: linkage.CandidatePairs) -> None:
    np.testing.assert_array_equal(got.i, want.i)
    np.testing.assert_array_equal(got.j, want.j)
    np.testing.assert_array_equal(got.score, want.score)


@pytest.mark.parametrize("k", [None, 2])
def test_ray_matches_single_process(ray_session, make_filters, k):
    a, b = make_filters(31, 2500, 1500, 16)
    want = linkage.candidates(a, b, 0.55, k, threads=1)
    assert len(want) > 500
    progress: list[tuple[int, int]] = []
    got = linkage._ray.ray_candidates(
        a, b, 0.55, k, chunk_rows=400, max_pending=2, on_progress=lambda *p: progress.append(p)
    )
    assert_same(got, want)
    assert len(progress) == 7  # ceil(2500 / 400) chunks
    assert [total for _, total in progress] == [2500] * 7
    done = [d for d, _ in progress]
    assert done == sorted(done) and done[-1] == 2500


def test_ray_with_one_row_and_default_chunks(ray_session, make_filters):
    a, b = make_filters(32, 1, 300, 3)
    b[7] = a[0]
    want = linkage.candidates(a, b, 0.9, threads=1)
    assert 7 in want.j
    assert_same(linkage._ray.ray_candidates(a, b, 0.9), want)


def test_ensure_ray_is_lean_and_idempotent(ray_session):
    import ray

    assert ray.cluster_resources()["CPU"] == 2
    assert linkage.ensure_ray() is False  # already running: nothing restarted
    if not ray_session.started:
        pytest.skip("Ray was started outside this fixture")
    assert ray_session.sigterm_kept


_IDLE_WORKERS_OF_A_NEW_RAY = """
import os
import ray
from linkage import ensure_ray
from tests.procs import processes

ensure_ray(num_cpus=2, object_store_memory=80 * 1024 * 1024)
raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid

def workers():  # the raylet's children but its agents: Ray's worker processes
    return [
        p for p in processes()
        if p.ppid == raylet and not any("agent" in a.lower() for a in p.argv)
    ]

@ray.remote
def pid():
    return os.getpid()

before = workers()
ran = ray.get(pid.remote())
print(len(before), int(ran != os.getpid()))
"""


def test_a_local_ray_starts_no_idle_worker_before_its_first_task(tmp_path):
    """Ray starts a worker per CPU for the first process that connects, and ray.init waits
    for them; ``ensure_ray`` asks it not to: no worker runs before the first task, which
    then gets one (a process that never sends a task saves them)."""
    import subprocess
    import sys

    script = tmp_path / "idle.py"
    script.write_text(_IDLE_WORKERS_OF_A_NEW_RAY)
    env = {k: v for k, v in os.environ.items() if k != _ray.ADDRESS_ENV}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["0", "1"], done.stdout


def test_ray_bad_input_is_rejected_before_any_task():
    a = np.zeros((2, 1), np.uint64)
    with pytest.raises(linkage.LinkageError, match="chunk_rows must be a whole number"):
        linkage._ray.ray_candidates(a, a, 0.5, chunk_rows=0)
    with pytest.raises(linkage.LinkageError, match="max_pending must be a whole number"):
        linkage._ray.ray_candidates(a, a, 0.5, max_pending=-1)
    with pytest.raises(linkage.LinkageError, match=r"\bb is empty"):
        linkage._ray.ray_candidates(a, a[:0], 0.5)


def test_ensure_ray_refuses_sizes_for_a_cluster():
    with pytest.raises(linkage.LinkageError, match="apply only to a local Ray"):
        linkage.ensure_ray("10.0.0.1:6379", num_cpus=2)
    with pytest.raises(linkage.LinkageError, match="num_cpus must be a whole number"):
        linkage.ensure_ray(num_cpus=0)


def test_cluster_address_comes_from_the_argument_or_the_environment(monkeypatch):
    monkeypatch.delenv(_ray.ADDRESS_ENV, raising=False)
    assert _ray._resolve_address(None) is None
    monkeypatch.setenv(_ray.ADDRESS_ENV, "head:6379")
    assert _ray._resolve_address(None) == "head:6379"
    assert _ray._resolve_address("auto") == "auto"


def _partition(df) -> set[frozenset]:
    return set(
        df.groupby("case_id")[["agency", "record_ref"]].apply(
            lambda g: frozenset(zip(g["agency"], g["record_ref"], strict=True))
        )
    )


def test_a_run_in_its_own_ray_task_matches_the_run_in_process(
    ray_session, tmp_path, febrl4, febrl_schema, secret
):
    """ray_plan_link gives the same cases, confidence and registry changes as plan_link, on a
    registry that already holds records (new case ids are random: compared as a partition)."""
    import bloom

    def batch(df, agency):
        return bloom.encode(df, febrl_schema, secret, agency=agency, id_column="record_ref")

    registry = linkage.Registry.open(tmp_path / "reg.sqlite")
    linkage.link([batch(febrl4.a.iloc[:400], "a")], registry=registry)
    new = [batch(febrl4.b.iloc[:500], "b"), batch(febrl4.a.iloc[400:600], "a")]
    state = registry.state()
    here = linkage.plan_link(new, state=state, threshold="auto")
    there = linkage.ray_plan_link(new, state=state, threshold="auto")
    assert there.links_accepted == here.links_accepted > 50
    assert (there.threshold, there.pairs_scored) == (here.threshold, here.pairs_scored)
    pd.testing.assert_frame_equal(
        there.assignments.drop(columns="case_id"), here.assignments.drop(columns="case_id")
    )
    assert _partition(there.assignments) == _partition(here.assignments)
    old = set(state.case_ids)  # existing records keep their ids, wherever the run computed
    kept = here.assignments["case_id"].isin(old)
    assert kept.any()
    assert (there.assignments["case_id"][kept] == here.assignments["case_id"][kept]).all()
    u, v = here.update, there.update
    assert u is not None and v is not None
    np.testing.assert_array_equal(u.new_refs, v.new_refs)
    np.testing.assert_array_equal(u.new_filters, v.new_filters)
    np.testing.assert_array_equal(u.new_confidence, v.new_confidence)
    assert u.links == v.links and len(u.merges) == len(v.merges)


def test_a_run_in_a_ray_task_refuses_bad_input_as_in_process(
    ray_session, febrl4, febrl_schema, secret
):
    import bloom

    a = bloom.encode(febrl4.a.iloc[:20], febrl_schema, secret, agency="a", id_column="record_ref")
    with pytest.raises(linkage.LinkageError, match="share an"):
        linkage.ray_plan_link([a, a])
    with pytest.raises(linkage.LinkageError, match="num_cpus"):
        linkage.ray_plan_link([a], num_cpus=0)


def test_a_run_past_its_memory_budget_fails_with_the_reason_and_the_worker_carries_on(
    ray_session, febrl4, febrl_schema, secret
):
    """With a budget below what linking needs, the run stops with RunMemoryError naming the
    budget; the budget is lifted afterwards, so the next run (same worker pool) links."""
    import bloom

    batches = [
        bloom.encode(febrl4.a.iloc[:300], febrl_schema, secret, agency="a", id_column="record_ref"),
        bloom.encode(febrl4.b.iloc[:300], febrl_schema, secret, agency="b", id_column="record_ref"),
    ]
    with pytest.raises(linkage.RunMemoryError, match=r"memory budget of 0\.001 GiB"):
        linkage.ray_plan_link(batches, memory_gib=0.001)
    report = linkage.ray_plan_link(batches, memory_gib=16)
    assert report.links_accepted == linkage.plan_link(batches).links_accepted > 0
    with pytest.raises(linkage.LinkageError, match="memory_gib"):
        linkage.ray_plan_link(batches, memory_gib=0)


def _in_own_process(code: str) -> list[str]:
    """Run ``code`` in a Python process of its own and return its printed words: a memory
    budget (RLIMIT_DATA) in a process with Ray's threads -- this one -- can stop them (seen:
    the session hung; an allocation failing in a Ray thread aborts it, and Ray's crash
    handler then writes gigabytes of log)."""
    import subprocess
    import sys
    import textwrap

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()


def test_the_memory_budget_turns_an_allocation_past_it_into_a_run_memory_error():
    """Inside the budget an allocation beyond it fails as RunMemoryError naming the setting;
    after it the same allocation succeeds (the limit is restored)."""
    out = _in_own_process("""
        import numpy as np
        from linkage import RunMemoryError, memory_budget
        big = 2**28  # 2 GiB of float64
        try:
            with memory_budget(1.0):
                np.ones(big)
        except RunMemoryError as error:
            print("refused" if "CASELINK_RUN_MEMORY_GIB" in str(error) else "unnamed")
        print("after" if np.ones(big // 64).sum() == big // 64 else "lost")
        with memory_budget(None):
            print("none" if np.zeros(10).sum() == 0 else "wrong")
    """)
    assert out == ["refused", "after", "none"]


def test_budget_lifted_for_a_moment_and_a_thread_that_cannot_start_is_out_of_memory():
    """budget_lifted: an allocation past the budget succeeds inside it (where a run compiles
    its kernels), and fails again after; a thread whose stack cannot be mapped under the
    budget is a RunMemoryError too."""
    out = _in_own_process("""
        import threading
        import numpy as np
        from linkage import RunMemoryError, memory_budget
        from linkage._task_limits import budget_lifted
        told = []
        big = 2**27  # 1 GiB of float64, never touched
        try:
            with memory_budget(0.5):
                with budget_lifted():
                    assert np.empty(big).size == big
                np.empty(big)
        except RunMemoryError:
            told.append("allocation")
        try:
            with memory_budget(0.001):
                threading.Thread(target=lambda: None).start()
        except RunMemoryError:
            told.append("thread")
        print(",".join(told))
    """)
    assert out == ["allocation,thread"]


def test_a_task_that_reads_its_own_inputs_links_as_in_process_and_returns_sealed_filters(
    ray_session, tmp_path, febrl4, febrl_schema, secret
):
    import bloom

    class FromRegistry:  # local: Ray ships it by value (a test module is not importable there)
        """PlanInputs over a registry file: loaded in the task, sealed with the key file."""

        def __init__(self, path, key_file, batches):
            self.path, self.key_file, self.batches = str(path), str(key_file), batches

        def _registry(self):
            cipher = linkage.FilterCipher.from_file(self.key_file)
            return linkage.Registry.open(self.path, codec=cipher)

        def load(self):
            return self.batches, self._registry().state()

        def prepare(self, report):
            self._registry().prepare(report.update)

    def batch(df, agency):
        return bloom.encode(df, febrl_schema, secret, agency=agency, id_column="record_ref")

    key_file = linkage.DataKeyRing.generate().write(tmp_path / "data-keys")
    cipher = linkage.FilterCipher.from_file(key_file)
    registry = linkage.Registry.open(tmp_path / "reg.sqlite", codec=cipher)
    linkage.link([batch(febrl4.a.iloc[:300], "a")], registry=registry)
    new = [batch(febrl4.b.iloc[:300], "b")]
    here = linkage.plan_link(new, state=registry.state(), threshold="auto")
    there = linkage.ray_plan_link(
        FromRegistry(tmp_path / "reg.sqlite", key_file, new), threshold="auto", niceness=5
    )
    assert there.links_accepted == here.links_accepted > 10
    assert _partition(there.assignments) == _partition(here.assignments)
    u = there.update
    assert u is not None and u.sealed is not None and len(u.sealed) == len(u.new_refs) == 300
    assert all(s != f.tobytes() for s, f in zip(u.sealed, u.new_filters, strict=True))
    registry.apply(u)  # the sealed filters are stored as they came, and open again
    reread = registry.state()
    assert len(reread.ids) == 600
    with pytest.raises(linkage.LinkageError, match="niceness"):
        linkage.ray_plan_link(new, niceness=20)


def test_lower_priority_reaches_every_thread_of_the_process_and_never_raises_it():
    """On Linux a nice value belongs to a thread: a thread started before the call (numba's
    pool in a reused Ray worker) must be lowered too; a lower call later changes nothing."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import os, threading
        from pathlib import Path
        from linkage import lower_priority
        go = threading.Event()
        t = threading.Thread(target=go.wait); t.start()
        lower_priority(7)
        lower_priority(3)
        tasks = [int(p.name) for p in Path("/proc/self/task").iterdir()]
        print(sorted({os.getpriority(os.PRIO_PROCESS, tid) for tid in tasks}), len(tasks))
        go.set(); t.join()
    """)
    if not Path("/proc/self/task").is_dir():
        pytest.skip("per-thread nice values are read from /proc (Linux)")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "[7]" and int(out[1]) >= 2
