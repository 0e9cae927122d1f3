"""A Ray cluster of several nodes on this one machine, and what Ray records of its tasks.

:class:`LocalRayCluster` starts a head (``ray start --head``) and worker nodes (``ray start
--address``), each with its own CPUs, object store, temp dir and ports — free ones, never
Ray's defaults (6379 may be another program's, and two nodes on one machine must not share
a port). Each node's processes form a process group of their own, and :meth:`stop` signals
those groups only: ``ray stop`` would stop every Ray of this user, other sessions' too.

What ran where comes from Ray's own records: the task events and the node table the GCS
keeps, read straight from the GCS (the state API would need the dashboard's HTTP server,
which a minimal ``ray`` install does not have).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bloom import CaselinkError
from service._process import free_port

__all__ = ["LocalRayCluster", "RayNode"]

START_SECONDS = 120.0  # `ray start` takes 2-4 s on a quiet machine; generous for a busy one
# `ray start` gives a raylet 30 s (fixed in Ray) to register with the GCS, and a port picked
# free can be taken by another program before the node binds it: a node that fails to start
# is stopped and started again on fresh ports and a fresh temp dir, this many times in all
START_ATTEMPTS = 3
LOG_TAIL_LINES = 5  # of `ray start`'s output, quoted in the error when every attempt failed
# the ports every node is given, in the order they are drawn (a head draws two more first:
# its GCS's and its dashboard's)
NODE_PORTS = (
    "node-manager",
    "object-manager",
    "dashboard-agent-listen",
    "dashboard-agent-grpc",
    "runtime-env-agent",
    "metrics-export",
)
HEAD_PORTS = 2 + len(NODE_PORTS)


@dataclass
class RayNode:
    """One node of the cluster: its name here, Ray's id for it, and its processes."""

    name: str
    cpus: int
    temp_dir: Path
    node_manager_port: int  # how the node is found in the GCS's node table
    group: int  # process group of its `ray start` and of every process Ray started for it
    node_id: str = ""


def _ray_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASELINK_")}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    return env


def _ray_command() -> str:
    beside = Path(sys.executable).with_name("ray")  # the ray of this interpreter's environment
    found = str(beside) if beside.exists() else shutil.which("ray")
    if found is None:
        raise CaselinkError("the `ray` command is not installed beside this Python: install ray")
    return found


def _members(group: int) -> dict[int, str]:
    """The live processes of ``group`` by pid, with their command name (Linux ``/proc``)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        state, _ppid, pgrp = rest.split()[:3]
        if int(pgrp) == group and state != "Z":
            found[int(stat.parent.name)] = name
    return found


def _signal_and_wait(pids: list[int], group: int, sig: int, wait: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while set(pids) & set(_members(group)) and time.monotonic() < deadline:
        time.sleep(0.1)


def _step_of(name: str) -> str:
    return name if name in ("raylet", "gcs_server") else "rest"


def _stop_group(group: int, grace: float) -> None:
    """Stop a node's processes in the order ``ray stop`` uses — its raylet, then the rest,
    the GCS last (all at once, a raylet keeps calling a GCS that is going away) — with
    SIGTERM, then SIGKILL for whatever is left after ``grace`` seconds a step."""
    if not Path("/proc/self/stat").exists():  # no /proc: the whole group at once
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        time.sleep(grace)
    else:
        for step in ("raylet", "rest", "gcs_server"):
            members = _members(group)
            pids = [p for p, name in members.items() if _step_of(name) == step]
            _signal_and_wait(pids, group, signal.SIGTERM, grace)
    _signal_and_wait(list(_members(group)), group, signal.SIGKILL, 10.0)


class LocalRayCluster:
    """``with LocalRayCluster(workdir, cpus=(1, 1)) as cluster: ...cluster.address...``

    ``cpus``: one entry per node, the head's first. ``object_store_mb``: each node's object
    store. ``ray start``'s output goes to ``workdir/ray-<node>.log``; the nodes' temp dirs
    (sessions, logs, sockets) under a short path in /tmp, removed by :meth:`stop`.
    ``ports``: where the nodes' ports come from (a free one per call by default).
    """

    def __init__(
        self,
        workdir: Path,
        cpus: tuple[int, ...] = (1, 1),
        object_store_mb: int = 100,
        ports: Callable[[], int] = free_port,
    ) -> None:
        if not cpus or any(n < 1 for n in cpus):
            raise CaselinkError(f"cpus: one whole number >= 1 per node, got {cpus!r}")
        self.workdir, self.cpus, self.object_store_mb = workdir, cpus, object_store_mb
        self.ports = ports
        self.nodes: list[RayNode] = []
        self.address = ""
        self._root: Path | None = None

    def start(self) -> LocalRayCluster:
        """Start the head, then the other nodes; return once the GCS lists them all alive."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Unix socket paths are limited to 107 bytes: the temp dirs live under a short root
        self._root = Path(tempfile.mkdtemp(prefix="clcluster", dir="/tmp"))
        try:
            self._start_node("head", self.cpus[0])
            for i, cpus in enumerate(self.cpus[1:], start=1):
                self._start_node(f"worker-{i}", cpus)
            self._wait_for_nodes()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, name: str, cpus: int) -> None:
        """Start one node (the head when ``name`` is ``head``), again on fresh ports after a
        failed attempt; the error quotes the end of ``ray start``'s output."""
        log = self.workdir / f"ray-{name}.log"
        for attempt in range(1, START_ATTEMPTS + 1):
            if self._attempt(name, cpus, log, attempt):
                return
            node = self.nodes.pop()  # whatever the failed attempt left running goes
            _stop_group(node.group, grace=5.0)
            shutil.rmtree(node.temp_dir, ignore_errors=True)
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        raise CaselinkError(
            f"`ray start` of the {name} node failed {START_ATTEMPTS} times; the end of its "
            f"output ({log}):\n" + "\n".join(lines)
        )

    def _attempt(self, name: str, cpus: int, log: Path, attempt: int) -> bool:
        assert self._root is not None
        temp_dir = self._root / f"{name}-{attempt}"
        if name == "head":
            gcs_port = self.ports()
            self.address = f"127.0.0.1:{gcs_port}"
            role = ["--head", f"--port={gcs_port}", "--include-dashboard=false"]
            role.append(f"--dashboard-port={self.ports()}")
        else:
            role = [f"--address={self.address}"]
        ports = {f"{part}-port": self.ports() for part in NODE_PORTS}
        cmd = [
            _ray_command(),
            "start",
            *role,
            f"--num-cpus={cpus}",
            f"--object-store-memory={self.object_store_mb * 2**20}",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
            *(f"--{k}={v}" for k, v in ports.items()),
        ]
        with log.open("ab") as out:  # a session of its own: its group is the node's
            out.write(f"--- attempt {attempt} of {START_ATTEMPTS}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                cmd, env=_ray_env(), stdout=out, stderr=out, start_new_session=True
            )
        self.nodes.append(RayNode(name, cpus, temp_dir, ports["node-manager-port"], proc.pid))
        try:
            return proc.wait(timeout=START_SECONDS) == 0
        except subprocess.TimeoutExpired:
            return False

    def _gcs(self) -> Any:
        """A reader of the GCS's tables (Ray's own records), without joining the cluster."""
        from ray._private.state import GlobalState
        from ray._raylet import GcsClientOptions

        state = GlobalState()
        options = GcsClientOptions.create(
            self.address, None, allow_cluster_id_nil=True, fetch_cluster_id_if_nil=True
        )
        state._initialize_global_state(options)
        return state

    def _wait_for_nodes(self) -> None:
        """Learn each node's Ray id from the GCS's node table, once every node is alive."""
        gcs, by_port = self._gcs(), {n.node_manager_port: n for n in self.nodes}
        deadline = time.monotonic() + START_SECONDS
        while True:
            alive = {n["NodeManagerPort"]: n["NodeID"] for n in gcs.node_table() if n["Alive"]}
            if set(by_port) <= set(alive):
                for port, node in by_port.items():
                    node.node_id = alive[port]
                return
            if time.monotonic() > deadline:
                missing = [n.name for p, n in by_port.items() if p not in alive]
                raise CaselinkError(
                    f"Ray nodes {missing} did not join within {START_SECONDS:.0f} s; "
                    f"see {self.workdir}/ray-*.log"
                )
            time.sleep(0.2)

    def finished_tasks(self, *functions: str) -> Counter[str]:
        """How many tasks of any of ``functions`` (their names, as Ray records them) finished
        on each node, by node name, from the task events the GCS keeps (reported about once a
        second)."""
        from ray.core.generated import common_pb2, gcs_pb2

        finished = common_pb2.TaskStatus.Value("FINISHED")
        names = {n.node_id: n.name for n in self.nodes}
        accessor = self._gcs()._connect_and_get_accessor()
        ran: Counter[str] = Counter()
        for raw in accessor.get_task_events():
            event = gcs_pb2.TaskEvents.FromString(raw)
            updates = event.state_updates
            if event.task_info.func_or_class_name not in functions:
                continue
            if finished in updates.state_ts_ns and updates.node_id:
                node_id = updates.node_id.hex()
                ran[names.get(node_id, node_id)] += 1
        return ran

    def _wait(
        self, functions: tuple[str, ...], done: Callable[[Counter[str]], bool], timeout: float
    ) -> Counter[str]:
        """:meth:`finished_tasks` once ``done`` says so (task events reach the GCS a moment
        after the task ends, from each worker on its own); whatever is recorded after
        ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            ran = self.finished_tasks(*functions)
            if done(ran) or time.monotonic() > deadline:
                return ran
            time.sleep(0.5)

    def wait_for_tasks(self, function: str, count: int, timeout: float = 60.0) -> Counter[str]:
        """Finished tasks of ``function`` per node, once ``count`` of them are recorded."""
        return self._wait((function,), lambda ran: ran.total() >= count, timeout)

    def wait_for_every_node(
        self, functions: tuple[str, ...], timeout: float = 60.0
    ) -> Counter[str]:
        """Finished tasks of any of ``functions`` per node, once every node has some."""
        names = {n.name for n in self.nodes}
        return self._wait(functions, lambda ran: set(ran) >= names, timeout)

    def stop(self, grace: float = 15.0) -> None:
        """Stop the nodes — the workers first, the head (and its GCS) last — by signalling
        their process groups, and remove their temp dirs."""
        for node in reversed(self.nodes):
            _stop_group(node.group, grace)
        self.nodes.clear()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
