"""The light install, as a field office does it: the encoder alone, from a wheelhouse, offline.

On a machine with network, :func:`build_wheelhouse` puts caselink's wheel and the wheels of
its base dependencies in one folder (``pip wheel``). The folder goes to the laptop (a USB
stick); there :func:`install_offline` makes a fresh virtual environment and installs caselink
with ``pip install --no-index --find-links``: pip never looks at the network. The README's
"Installing" section gives the same commands by hand.

``caselink bench --only light_install`` times both steps and measures what was installed;
``tests/test_light_install.py`` runs the same steps and then encodes a register with the
installed command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caselink_errors import CaselinkError

__all__ = [
    "HEAVY",
    "LightInstall",
    "bench_light_install",
    "build_wheelhouse",
    "install_offline",
    "installed",
    "light_install",
    "project_root",
    "source_copy",
]

# what the light install must not bring: the service, the linkage registry, the evaluation
HEAVY = (
    "fastapi",
    "sqlalchemy",
    "ray",
    "alembic",
    "uvicorn",
    "cryptography",
    "scipy",
    "matplotlib",
    "recordlinkage",
)


def project_root() -> Path:
    """The source tree caselink runs from (a checkout: an editable install or PYTHONPATH)."""
    import caselink_cli

    root = Path(caselink_cli.__file__).resolve().parent
    if not (root / "pyproject.toml").is_file():
        raise CaselinkError(
            f"{root} is not a caselink source tree (no pyproject.toml): the light install is "
            "built from a checkout"
        )
    return root


_NOT_SOURCE = ("build", "dist", "bench", "demo-out", "caselink-state")


def source_copy(root: Path, dest: Path) -> Path:
    """The project's files copied to ``dest``, so that building a wheel leaves nothing in the
    checkout: those git tracks, or would (no virtualenv, no build output); in a tree that is
    not a git checkout (an unpacked source archive), every file but virtualenvs, caches and
    build output."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        skip = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "*.pyc", *_NOT_SOURCE)
        shutil.copytree(root, dest, ignore=skip, symlinks=True)
        return dest
    files = [f.decode() for f in listed if f and (root / f.decode()).is_file()]
    dest.mkdir(parents=True)
    with tempfile.TemporaryFile() as buf:
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for f in files:
                tar.add(root / f, arcname=f)
        buf.seek(0)
        with tarfile.open(fileobj=buf, mode="r") as tar:
            tar.extractall(dest, filter="data")
    return dest


def _run(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=1800, **kwargs
    )
    if done.returncode != 0:
        raise CaselinkError(
            f"{' '.join(map(str, args[:4]))} … failed (exit {done.returncode}):\n"
            f"{done.stderr[-3000:]}"
        )
    return done


def build_wheelhouse(source: Path, wheelhouse: Path, python: str = sys.executable) -> float:
    """caselink's wheel and its base dependencies' wheels in ``wheelhouse`` (needs the
    package index, or pip's cache); returns the seconds it took."""
    start = time.perf_counter()
    _run([python, "-m", "pip", "wheel", "--quiet", "--wheel-dir", wheelhouse, source])
    return time.perf_counter() - start


def _base_python() -> str:
    """The interpreter that made this virtualenv (a fresh venv is made from it)."""
    return getattr(sys, "_base_executable", sys.executable)


def install_offline(wheelhouse: Path, venv: Path, *, bytecode: bool = True) -> float:
    """A fresh virtualenv at ``venv`` with caselink from ``wheelhouse`` alone (no index);
    returns the seconds it took, the virtualenv's creation included. ``bytecode=False``
    leaves out compiling every installed module ahead (pip's ``--no-compile``; Python then
    compiles what it imports, when it imports it): the same files installed; pip's part
    took 3.5 s against 13 s here (2 cores, quiet, 2026-12-05)."""
    start = time.perf_counter()
    _run([_base_python(), "-m", "venv", venv])
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index"]
    if not bytecode:
        pip.append("--no-compile")
    _run([*pip, "--find-links", wheelhouse, "caselink"], env=_no_pip_config())
    return time.perf_counter() - start


def _no_pip_config() -> dict[str, str]:
    """This environment without pip settings that could add an index or a constraint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env.pop("PYTHONPATH", None)  # the installed package, not a checkout
    return env


def installed(venv: Path) -> dict[str, str]:
    """The distributions in ``venv``, by normalised name, with their versions."""
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): d.version "
        "for d in m.distributions()}))"
    )
    import json

    return dict(json.loads(_run([venv / "bin" / "python", "-c", code]).stdout))


def _size_mb(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 2**20


@dataclass(frozen=True)
class LightInstall:
    wheelhouse_s: float
    install_s: float
    wheelhouse_mb: float
    venv_mb: float
    distributions: dict[str, str]


def light_install(work: Path) -> LightInstall:
    """Build a wheelhouse from this checkout and install it offline under ``work``."""
    source = source_copy(project_root(), work / "src")
    wheelhouse = work / "wheelhouse"
    built = build_wheelhouse(source, wheelhouse)
    took = install_offline(wheelhouse, work / "venv")
    return LightInstall(
        wheelhouse_s=built,
        install_s=took,
        wheelhouse_mb=_size_mb(wheelhouse),
        venv_mb=_size_mb(work / "venv"),
        distributions=installed(work / "venv"),
    )


def bench_light_install() -> dict[str, Any]:
    """Time and size of the light install (``pip install caselink``), offline from a
    wheelhouse; and ``caselink --help`` in it."""
    with tempfile.TemporaryDirectory(prefix="caselink-light-") as tmp:
        work = Path(tmp)
        done = light_install(work)
        cli = work / "venv" / "bin" / "caselink"
        helps = []
        for _ in range(3):
            start = time.perf_counter()
            _run([cli, "--help"], env=_no_pip_config())
            helps.append(time.perf_counter() - start)
        heavy = sorted(set(HEAVY) & set(done.distributions))
        shutil.rmtree(work / "src")
    return {
        "what": "pip install caselink (the encoder alone) into a fresh venv, offline, from a "
        "wheelhouse built by pip wheel from this checkout (pip's cache warm)",
        "wheelhouse_seconds": round(done.wheelhouse_s, 1),
        "install_seconds": round(done.install_s, 1),
        "wheelhouse_mb": round(done.wheelhouse_mb, 1),
        "venv_mb": round(done.venv_mb, 1),
        "distributions": len(done.distributions),
        "distribution_names": sorted(done.distributions),
        "heavy_present": heavy,
        "help_seconds_median": round(sorted(helps)[1], 2),
    }
