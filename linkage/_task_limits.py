"""Limits a linking task works within, in whatever process runs it: a lower CPU priority
(:func:`lower_priority`) and a memory budget (:func:`memory_budget`, past which the work
fails as :class:`RunMemoryError` and the process lives on). The run's own Ray task and every
task it starts apply both."""

from __future__ import annotations

import contextlib
import errno
import os
import resource
from collections.abc import Iterator
from pathlib import Path

from caselink_errors import RunMemoryError

__all__ = ["RunMemoryError", "budget_lifted", "limit_problems", "lower_priority", "memory_budget"]


def lower_priority(niceness: int) -> None:
    """Every thread of this process at nice value ``niceness`` or lower priority (POSIX; a
    no-op elsewhere). On Linux a nice value belongs to a thread, so each is set."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    tasks = Path("/proc/self/task")
    ids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for tid in ids:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except OSError:  # the thread ended meanwhile
            continue


def limit_problems(niceness: object, memory_gib: object) -> list[str]:
    """What is wrong with a nice value (a whole number 0-19) and a memory budget (GiB above
    0, or None), as messages naming each."""
    problems = []
    if isinstance(niceness, bool) or not isinstance(niceness, int) or not 0 <= niceness <= 19:
        problems.append(f"niceness must be a whole number from 0 to 19, got {niceness!r}")
    if memory_gib is not None and (
        isinstance(memory_gib, bool) or not isinstance(memory_gib, int | float) or memory_gib <= 0
    ):
        problems.append(f"memory_gib must be a number of GiB above 0, or None: {memory_gib!r}")
    return problems


@contextlib.contextmanager
def memory_budget(gib: float | None) -> Iterator[None]:
    """Allocations in this process beyond ``gib`` GiB of data (heap and private mappings:
    arrays, not the shared object store) fail while inside, as a :class:`RunMemoryError`
    naming the budget; the limit is lifted on the way out. ``None``: no budget. POSIX
    (RLIMIT_DATA); elsewhere no limit is set."""
    if gib is None or not hasattr(resource, "RLIMIT_DATA"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = int(gib * 2**30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield
    except (MemoryError, ImportError, OSError, RuntimeError) as e:
        if not isinstance(e, MemoryError) and not _out_of_memory(e):
            raise
        raise RunMemoryError(
            f"the run needed more than its memory budget of {gib:g} GiB and stopped; nothing "
            "was stored and the service carries on. Raise CASELINK_RUN_MEMORY_GIB on a host "
            "that has the memory, or link the agencies' batches in smaller runs"
        ) from None
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


@contextlib.contextmanager
def budget_lifted() -> Iterator[None]:
    """Inside a :func:`memory_budget`, no budget for a moment: for compiling the kernels a
    task is about to call (numba's compiler maps its code itself, and aborts the whole
    process when it cannot -- it must never meet the budget)."""
    if not hasattr(resource, "RLIMIT_DATA"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _out_of_memory(e: BaseException) -> bool:
    """An error that says memory could not be had: a library's segments that could not be
    mapped (a module imported lazily past the budget), a thread that could not start, or
    ENOMEM."""
    text = str(e)
    if isinstance(e, RuntimeError):  # a thread's stack could not be mapped
        return "can't start new thread" in text
    return getattr(e, "errno", None) == errno.ENOMEM or "failed to map segment" in text
