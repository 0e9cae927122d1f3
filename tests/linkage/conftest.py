"""Filter builders shared by the linkage tests (the Ray runtime is in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest


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
