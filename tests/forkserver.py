"""``caselink`` processes forked from one interpreter that has imported the service.

A test server, or a command a test runs as a separate process (``caselink encode`` reading a
register, ``caselink admin verify-audit``, a ``serve`` that must refuse to start), is a real
process of its own: ``caselink_cli.main`` (the ``caselink`` script's entry function) with its
arguments as ``sys.argv``, in a session of its own (the tests kill a server's process group),
with its own environment, working directory, stdin, stdout and stderr. What it does not pay
is a fresh interpreter importing the service and its libraries: about 1.8 s of CPU a start on
these 2-core machines, some 80 starts a suite. :func:`spawn` starts one (a server: output to
files the caller names), :func:`popen` one whose output the test reads (``communicate``),
:func:`run` one to its end (a ``subprocess.CompletedProcess``).

One forkserver per pytest worker, started on first use: a Python process that imports the
service's modules once, and Ray's Python modules (importing them starts no thread and
connects to nothing: ``ray.init`` in the child does that, as in a fresh process), never
starts a thread itself (a fork copies only the forking thread), and then, per request on its
stdin, forks a child that becomes the command. The
forkserver reaps its children and writes each one's exit status (as ``Popen.returncode``
says it: ``-N`` for signal N) to the file the request named; :class:`Forked` reads it back.

Nothing here is needed for the process to be real: :func:`spawn` falls back to the installed
``caselink`` script where no forkserver can start, and ``CASELINK_TEST_EXEC_SERVERS=1`` makes
every one a fresh interpreter, as before. The tests about the script itself (its entry point,
a shell's pipes) run it, not a fork: tests/test_cli_conventions.py, the ``real=True`` runs.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# the modules a server imports before it serves (service.cli's serve imports the app; Ray's
# worker module is what ray.init needs), and the client the service's other commands use
# (``service`` gives its names on first use: importing it loads neither), and Alembic, which
# a server's start-up migration imports on first use
PRELOAD = (
    "caselink_cli",
    "service.cli",
    "service.api.app",
    "service.client",
    "alembic.command",
    "uvicorn",
    "ray._private.worker",
)
# more modules to import first, comma-separated (the test of the refusal below starts a thread)
PRELOAD_ENV = "FORKSERVER_TEST_PRELOAD"
CASELINK = Path(sys.executable).with_name("caselink")  # the installed script


class Forked:
    """A forked ``caselink``, as much of ``subprocess.Popen`` as the tests use."""

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


class Captured:
    """A started ``caselink`` (forked, or the installed script) whose stdout and stderr go
    to files in ``output``, read back by :meth:`communicate` (:func:`popen`)."""

    def __init__(self, proc: Forked | subprocess.Popen, output: Path, text: bool) -> None:
        self.proc, self.output, self.text = proc, output, text

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def communicate(self, timeout: float | None = None) -> tuple[Any, Any]:
        """Wait for the end (``subprocess.TimeoutExpired`` after ``timeout``: it is killed),
        then its stdout and stderr (str with ``text``, else bytes); its files are removed."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise
        out, err = ((self.output / n).read_bytes() for n in ("stdout", "stderr"))
        self.close()
        return (out.decode(), err.decode()) if self.text else (out, err)

    def close(self) -> None:
        """Kill it if it still runs, and remove its files."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.output, ignore_errors=True)


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
        try:
            ready = self._read()
            if ready.get("ready") is not True:
                raise RuntimeError(f"the forkserver did not start: {ready}")
        except (RuntimeError, ValueError):
            self.stop()
            raise

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
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


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


def _forkserver_or_none() -> _Server | None:
    """This worker's forkserver, or None: ``CASELINK_TEST_EXEC_SERVERS=1``, or none starts."""
    return None if os.environ.get("CASELINK_TEST_EXEC_SERVERS") == "1" else _the_server()


def spawn(
    argv: Sequence[object],
    *,
    env: Mapping[str, str],
    cwd: Path | str,
    stdout: Path,
    stderr: Path,
    stdin: Path | None = None,
    append: bool = False,
) -> Forked | subprocess.Popen:
    """``caselink ARGV[1:]`` in a new session, reading ``stdin`` (None: nothing) and writing
    to ``stdout`` and ``stderr`` (emptied first unless ``append``; one file may be both):
    forked from the forkserver, or (none, or ``CASELINK_TEST_EXEC_SERVERS=1``) the installed
    script."""
    argv = [str(a) for a in argv]
    server = _forkserver_or_none()
    if server is None:
        mode = "ab" if append else "wb"
        with contextlib.ExitStack() as files:
            out = files.enter_context(stdout.open(mode))
            err = out if stderr == stdout else files.enter_context(stderr.open(mode))
            inp = files.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
            return subprocess.Popen(
                [str(CASELINK), *argv[1:]], env=dict(env), cwd=cwd, stdin=inp, stdout=out,
                stderr=err, start_new_session=True,
            )  # fmt: skip
    if not append:  # there from the start, as with Popen, for the waits to read
        for path in (stdout, stderr):
            path.write_bytes(b"")
    status = stderr.with_name(f".{stderr.name}.{uuid.uuid4().hex}.status")
    request = {
        "argv": argv,
        "env": dict(env),
        "cwd": str(cwd),
        "stdin": None if stdin is None else str(stdin),
        "stdout": str(stdout),
        "stderr": str(stderr),
        "status": str(status),
    }
    return Forked(server.spawn(request), status, argv)


def popen(
    argv: Sequence[object],
    *,
    env: Mapping[str, str],
    cwd: Path | str | None = None,
    input: bytes | str | None = None,
    text: bool = True,
) -> Captured:
    """``caselink ARGV[1:]`` (:func:`spawn`) started with ``input`` on its stdin (a file:
    nothing to feed as it runs), its output kept for ``communicate``."""
    output = Path(tempfile.mkdtemp(prefix="caselink-forked-"))
    stdin = None
    if input is not None:
        stdin = output / "stdin"
        stdin.write_bytes(input.encode() if isinstance(input, str) else input)
    files = {"stdout": output / "stdout", "stderr": output / "stderr"}
    proc = spawn(argv, env=env, cwd=cwd or os.getcwd(), stdin=stdin, **files)
    return Captured(proc, output, text)


def run(
    argv: Sequence[object],
    *,
    env: Mapping[str, str],
    cwd: Path | str | None = None,
    input: bytes | str | None = None,
    text: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """``caselink ARGV[1:]`` to its end, as ``subprocess.run(..., capture_output=True)``
    reports it: a process of its own (:func:`popen`)."""
    proc = popen(argv, env=env, cwd=cwd, input=input, text=text)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode is not None
    return subprocess.CompletedProcess([str(a) for a in argv], proc.returncode, out, err)


def serve(args: Sequence[str], *, env: Mapping[str, str], log: Path) -> Forked | subprocess.Popen:
    """``caselink serve ARGS`` appending to ``log``: :class:`service.ServiceProcess`'s
    ``launch`` in the tests that start one (the benches' services, TLS, keys at rest)."""
    return spawn(
        ["caselink", "serve", *args], env=env, cwd=os.getcwd(), stdout=log, stderr=log, append=True
    )


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
    """In the forked child: become the command the request describes, then exit as it does
    (through the interpreter's own exit, so that what a server registered with atexit --
    Ray's shutdown among it -- runs as in a fresh process)."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    source = os.open(request.get("stdin") or os.devnull, os.O_RDONLY)
    os.dup2(source, 0)
    os.close(source)
    opened: dict[str, int] = {}
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        if path not in opened:
            opened[path] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(opened[path], fd)
    for target in opened.values():
        os.close(target)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    from service._settings import get_settings

    get_settings.cache_clear()  # read from this server's environment
    sys.argv = list(request["argv"])
    import caselink_cli

    caselink_cli.main()
    sys.exit(0)


def _warm_numba() -> None:
    """numba's compiler and its JIT set up here, once (~0.45 s of CPU on these machines), by
    compiling a trivial function (not cached, none of ours): a child then loads a kernel of
    ours from numba's cache in milliseconds, as the second kernel of a process does, rather
    than setting them up itself. Starts no thread."""
    import numba

    numba.njit(lambda x: x + 1)(1)


def _main() -> None:
    import importlib

    for name in (*PRELOAD, *filter(None, os.environ.get(PRELOAD_ENV, "").split(","))):
        importlib.import_module(name)
    _warm_numba()
    answers = sys.stdout
    if threading.active_count() != 1:  # a fork would copy a process with threads half-gone
        answers.write(json.dumps({"ready": False, "threads": threading.active_count()}) + "\n")
        answers.flush()
        return
    signal.signal(signal.SIGCHLD, _reap)
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    # requests are read through a descriptor of their own, not sys.stdin: a child reads its
    # own stdin through sys.stdin, which must hold nothing read ahead from the requests
    requests = os.fdopen(os.dup(0), "r")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for line in requests:
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
