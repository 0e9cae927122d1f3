"""The forkserver of the tests' ``caselink`` processes (tests/forkserver.py): a forked
``caselink`` runs with the request's arguments, environment, working directory, stdin and
output files, in a session of its own, and its exit status and output read as
``subprocess.Popen``/``subprocess.run`` would give them -- the same as the installed script's
(``CASELINK_TEST_EXEC_SERVERS=1``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest

from service import ServiceProcess
from service._process import exec_serve
from tests import forkserver
from tests.bloom.test_encode_register_errors import register as good_rows
from tests.bloom.test_encode_register_errors import write
from tests.forkserver import Forked, spawn

REGISTER = good_rows(5)


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


def _encoded(tmp_path, exec_script: bool, monkeypatch) -> list:
    """``caselink encode --input -`` twice through :func:`forkserver.run`: a register on
    stdin, then nothing (the next process must not see the first one's stdin)."""
    if exec_script:
        monkeypatch.setenv("CASELINK_TEST_EXEC_SERVERS", "1")
    else:
        monkeypatch.delenv("CASELINK_TEST_EXEC_SERVERS", raising=False)
    tmp_path.mkdir()
    register = write(tmp_path / "in.csv", REGISTER).read_bytes()
    env = {**os.environ, "CASELINK_SECRET": "00" * 32}
    cmd = ["caselink", "encode", "--agency", "a", "--schema", "person", "--input", "-"]
    done = []
    for name, given in (("one", register), ("two", None)):
        r = forkserver.run([*cmd, "--out", f"{name}.parquet"], env=env, cwd=tmp_path, input=given)
        done.append((r.returncode, r.stdout, (tmp_path / f"{name}.parquet").exists()))
        done.append(r.stderr.splitlines()[-1] if r.returncode else "")
    return done


def test_run_gives_a_commands_stdin_output_and_exit_code_as_the_installed_script(
    tmp_path, monkeypatch
):
    forked = _encoded(tmp_path / "forked", False, monkeypatch)
    installed = _encoded(tmp_path / "installed", True, monkeypatch)
    assert forked == installed
    assert forked[0][0] == 0 and forked[0][2]  # the register was read from stdin
    assert forked[2][0] != 0 and not forked[2][2]  # an empty stdin: refused, nothing written


def test_popen_communicates_text_or_bytes_and_a_usage_error_exits_2(forked_only, tmp_path):
    proc = forkserver.popen(["caselink", "--version"], env=dict(os.environ), cwd=tmp_path)
    assert isinstance(proc.proc, Forked)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.startswith("caselink ") and err == ""
    r = forkserver.run(["caselink", "no-such-command"], env=dict(os.environ), text=False)
    assert r.returncode == 2 and b"no-such-command" in r.stderr and r.stdout == b""


def test_service_processes_are_forked_here_and_a_fresh_interpreter_by_default(tmp_path):
    assert ServiceProcess.launch is forkserver.serve  # tests/conftest.py's seam
    assert ServiceProcess.__dict__["launch"].__func__ is forkserver.serve
    for launch, log in (
        (exec_serve, tmp_path / "exec.log"),
        (forkserver.serve, tmp_path / "f.log"),
    ):
        log.write_text("before\n")
        proc = launch(["--help"], env=dict(os.environ), log=log)
        assert proc.wait(timeout=120) == 0
        text = log.read_text()
        assert text.startswith("before\n") and "--port" in text  # appended, not replaced


def test_a_forkserver_whose_imports_left_a_thread_running_refuses_and_the_script_runs(
    tmp_path, monkeypatch
):
    """A fork copies only the forking thread: a forkserver with another thread running would
    fork half a process. It says so instead of "ready", and the worker runs the installed
    script from then on."""
    (tmp_path / "busy_import.py").write_text(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(120,), daemon=True).start()\n"
    )
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.setenv(forkserver.PRELOAD_ENV, "busy_import")
    with pytest.raises(RuntimeError, match="'ready': False, 'threads': 2"):
        forkserver._Server()
    # the fallback, as _the_server takes it for a worker whose forkserver did not start
    monkeypatch.setattr(forkserver, "_server", None)
    monkeypatch.setattr(forkserver, "_broken", False)
    assert forkserver._the_server() is None and forkserver._broken
    proc = spawn(
        ["caselink", "--version"],
        env=dict(os.environ),
        cwd=tmp_path,
        stdout=tmp_path / "out",
        stderr=tmp_path / "err",
    )
    assert isinstance(proc, subprocess.Popen) and proc.wait(timeout=120) == 0


def test_a_command_past_its_timeout_is_killed_and_its_files_removed(
    forked_only, tmp_path, ray_session
):
    from tests.service.servers import free_port, service_env

    env = service_env(f"sqlite:///{tmp_path / 'db.sqlite'}", ray_session.address)
    proc = forkserver.popen(["caselink", "serve", "--port", free_port()], env=env, cwd=tmp_path)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.communicate(timeout=1)  # a server runs until it is stopped
    assert proc.returncode == -signal.SIGKILL and not proc.output.exists()
