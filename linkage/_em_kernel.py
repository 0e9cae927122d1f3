"""Compiled inner loops of the mixture's EM (:func:`linkage._fellegi._em_classes`).

One EM iteration over the distinct comparison patterns reads, per pattern and class, one
log-probability per segment, and adds the pattern's weight to one cell per segment of each
class's table. In numpy that was a fancy-indexed log, row-wise maxima and sums over a handful
of classes, and an ``np.add.at`` per class and segment, on every iteration (about 5 ms an
iteration on the ~14,000 patterns of a 1,000,000-people run, four fits of up to 500
iterations); here each is one pass over the patterns. Missing segments (level -1) are left
out, as everywhere in the model. The sums run in the order numpy's did (segments of a
pattern in order, classes in order, patterns in order), and logs and exponentials stay in
numpy, so a fit is the same to the last bit.
"""

from __future__ import annotations

from bloom._arrays import F64, I64
from bloom._jit import njit

__all__ = ["add_weights", "class_log_likelihoods"]


@njit(nogil=True)
def class_log_likelihoods(  # pragma: no cover - compiled
    patterns: I64, log_tables: F64, log_shares: F64, out: F64
) -> None:
    """``out[p, c]``: pattern p's log-likelihood under class c (``log_shares[c]`` plus
    ``log_tables[c, s, level]`` over the segments present), less the largest of its row --
    what ``exp`` turns into responsibilities without overflow."""
    classes = log_tables.shape[0]
    for p in range(patterns.shape[0]):
        for c in range(classes):
            total = 0.0
            for s in range(patterns.shape[1]):
                level = patterns[p, s]
                if level >= 0:
                    total += log_tables[c, s, level]
            out[p, c] = log_shares[c] + total
        top = out[p, 0]
        for c in range(1, classes):
            top = max(top, out[p, c])
        for c in range(classes):
            out[p, c] -= top


@njit(nogil=True)
def add_weights(  # pragma: no cover - compiled
    patterns: I64,
    resp: F64,
    counts: F64,
    held: I64,
    tables: F64,
    shares: F64,
    shared: int,
) -> None:
    """Share each pattern's count among the classes in proportion to ``resp[p]`` and add
    each class's part to ``tables[c, s, level]`` for each segment present, and, for the
    first ``shared`` patterns, to ``shares[c]``. ``held[p]``: -1 free; 1 a labelled match
    (class 0 alone); 0 a labelled non-match (every class but 0). ``resp`` is overwritten."""
    classes = resp.shape[1]
    for p in range(patterns.shape[0]):
        if held[p] == 1:
            resp[p, 0] = 1.0
            for c in range(1, classes):
                resp[p, c] = 0.0
        elif held[p] == 0:
            resp[p, 0] = 0.0
        total = 0.0
        for c in range(classes):
            total += resp[p, c]
        for c in range(classes):
            w = resp[p, c] / total * counts[p]
            if p < shared:
                shares[c] += w
            for s in range(patterns.shape[1]):
                level = patterns[p, s]
                if level >= 0:
                    tables[c, s, level] += w
