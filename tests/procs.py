"""The processes of this machine as Linux's ``/proc`` lists them: what the tests about Ray's
own processes (its raylet, its workers) look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple


class Proc(NamedTuple):
    pid: int
    ppid: int
    argv: list[str]
    path: Path  # its /proc folder: environ, status, ...


def processes() -> Iterator[Proc]:
    """Every process that can be read now (one that ends meanwhile, or is not ours to read,
    is left out)."""
    for path in Path("/proc").iterdir():
        if not path.name.isdigit():
            continue
        try:
            ppid = int((path / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (path / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, ValueError, IndexError):
            continue
        yield Proc(int(path.name), ppid, argv, path)
