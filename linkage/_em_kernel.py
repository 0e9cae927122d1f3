"""Compiled inner loops of the mixture's EM (:func:`linkage._fellegi._em_classes`).

One EM iteration over the distinct comparison patterns reads, per pattern and class, one
log-probability per segment, and adds the pattern's weight to one cell per segment of each
class's table. In numpy that was a fancy-indexed log and a ``np.add.at`` per class and
segment on every iteration (about 5 ms an iteration on the ~14,000 patterns of a
1,000,000-people run, four fits of up to 500 iterations); here each is one pass over the
patterns. Missing segments (level -1) are left out, as everywhere in the model. The sums run
in the order numpy's did (segments of a pattern in order, patterns in order), and logs and
exponentials stay in numpy, so a fit is the same to the last few bits.
"""

from __future__ import annotations

from numba import njit

from bloom._arrays import F64, I64

__all__ = ["add_weights", "class_log_likelihoods"]


@njit(cache=True, nogil=True)
def class_log_likelihoods(  # pragma: no cover - compiled
    patterns: I64, log_tables: F64, log_shares: F64, out: F64
) -> None:
    """``out[p, c] = log_shares[c] + sum_s log_tables[c, s, patterns[p, s]]`` over the
    segments present (level >= 0): each pattern's log-likelihood under each class."""
    for p in range(patterns.shape[0]):
        for c in range(log_tables.shape[0]):
            total = 0.0
            for s in range(patterns.shape[1]):
                level = patterns[p, s]
                if level >= 0:
                    total += log_tables[c, s, level]
            out[p, c] = log_shares[c] + total


@njit(cache=True, nogil=True)
def add_weights(  # pragma: no cover - compiled
    patterns: I64, weight: F64, tables: F64, shares: F64, shared: int
) -> None:
    """Add each pattern's class weights ``weight[p, c]`` to ``tables[c, s, level]`` for each
    segment present, and, for the first ``shared`` patterns, to ``shares[c]``."""
    for p in range(patterns.shape[0]):
        for c in range(weight.shape[1]):
            w = weight[p, c]
            if p < shared:
                shares[c] += w
            for s in range(patterns.shape[1]):
                level = patterns[p, s]
                if level >= 0:
                    tables[c, s, level] += w
