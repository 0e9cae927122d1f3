"""The interchange types of blocking, named once.

* filters: ``(n, words)`` C-ordered ``uint64`` arrays, one Bloom filter per row.
* :class:`PairIndices`: two equal-length ``int64`` arrays ``(i, j)``; pair ``k`` says
  row ``i[k]`` of side a may match row ``j[k]`` of side b. Pairs are unique and sorted by
  ``(i, j)``. Linkage scores them; blocking never computes a similarity.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["Filters", "PairIndices", "RowIndex"]

Filters = npt.NDArray[np.uint64]
RowIndex = npt.NDArray[np.int64]


class PairIndices(NamedTuple):
    """Unique candidate pairs: row ``i[k]`` of side a with row ``j[k]`` of side b."""

    i: RowIndex
    j: RowIndex
