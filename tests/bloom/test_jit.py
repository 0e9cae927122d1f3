"""Every kernel is compiled once per machine: a process that needs a kernel another process is
compiling waits for it and loads it from numba's cache (:mod:`bloom._jit`)."""

from __future__ import annotations

import ast
import fcntl
import functools
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

from bloom._jit import _machine_lock, compile_lock_path, njit

KERNELS = """
from bloom._jit import njit


@njit
def inner(x):
    return x + 1


@njit(nogil=True)
def outer(a):
    s = 0
    for v in a:
        s += inner(v)
    return s
"""

# a second process: compile `outer` for int64 arrays and say where it got it from
CALLER = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
kern = __import__(sys.argv[2])
assert kern.outer(np.arange(3, dtype=np.int64)) == 6
stats = kern.outer.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def _kernels(where: Path):
    """A fresh module of two kernels in ``where`` (its numba cache beside it, empty)."""
    name = f"kern_{uuid.uuid4().hex}"
    (where / f"{name}.py").write_text(KERNELS)
    spec = importlib.util.spec_from_file_location(name, where / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba names a cached kernel's module: it must be importable
    spec.loader.exec_module(module)
    return name, module


def _waiting_on(path: Path, pid: int) -> bool:
    """Whether process ``pid`` waits for the flock of ``path`` (a ``->`` line of /proc/locks)."""
    inode = os.stat(path).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and "FLOCK" in fields:
            rest = fields[fields.index("->") + 1 :]
            if int(rest[3]) == pid and int(rest[4].rsplit(":", 1)[1]) == inode:
                return True
    return False


def test_a_kernel_and_the_kernel_it_calls_compile_into_the_cache(tmp_path):
    _, kern = _kernels(tmp_path)
    assert kern.outer(np.arange(4, dtype=np.int64)) == 10
    assert sum(kern.outer.stats.cache_misses.values()) == 1
    # numba's index files: <module>.<kernel>-<line>.py311.nbi, one per kernel compiled
    saved = {p.name.split(".")[1].split("-")[0] for p in (tmp_path / "__pycache__").glob("*.nbi")}
    assert saved == {"inner", "outer"}
    assert compile_lock_path(kern.outer.py_func).exists()
    assert compile_lock_path(kern.inner.py_func) != compile_lock_path(kern.outer.py_func)


def test_a_process_waits_for_the_kernel_another_is_compiling_and_loads_it_from_the_cache(
    tmp_path,
):
    name, kern = _kernels(tmp_path)
    lock = compile_lock_path(kern.outer.py_func)
    with _machine_lock(lock):  # this process is "compiling" outer
        other = subprocess.Popen(
            [sys.executable, "-c", CALLER, str(tmp_path), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300  # a safety net only: the wait is for an event
        while not _waiting_on(lock, other.pid):
            assert other.poll() is None, (
                f"the other process compiled without waiting: {other.communicate()}"
            )
            assert time.monotonic() < deadline, "the other process never reached the lock"
            time.sleep(0.05)
        # it waits: compile here (the lock is this process's already), into the cache
        assert kern.outer(np.arange(3, dtype=np.int64)) == 6
        assert sum(kern.outer.stats.cache_misses.values()) == 1
    out, err = other.communicate(timeout=300)
    assert other.returncode == 0, err
    assert json.loads(out) == {"hits": 1, "misses": 0}


def test_a_kernel_compiles_without_the_lock_where_no_lock_file_can_be_made(tmp_path, monkeypatch):
    """The lock only saves work: where its folder cannot be made (here a file is in the way),
    the kernel compiles as numba alone would."""
    import bloom._jit

    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    monkeypatch.setattr(bloom._jit, "LOCK_DIR", in_the_way / "locks")
    (tmp_path / "src").mkdir()
    _, kern = _kernels(tmp_path / "src")
    assert compile_lock_path(kern.outer.py_func).parent == in_the_way / "locks"
    assert kern.outer(np.arange(3, dtype=np.int64)) == 6
    assert sum(kern.outer.stats.cache_misses.values()) == 1


def test_a_child_forked_while_a_kernel_compiles_does_not_keep_its_lock(tmp_path):
    """A flock lasts while any descriptor of it is open, and a fork copies them: the child
    closes its copies, so the lock is free once the compiling thread is done."""
    path = tmp_path / "kernel.lock"
    held, release = threading.Event(), threading.Event()

    def compiling() -> None:
        with _machine_lock(path):
            held.set()
            release.wait()

    thread = threading.Thread(target=compiling)
    thread.start()
    assert held.wait(timeout=300)
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child (its at-fork hooks have run) says so, then idles till the end
        os.close(w)
        os.write(ready_w, b"r")
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    os.close(ready_w)
    try:
        assert os.read(ready_r, 1) == b"r"  # the child is past its hooks: no race with them
        os.close(ready_r)
        release.set()
        thread.join()
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
        finally:
            os.close(fd)
    finally:
        os.write(w, b"x")
        os.close(w)
        os.waitpid(pid, 0)


def test_njit_takes_numbas_options_by_keyword_only():
    with pytest.raises(TypeError, match="by keyword"):
        njit("int64(int64)")


ROOT = Path(__file__).resolve().parents[2]
OWN = ("bloom", "blocking", "linkage", "evaluation", "service")
NUMBA_COMPILERS = {"jit", "njit", "vectorize", "guvectorize", "cfunc", "stencil"}


@functools.cache
def _parsed(path: Path) -> ast.Module:
    """A module of the project, parsed once for this file's source checks."""
    return ast.parse(path.read_text(), str(path))


def test_no_module_compiles_with_numbas_own_decorators():
    """Each kernel is ``bloom._jit.njit``'s (cached on disk, locked per machine): no module of
    the project imports numba's compilers itself, as ``from numba import njit`` or
    ``numba.njit``."""
    found = []
    for package in OWN:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "bloom" / "_jit.py":
                continue
            for node in ast.walk(_parsed(path)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("numba"):
                    found += [f"{path}: {a.name}" for a in node.names if a.name in NUMBA_COMPILERS]
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in NUMBA_COMPILERS
                    and isinstance(node.value, ast.Name)
                    and node.value.id in ("numba", "nb")
                ):
                    found.append(f"{path}:{node.lineno}: numba.{node.attr}")
    assert found == []


def _kernels_of(path: Path) -> list[ast.FunctionDef]:
    """The functions of ``path`` decorated with an ``njit`` (bare or called)."""
    return [
        node
        for node in ast.walk(_parsed(path))
        if isinstance(node, ast.FunctionDef)
        and any(
            "njit" in {n.id for n in ast.walk(d) if isinstance(n, ast.Name)}
            for d in node.decorator_list
        )
    ]


def _array_slice_assignments(kernel: ast.FunctionDef) -> list[int]:
    """Lines of ``kernel`` assigning to a slice from anything but a constant."""
    found = []
    for node in ast.walk(kernel):
        if not isinstance(node, ast.Assign | ast.AugAssign):
            continue
        value = node.value.operand if isinstance(node.value, ast.UnaryOp) else node.value
        if isinstance(value, ast.Constant):
            continue
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            if isinstance(target, ast.Subscript) and any(
                isinstance(part, ast.Slice) for part in ast.walk(target.slice)
            ):
                found.append(node.lineno)
    return found


def test_no_kernel_assigns_an_array_to_a_slice():
    """Each kernel that assigns an array to a slice (``out[lo:hi] = src``) has numba compile
    its shape-mismatch message with it, ~2 s of CPU a process on a cold cache (bloom._jit):
    kernels copy arrays by index. Fails on ``out[lo:hi] = src``; ``out[:] = 0`` is cheap."""
    kernels = [
        (path, kernel)
        for package in OWN
        for path in sorted((ROOT / package).rglob("*.py"))
        for kernel in _kernels_of(path)
    ]
    assert len(kernels) > 50
    found = [
        f"{path.relative_to(ROOT)}:{line} {kernel.name}"
        for path, kernel in kernels
        for line in _array_slice_assignments(kernel)
    ]
    assert found == []


def test_the_slice_check_finds_an_array_copied_to_a_slice():
    kernel = ast.parse(
        "@njit\ndef k(out, src, n):\n    out[:] = 0\n    out[1:] = -1\n    out[2 : 2 + n] = src\n"
        "    out[:n] += src\n"
    ).body[0]
    assert isinstance(kernel, ast.FunctionDef)
    assert _array_slice_assignments(kernel) == [5, 6]


def test_the_kernels_are_compiled_by_bloom_jit():
    from bloom import _bitops
    from linkage import _kernels

    kernels = [
        v for m in (_bitops, _kernels) for v in vars(m).values() if isinstance(v, Dispatcher)
    ]
    assert len(kernels) > 20
    for kernel in kernels:
        assert "compile" in vars(kernel), f"{kernel.__name__} is not compiled by bloom._jit"
        assert kernel._cache.__class__.__name__ == "FunctionCache", kernel.__name__


def test_the_lock_of_a_kernel_is_the_same_for_every_process(tmp_path):
    name, kern = _kernels(tmp_path)
    here = compile_lock_path(kern.outer.py_func)
    there = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                sys.path.insert(0, sys.argv[1])
                from bloom._jit import compile_lock_path
                print(compile_lock_path(__import__(sys.argv[2]).outer.py_func))
                """
            ),
            str(tmp_path),
            name,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(there) == here


def test_read_only_is_a_view_that_cannot_be_written():
    from bloom._jit import read_only

    a = np.arange(6, dtype=np.uint64).reshape(2, 3)
    view = read_only(a)
    assert np.shares_memory(view, a) and not view.flags.writeable and a.flags.writeable
    with pytest.raises(ValueError):
        view[0, 0] = 1
    a[0, 0] = 7  # the caller's array stays its own
    assert view[0, 0] == 7
