"""The test servers' forkserver (tests/service/forkserver.py): a forked ``caselink`` runs
with the request's arguments, environment, working directory and output files, in a session
of its own, and its exit status reads as ``subprocess.Popen`` would give it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest

from tests.service import forkserver
from tests.service.forkserver import Forked, spawn


@pytest.fixture()
def forked_only(monkeypatch):
    monkeypatch.delenv("CASELINK_TEST_EXEC_SERVERS", raising=False)
    if forkserver._the_server() is None:
        pytest.fail("the forkserver did not start in this worker")


def run(tmp_path, *argv: str, **env: str) -> tuple[Forked, str, str]:
    out, err = tmp_path / "out", tmp_path / "err"
    proc = spawn(
        ["caselink", *argv], env={**os.environ, **env}, cwd=tmp_path, stdout=out, stderr=err
    )
    assert isinstance(proc, Forked)
    proc.wait(timeout=120)
    return proc, out.read_text(), err.read_text()


def test_a_forked_command_prints_and_exits_as_the_script_would(forked_only, tmp_path):
    proc, out, _ = run(tmp_path, "--version")
    assert proc.returncode == 0 and out.startswith("caselink ")
    proc, _, err = run(tmp_path, "no-such-command")
    assert proc.returncode == 2 and "no-such-command" in err


def test_a_forked_command_works_in_the_requests_folder_with_its_environment(forked_only, tmp_path):
    proc, _, err = run(tmp_path, "keygen", "--out", "agency.key", COLUMNS="200")
    assert proc.returncode == 0, err
    key = tmp_path / "agency.key"
    assert key.is_file() and oct(key.stat().st_mode & 0o777) == "0o600"


def test_a_forked_server_has_a_session_of_its_own_and_a_kill_reads_as_a_signal(
    forked_only, tmp_path, ray_session
):
    from tests.service.servers import free_port, service_env

    err = tmp_path / "err"
    env = service_env(f"sqlite:///{tmp_path / 'db.sqlite'}", ray_session.address)
    proc = spawn(
        ["caselink", "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        stdout=tmp_path / "out",
        stderr=err,
    )
    try:
        deadline = time.monotonic() + 120
        while "database schema is current" not in err.read_text():  # alive, and starting
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.05)
        assert os.getsid(proc.pid) == proc.pid  # the tests kill a server by its process group
    finally:
        with contextlib.suppress(ProcessLookupError):  # a server that died: its error above
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


def test_with_exec_servers_set_the_installed_script_runs_instead(tmp_path, monkeypatch):
    monkeypatch.setenv("CASELINK_TEST_EXEC_SERVERS", "1")
    out, err = tmp_path / "out", tmp_path / "err"
    proc = spawn(
        ["caselink", "--version"], env=dict(os.environ), cwd=tmp_path, stdout=out, stderr=err
    )
    assert isinstance(proc, subprocess.Popen) and proc.args[0] == str(forkserver.CASELINK)
    assert proc.wait(timeout=120) == 0 and out.read_text().startswith("caselink "), err.read_text()
