"""The automatic candidate search: LSH above the size limit finds what exhaustive search finds."""

import numpy as np

from linkage import candidates, dice_pairs, search


def _planted(seed: int, n: int, words: int = 16):
    rng = np.random.default_rng(seed)
    bits = rng.random((n, words * 64)) < 0.4
    copy = bits.copy()
    drop = rng.random(copy.shape) < 0.05
    copy[drop & copy] = False
    pack = lambda x: np.packbits(x, axis=1, bitorder="little").view("<u8").astype(np.uint64)  # noqa: E731
    return pack(bits), pack(copy[rng.permutation(n)])


def test_lsh_path_finds_the_exhaustive_pairs():
    a, b = _planted(1, 3000)
    exact = candidates(a, b, 0.8, 5)
    lsh = search(a, b, 0.8, 5, method="lsh")
    found = set(zip(lsh.i.tolist(), lsh.j.tolist(), strict=True))
    wanted = set(zip(exact.i.tolist(), exact.j.tolist(), strict=True))
    assert len(wanted) >= 2900
    assert len(found & wanted) >= 0.99 * len(wanted)
    assert np.array_equal(lsh.score, dice_pairs(a, b, lsh.i, lsh.j))  # scored exactly
    assert np.all(lsh.score >= 0.8)


def test_small_inputs_search_exhaustively():
    a, b = _planted(2, 500)
    auto = search(a, b, 0.7, 3)
    exact = candidates(a, b, 0.7, 3)
    assert np.array_equal(auto.i, exact.i) and np.array_equal(auto.j, exact.j)
