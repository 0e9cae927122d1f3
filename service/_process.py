"""A caselink service in a child process, for the demo and for anyone scripting one.

:class:`ServiceProcess` starts ``caselink serve`` on a free loopback port with the given
database, waits until ``/healthz`` answers, and stops it with SIGTERM (graceful: uvicorn
finishes requests, the app shuts Ray down) — SIGKILL only if it does not stop in time. Its
own files (``CASELINK_STATE_DIR``: the audit signing key, checkpoints) go beside its log
unless the environment names them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bloom import CaselinkError

__all__ = ["ServiceProcess", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``with ServiceProcess(database_url, log=path) as svc: Client(svc.url, key)``."""

    def __init__(
        self,
        database_url: str,
        *,
        log: Path,
        env: dict[str, str] | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {
            **os.environ,
            "CASELINK_DATABASE_URL": database_url,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "disabled",
            **(env or {}),
        }
        # its own files (the audit signing key, checkpoints) beside its log, not in the cwd
        self._env.setdefault("CASELINK_STATE_DIR", str(log.parent / "caselink-state"))
        self._log, self._timeout = log, startup_timeout
        self.process: subprocess.Popen | None = None

    def start(self, attempts: int = 3) -> ServiceProcess:
        """Start and wait for ``/healthz``; a port taken meanwhile is retried on another."""
        for attempt in range(attempts):
            if self._launch():
                return self
            if attempt + 1 < attempts:
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
        raise CaselinkError(f"the service could not find a free port; see {self._log}")

    def _launch(self) -> bool:
        """True once healthy; False if the port was taken before the service bound it."""
        cmd = [sys.executable, "-m", "caselink_cli", "serve", "--port", str(self.port)]
        start = self._log.stat().st_size if self._log.exists() else 0
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                cmd, env=self._env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                with self._log.open("rb") as log:
                    log.seek(start)
                    if b"cannot listen on" in log.read():
                        return False
                raise CaselinkError(f"the service exited at start-up; see {self._log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
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
