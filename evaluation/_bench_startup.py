"""What a fresh process pays before it does any work: the CPU of its imports.

The service starts processes of its own, and each starts from a bare interpreter: a run's Ray
task in a new worker (one per server job on a shared cluster), the index builder's worker,
a server, and every ``caselink`` command an officer types. For each kind this section starts
``repeats`` fresh interpreters that import what that process imports and nothing more, and
reports:

* ``cpu_s``: the median CPU seconds (user + system) of the whole process, from the operating
  system's accounting of the finished child (``RUSAGE_CHILDREN``), the interpreter's own
  start-up included (``bare_interpreter`` is that floor alone);
* ``heavy``: which of the heavy packages (:data:`HEAVY`) the process had loaded at its end —
  what the figure is made of, and what a change that keeps a package out of a process must
  keep out.

The probes are what each process runs: a run's task unpickles its inputs
(:class:`service._run_inputs.RunInputs`) and ``linkage``'s task body (its worker has imported
Ray before: ``ray`` is that part); the index worker
imports :mod:`service._index_process` and the loader it calls; a server imports the web app;
the commands run ``caselink ... --help`` through the installed entry point, so the command
tree is built as it is for any command. Figures differ between machines and with load: quote
them with the ``machine`` block, and compare kinds within one run.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["HEAVY", "PROBES", "bench_startup", "packages", "probe_once"]

HEAVY = (
    "alembic",
    "fastapi",
    "jinja2",
    "numba",
    "numpy",
    "pandas",
    "pyarrow",
    "ray",
    "scipy",
    "sqlalchemy",
    "uvicorn",
)

_REPORT = (
    "import atexit, json, os, sys\n"
    "def _report():\n"
    "    with open(os.environ['CASELINK_BENCH_LOADED'], 'w') as f:\n"
    "        json.dump(sorted(sys.modules), f)\n"
    "atexit.register(_report)\n"
)


def _command(*argv: str) -> str:
    """A ``caselink`` command as its entry point runs it."""
    args = ["caselink", *argv]
    return f"import sys\nsys.argv = {args!r}\nimport caselink_cli\ncaselink_cli.main()\n"


PROBES: dict[str, str] = {
    "bare_interpreter": "pass\n",
    "ray": "import ray\n",  # what every Ray worker imports before it takes a task
    "run_task": (
        "import pickle\n"
        "from service._run_inputs import RunInputs\n"
        "from linkage._ray_link import _plan_task\n"
        "pickle.loads(pickle.dumps(RunInputs('sqlite://', None, 'agreement', 'fp', ('b',))))\n"
    ),
    "index_worker": "import service._index_process\nimport service._index\n",
    "server": "import service.cli\nimport service.api.app\n",
    "service_command": _command("agreement", "--help"),
    "encode_command": _command("encode", "--help"),
}


def probe_once(code: str) -> tuple[float, set[str]]:
    """Run ``code`` in a fresh interpreter: its CPU seconds and every module it had loaded at
    its end (a probe that fails raises, with its stderr). The tests that hold a process to
    what it may import ask this too."""
    with tempfile.TemporaryDirectory(prefix="caselink-startup-") as work:
        loaded = Path(work) / "loaded.json"
        env = {**os.environ, "CASELINK_BENCH_LOADED": str(loaded)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [sys.executable, "-c", _REPORT + code],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0 or not loaded.is_file():
            raise RuntimeError(f"startup probe failed ({done.returncode}): {done.stderr[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return cpu, set(json.loads(loaded.read_text()))


def packages(modules: set[str]) -> set[str]:
    """The top-level packages of ``modules`` (``numba.core`` -> ``numba``)."""
    return {m.split(".")[0] for m in modules}


def bench_startup(repeats: int = 5, kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Median CPU seconds of ``repeats`` fresh processes of each kind (:data:`PROBES`), and
    the heavy packages each loads."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    names = kinds or tuple(PROBES)
    unknown = [k for k in names if k not in PROBES]
    if unknown:
        raise ValueError(f"unknown kind(s): {', '.join(unknown)}; choose from {', '.join(PROBES)}")
    probe_once(PROBES["bare_interpreter"])  # files into the page cache, bytecode written
    figures: dict[str, Any] = {"repeats": repeats, "kinds": {}}
    for name in names:
        probe_once(PROBES[name])  # the same, for this kind's modules
        runs = [probe_once(PROBES[name]) for _ in range(repeats)]
        cpus = [cpu for cpu, _ in runs]
        figures["kinds"][name] = {
            "cpu_s": round(statistics.median(cpus), 3),
            "cpu_s_runs": [round(c, 3) for c in cpus],
            "heavy": [p for p in HEAVY if p in packages(runs[-1][1])],
        }
    return figures
