"""The suite's own guards (tests/conftest.py): the check that our modules stay the ones
imported, and the hand-over of an xdist run's one Ray from its controller to the workers."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

from tests.conftest import (
    KEPT_WORKERS_ENV,
    SESSION_RAY_CPUS,
    SESSION_RAY_KEPT_WORKERS,
    SHARED_RAY_FILE_ENV,
    modules_replaced,
    shared_ray_address,
)
from tests.procs import processes

NAME = "caselink_errors"  # one of ours, a module of its own: no package attribute to restore


def test_a_module_dropped_or_imported_again_is_named_once():
    original = sys.modules[NAME]
    modules_replaced()  # what this test began with is held
    try:
        del sys.modules[NAME]
        assert modules_replaced() == [NAME]  # dropped
        assert modules_replaced() == []  # said once
        importlib.import_module(NAME)  # a new copy: held from now on, as a new name is
        assert modules_replaced() == []
        sys.modules[NAME] = original  # the copy replaced in its turn
        assert modules_replaced() == [NAME]
    finally:
        sys.modules[NAME] = original
        modules_replaced()  # the original held again, as before this test


def test_a_worker_falls_back_to_a_ray_of_its_own_unless_the_controller_said_where(
    tmp_path, monkeypatch, capsys
):
    said = tmp_path / "address"
    monkeypatch.setenv(SHARED_RAY_FILE_ENV, str(said))
    assert shared_ray_address(wait=0) is None  # no word in time
    said.write_text("error: RuntimeError: no room")
    assert shared_ray_address(wait=0) is None
    assert "shared Ray did not start (error: RuntimeError: no room)" in capsys.readouterr().err
    said.write_text("127.0.0.1:6379")
    assert shared_ray_address(wait=0) == "127.0.0.1:6379"
    monkeypatch.delenv(SHARED_RAY_FILE_ENV)
    assert shared_ray_address() is None  # no controller's Ray: not waited for


def test_an_xdist_worker_joins_the_ray_its_controller_started(ray_session):
    path = os.environ.get(SHARED_RAY_FILE_ENV)
    if not path:
        pytest.skip("not a run of xdist workers with the controller's Ray (`make test` is)")
    import ray

    with open(path) as f:
        assert ray_session.address == f.read()  # joined it, did not start one of its own
    assert ray.cluster_resources()["CPU"] == SESSION_RAY_CPUS
    # its raylet keeps idle workers past its CPUs (read from its environment when it started)
    (raylet,) = [
        p
        for p in processes()
        if p.argv[0].endswith("raylet") and f"--gcs-address={ray_session.address}" in p.argv
    ]
    kept = f"{KEPT_WORKERS_ENV}={SESSION_RAY_KEPT_WORKERS}"
    assert kept in (raylet.path / "environ").read_bytes().decode().split("\0")


def test_no_test_makes_an_http_client_that_loads_the_certificate_authorities_again():
    """tests/service/loopback.py's functions, not httpx's module functions or a bare
    ``httpx.Client()``, which load the certificate authorities anew each time (~20 ms)."""
    import ast
    from pathlib import Path

    made = {"get", "post", "put", "patch", "delete", "request", "stream", "Client"}
    found = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        if path.name == "loopback.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "httpx"
                and node.func.attr in made
                and not any(k.arg == "verify" for k in node.keywords)
            ):
                found.append(f"{path.relative_to(Path(__file__).parent)}:{node.lineno}")
    assert not found, found
