"""``njit``: numba's compiler with its on-disk cache, each kernel compiled once per machine.

Every compiled kernel of caselink is ``@njit(...)`` from here, which is numba's ``njit`` with
``cache=True`` always on, and one thing more: compiling a kernel for a signature takes a lock
of that kernel's, shared by every process of this machine (``fcntl.flock`` on a file in
:data:`LOCK_DIR`). A process that needs a kernel another process is compiling waits for it,
then loads the compiled code from numba's cache instead of compiling it again.

Why: with numba's cache cold (a new deployment, a fresh checkout), the processes that start
together -- a service's Ray workers, replicas, the CLI beside them, a test run's workers --
each compiled the same kernels at once, paying a kernel's compile time once per process
rather than once per machine; and two of them saving the same kernel's cache index at once
could each drop the other's entry. The lock changes nothing else: the compiled code, the
cache and its place (numba's ``__pycache__``, or ``NUMBA_CACHE_DIR``) are numba's.

The lock is taken after numba's own in-process compiler lock (a re-entrant lock every
compilation holds), so a process holds at most the locks of one chain of kernels calling
kernels (compiling a kernel compiles the kernels it calls first); a kernel whose lock this
process already holds (a second signature while compiling the first) is not locked again.
Kernels do not call themselves, so two processes never wait on each other. A process that
dies holding a lock releases it (the kernel frees a ``flock`` with its file). Where no lock
file can be made (a read-only temporary directory), a kernel is compiled without one, as
numba alone would.

What a cold cache costs is numba's compile time, so kernels avoid what compiles slowly for
nothing: an array assigned to a slice (``out[lo:hi] = src``) has numba compile the message
of its shape-mismatch error (string formatting of two shapes) along with the kernel, ~2.2 s
of CPU a process on these machines against ~0.1 s for the same kernel copying by index; so
kernels copy arrays by index (``tests/bloom/test_jit.py`` holds them to it). A constant
assigned to a slice (``out[:] = 0``) compiles no message.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, Unpack, overload

import numba
import numpy as np
from numba.core.compiler_lock import global_compiler_lock

if TYPE_CHECKING:
    from numba.core.decorators import _JITOptions
    from numba.core.dispatcher import Dispatcher

__all__ = ["LOCK_DIR", "compile_lock_path", "njit", "read_only"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., object])


class _Decorator(Protocol):
    def __call__(self, func: F, /) -> Dispatcher[F]: ...


# one lock file per kernel (empty, never removed: the next compile reuses it), per user: a
# lock file another user made could not be opened here
LOCK_DIR = Path(tempfile.gettempdir()) / f"caselink-numba-locks-{os.getuid()}"

_held: dict[str, int] = {}  # lock path -> depth, in this process (under numba's lock)
_fds: dict[str, int] = {}  # lock path -> the descriptor holding its flock


def _forget_locks_in_child() -> None:
    """A process forked while another of its threads compiled holds that lock's descriptor
    too, and a ``flock`` lasts until its last descriptor closes: the child closes its copies
    (the parent still holds the lock) so that it never keeps another process waiting."""
    for fd in _fds.values():
        os.close(fd)
    _fds.clear()
    _held.clear()


os.register_at_fork(after_in_child=_forget_locks_in_child)


def compile_lock_path(py_func: Callable[..., Any]) -> Path:
    """The lock file of the kernel compiled from ``py_func``: named by its source file and
    qualified name, so every process of the machine finds the same one."""
    code = py_func.__code__
    key = f"{os.path.realpath(code.co_filename)}:{py_func.__qualname__}:{code.co_firstlineno}"
    digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    return LOCK_DIR / f"{py_func.__name__}-{digest}.lock"


@contextmanager
def _machine_lock(path: Path) -> Iterator[None]:
    key = str(path)
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:  # no lock to be had here: compile as numba alone would
        logger.debug("compiling without the machine-wide lock (%s): %s", path, e.strerror)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held[key], _fds[key] = 1, fd
        try:
            yield
        finally:
            del _held[key], _fds[key]
    finally:
        os.close(fd)  # releases the flock


def _locked(dispatcher: Any) -> Any:
    """``dispatcher`` whose ``compile`` holds its machine-wide lock (numba calls
    ``self.compile`` both for a call from Python and for a call from another kernel)."""
    compile_unlocked = dispatcher.compile
    path = compile_lock_path(dispatcher.py_func)

    def compile(sig: Any) -> Any:
        with global_compiler_lock, _machine_lock(path):
            return compile_unlocked(sig)

    dispatcher.compile = compile
    return dispatcher


def read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array`` (no copy), for the inputs a kernel only reads.

    numba compiles a kernel once per signature, and a read-only array is a type of its own:
    arrays from Ray's object store or from a Parquet buffer are read-only, those made in the
    process are not. A kernel whose callers pass either compiled twice (``walk_band`` of the
    LSH walk ~10 s of CPU a signature here, the exhaustive search's chain ~4 s); given
    read-only views everywhere it has one signature, and the kernel cannot write to them."""
    view = array.view()
    view.flags.writeable = False
    return view


@overload
def njit(func: F, /) -> Dispatcher[F]: ...
@overload
def njit(**options: Unpack[_JITOptions]) -> _Decorator: ...
def njit(*args: Any, **options: Any) -> Any:
    """numba's ``njit`` with ``cache=True``, compiled once per machine (module docstring).
    Used bare (``@njit``) or with numba's options (``@njit(nogil=True, parallel=True)``)."""
    if args and callable(args[0]) and len(args) == 1 and not options:
        return _locked(numba.njit(cache=True)(args[0]))
    if args:
        raise TypeError("njit takes numba's options by keyword; signatures are not used here")
    options["cache"] = True

    def decorate(func: Callable[..., object]) -> Any:
        return _locked(numba.njit(**options)(func))

    return decorate
