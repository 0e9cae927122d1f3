"""The one Ray runtime of a test session, and filter builders shared by the linkage tests."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import numpy as np
import pytest


@pytest.fixture(scope="session")
def ray_session():
    """A lean local Ray with two CPUs, started once through ``linkage.ensure_ray``.

    Records whether ``ensure_ray`` kept the SIGTERM handler installed before it, and shuts
    Ray down at the end only if this fixture started it.
    """
    import ray

    from linkage import ensure_ray

    def marker(signum, frame):  # pragma: no cover - never delivered
        pass

    previous = signal.signal(signal.SIGTERM, marker)
    try:
        started = ensure_ray(num_cpus=2, object_store_memory=100_000_000)
        kept = signal.getsignal(signal.SIGTERM) is marker
    finally:
        signal.signal(signal.SIGTERM, previous)
    yield SimpleNamespace(started=started, sigterm_kept=kept)
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def make_filters():
    """``make_filters(seed, n, m, words) -> (a, b)``: see :func:`linked_pair`."""
    return linked_pair


def pack(bits: np.ndarray) -> np.ndarray:
    """``(n, words*64)`` booleans → ``(n, words)`` uint64; bit p lands in word p//64, bit p%64."""
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)


def linked_pair(seed: int, n: int, m: int, words: int) -> tuple[np.ndarray, np.ndarray]:
    """Two sides with realistic structure: near-copies, exact duplicates, noise, empty rows.

    Row densities vary (0 to 0.9) so popcount pruning matters; b repeats some rows of a with
    a few flipped bits and some exactly (ties for top-k); a few rows are all zero.
    """
    rng = np.random.default_rng(seed)
    nbits = words * 64
    a_bits = rng.random((n, nbits)) < rng.uniform(0.0, 0.9, size=(n, 1))
    b_bits = rng.random((m, nbits)) < rng.uniform(0.0, 0.9, size=(m, 1))
    src = rng.integers(0, n, size=m)
    kind = rng.integers(0, 4, size=m)  # 0 noise, 1 near copy, 2 exact copy, 3 noise
    flips = rng.random((m, nbits)) < rng.uniform(0.0, 0.15, size=(m, 1))
    b_bits[kind == 1] = a_bits[src[kind == 1]] ^ flips[kind == 1]
    b_bits[kind == 2] = a_bits[src[kind == 2]]
    a_bits[rng.random(n) < 0.05] = False
    b_bits[rng.random(m) < 0.05] = False
    return pack(a_bits), pack(b_bits)
