"""A node whose ``ray start`` fails is started again on fresh ports, and a node that never
starts names the end of Ray's own output.

The fault is a real one, cheap to cause: the port source hands every port of an attempt the
same number (two callers of a free-port lookup can be handed one port), which ``ray start``
refuses at once ("a port number ... used by other components").
"""

from __future__ import annotations

import pytest

from bloom import CaselinkError
from evaluation._ray_cluster import (
    HEAD_PORTS,
    NODE_PORTS,
    START_ATTEMPTS,
    LocalRayCluster,
    _members,
)
from service._process import free_port


class _OnePortFor:
    """A free port per call, except that the calls numbered in ``bad_calls`` (from 1) all
    get one and the same port."""

    def __init__(self, bad_calls: range) -> None:
        self.calls, self.bad_calls, self.stuck = 0, bad_calls, free_port()

    def __call__(self) -> int:
        self.calls += 1
        return self.stuck if self.calls in self.bad_calls else free_port()


def test_a_worker_that_fails_to_start_is_started_again_on_fresh_ports(tmp_path):
    # the worker's first attempt draws the ports after the head's, and is handed one for all
    ports = _OnePortFor(range(HEAD_PORTS + 1, HEAD_PORTS + 1 + len(NODE_PORTS)))
    with LocalRayCluster(tmp_path, cpus=(1, 1), ports=ports) as cluster:
        assert [n.name for n in cluster.nodes] == ["head", "worker-1"]
        assert all(n.node_id for n in cluster.nodes)  # both alive in the GCS's node table
        log = (tmp_path / "ray-worker-1.log").read_text()
        assert "attempt 2 of" in log and "attempt 3 of" not in log
        assert "used by other components" in log
        groups = [n.group for n in cluster.nodes]
    assert not any(_members(g) for g in groups)


def test_a_node_that_never_starts_fails_with_the_end_of_rays_output(tmp_path):
    ports = _OnePortFor(range(1, 10_000))
    with pytest.raises(CaselinkError) as failed:
        LocalRayCluster(tmp_path, cpus=(1,), ports=ports).start()
    message = str(failed.value)
    assert f"failed {START_ATTEMPTS} times" in message
    assert "used by other components" in message
    assert str(tmp_path / "ray-head.log") in message
    log = (tmp_path / "ray-head.log").read_text()
    assert f"attempt {START_ATTEMPTS} of {START_ATTEMPTS}" in log
