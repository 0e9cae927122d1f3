"""A caselink service in a child process, for the demo and for anyone scripting one.

:class:`ServiceProcess` starts ``caselink serve`` on a free loopback port with the given
database, waits until ``/healthz`` answers, and stops it with SIGTERM (graceful: uvicorn
finishes requests, the app shuts Ray down) — SIGKILL only if it does not stop in time. Its
own files (``CASELINK_STATE_DIR``: the audit signing key, checkpoints) go beside its log
unless the environment names them. Given
``tls=(cert, key)`` it serves https (``url`` is then ``https://127.0.0.1:PORT``; the
certificate must name 127.0.0.1) and checks its health trusting ``ca_file``.

How the process is started is :attr:`ServiceProcess.launch` (:func:`exec_serve`: a fresh
``python -m caselink_cli serve``); the test suite starts the same command forked from an
interpreter that has imported it (tests/forkserver.py), through that one seam.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httpx

from bloom import CaselinkError
from service._tls import client_verify, transport_problem, untrusted_certificate

__all__ = ["LaunchedProcess", "ServeLauncher", "ServiceProcess", "exec_serve", "free_port"]


class LaunchedProcess(Protocol):
    """What :class:`ServiceProcess` uses of a started service: as :class:`subprocess.Popen`
    has it."""

    pid: int
    returncode: Any

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...


class ServeLauncher(Protocol):
    """Starts ``caselink serve ARGS`` with ``env``, in a session of its own, stdout and stderr
    appended to ``log``, and returns the process."""

    def __call__(
        self, args: Sequence[str], *, env: Mapping[str, str], log: Path
    ) -> LaunchedProcess: ...


def exec_serve(args: Sequence[str], *, env: Mapping[str, str], log: Path) -> subprocess.Popen:
    """``python -m caselink_cli serve ARGS`` in a fresh interpreter (:class:`ServeLauncher`)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "caselink_cli", "serve", *args],
            env=dict(env),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``with ServiceProcess(database_url, log=path) as svc: Client(svc.url, key)``."""

    launch: ClassVar[ServeLauncher] = staticmethod(exec_serve)  # how the process starts

    def __init__(
        self,
        database_url: str,
        *,
        log: Path,
        env: dict[str, str] | None = None,
        startup_timeout: float = 90.0,
        tls: tuple[Path, Path] | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.scheme = "https" if tls else "http"
        self.port = free_port()
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        tls_env = (
            {"CASELINK_TLS_CERT_FILE": str(tls[0]), "CASELINK_TLS_KEY_FILE": str(tls[1])}
            if tls
            else {}
        )
        self._env = {
            **os.environ,
            "CASELINK_DATABASE_URL": database_url,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "disabled",
            **tls_env,
            **(env or {}),
        }
        # its own files (the audit signing key, checkpoints) beside its log, not in the cwd
        self._env.setdefault("CASELINK_STATE_DIR", str(log.parent / "caselink-state"))
        self._verify = client_verify(ca_file)
        self._log, self._timeout = log, startup_timeout
        self.process: LaunchedProcess | None = None  # a subprocess.Popen by default

    def start(self, attempts: int = 3) -> ServiceProcess:
        """Start and wait for ``/healthz``; a port taken meanwhile is retried on another."""
        for attempt in range(attempts):
            if self._launch():
                return self
            if attempt + 1 < attempts:
                self.port = free_port()
                self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        raise CaselinkError(f"the service could not find a free port; see {self._log}")

    def _launch(self) -> bool:
        """True once healthy; False if the port was taken before the service bound it."""
        start = self._log.stat().st_size if self._log.exists() else 0
        self.process = type(self).launch(["--port", str(self.port)], env=self._env, log=self._log)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                with self._log.open("rb") as log:
                    log.seek(start)
                    if b"cannot listen on" in log.read():
                        return False
                raise CaselinkError(f"the service exited at start-up; see {self._log}")
            try:
                health = httpx.get(f"{self.url}/healthz", timeout=2, verify=self._verify)
                if health.status_code == 200:
                    return True
            except httpx.TransportError as e:
                if untrusted_certificate(e):
                    self.stop()
                    raise CaselinkError(transport_problem(e, httpx.URL(self.url))) from e
            time.sleep(0.2)
        self.stop()
        raise CaselinkError(f"the service did not answer within {self._timeout:.0f} s")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
