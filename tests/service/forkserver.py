"""``caselink serve`` processes forked from one interpreter that has imported the service.

A test server is a real process of its own: ``caselink_cli.main`` (the ``caselink`` script's
entry function) with ``serve`` and its options as ``sys.argv``, in a session of its own (the
tests kill its process group), with its own environment, working directory, stdout and stderr
files. What it does not pay is a fresh interpreter importing the service: about 1.8 s of CPU a
start on these 2-core machines, some 40 starts a suite (kills and restarts included).

One forkserver per pytest worker, started on first use: a Python process that imports the
service's modules once (never Ray's, nor starts a thread: a fork copies only the forking
thread) and then, per request on its stdin, forks a child that becomes the server. The
forkserver reaps its children and writes each one's exit status (as ``Popen.returncode``
says it: ``-N`` for signal N) to the file the request named; :class:`Forked` reads it back.

Nothing here is needed for the server to be real: :func:`spawn` falls back to the installed
``caselink`` script where no forkserver can start, and ``CASELINK_TEST_EXEC_SERVERS=1`` makes
every test server a fresh interpreter, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

# the modules a server imports before it serves (service.cli's serve imports the app)
PRELOAD = ("caselink_cli", "service.cli", "service.api.app", "uvicorn")
CASELINK = Path(sys.executable).with_name("caselink")  # the installed script


class Forked:
    """A forked server, as much of ``subprocess.Popen`` as the tests use."""

    def __init__(self, pid: int, status: Path, args: list[str]) -> None:
        self.pid, self.status, self.args = pid, status, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(FileNotFoundError):
                self.returncode = int(self.status.read_text())
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # never a signal to a pid the system may have reused
            os.kill(self.pid, sig)


class _Server:
    """The forkserver process and the pipe of requests to it (one request at a time)."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASELINK_")}
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            start_new_session=True,
        )
        self.lock = threading.Lock()
        ready = self._read()
        if ready.get("ready") is not True:
            raise RuntimeError(f"the forkserver did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the forkserver exited ({self.proc.poll()})")
        return dict(json.loads(line))

    def spawn(self, request: dict[str, Any]) -> int:
        assert self.proc.stdin is not None
        with self.lock:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            answer = self._read()
        if "pid" not in answer:
            raise RuntimeError(f"the forkserver could not fork: {answer.get('error')}")
        return int(answer["pid"])

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait(timeout=30)


_server: _Server | None = None
_broken = False


def _the_server() -> _Server | None:
    global _server, _broken
    if _server is None and not _broken:
        try:
            _server = _Server()
        except (OSError, RuntimeError, ValueError):
            _broken = True  # the installed script it is, for this worker
            return None
        atexit.register(_server.stop)
    return _server


def spawn(
    argv: list[str], *, env: dict[str, str], cwd: Path, stdout: Path, stderr: Path
) -> Forked | subprocess.Popen:
    """``caselink ARGV[1:]`` in a new session, writing to ``stdout`` and ``stderr``: forked
    from the forkserver, or (none, or ``CASELINK_TEST_EXEC_SERVERS=1``) the installed script."""
    server = None if os.environ.get("CASELINK_TEST_EXEC_SERVERS") == "1" else _the_server()
    if server is None:
        with stdout.open("wb") as out, stderr.open("wb") as err:
            return subprocess.Popen(
                [str(CASELINK), *argv[1:]], env=env, cwd=cwd, stdout=out, stderr=err,
                start_new_session=True,
            )  # fmt: skip
    for path in (stdout, stderr):  # there from the start, as with Popen, for the waits to read
        path.write_bytes(b"")
    status = stderr.with_name(f".{stderr.name}.{uuid.uuid4().hex}.status")
    request = {
        "argv": argv,
        "env": env,
        "cwd": str(cwd),
        "stdout": str(stdout),
        "stderr": str(stderr),
        "status": str(status),
    }
    return Forked(server.spawn(request), status, argv)


# -- the forkserver itself ----------------------------------------------------------------------
_statuses: dict[int, str] = {}  # child pid -> the file its exit status goes to


def _reap(signum: int, frame: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        path = _statuses.pop(pid, None)
        if path is not None:
            tmp = f"{path}.tmp"
            with open(tmp, "w") as f:
                f.write(str(os.waitstatus_to_exitcode(status)))
            os.replace(tmp, path)


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the server the request describes, then exit as it does
    (through the interpreter's own exit, so that what the server registered with atexit --
    Ray's shutdown among it -- runs as in a fresh process)."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(target, fd)
        os.close(target)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    from service._settings import get_settings

    get_settings.cache_clear()  # read from this server's environment
    sys.argv = list(request["argv"])
    import caselink_cli

    caselink_cli.main()
    sys.exit(0)


def _main() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    answers = sys.stdout
    if threading.active_count() != 1:  # a fork would copy a process with threads half-gone
        answers.write(json.dumps({"ready": False, "threads": threading.active_count()}) + "\n")
        answers.flush()
        return
    signal.signal(signal.SIGCHLD, _reap)
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # status path known first
        try:
            pid = os.fork()
        except OSError as e:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            answers.write(json.dumps({"error": e.strerror}) + "\n")
            answers.flush()
            continue
        if pid == 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            _child(request)  # never returns: the child exits from there
        _statuses[pid] = request["status"]
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))  # not a folder of tests on the path
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    _main()
