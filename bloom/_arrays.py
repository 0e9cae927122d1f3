"""Array aliases for annotations, by element type: they tell the type checker what
a kernel reads and returns (numba ignores annotations)."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = ["Bools", "F64", "I32", "I64", "Int", "Ints", "U8", "U32", "U64"]

U64: TypeAlias = NDArray[np.uint64]  # filters: (n, words), bit p in word p // 64
U8: TypeAlias = NDArray[np.uint8]  # bytes
U32: TypeAlias = NDArray[np.uint32]
I32: TypeAlias = NDArray[np.int32]
I64: TypeAlias = NDArray[np.int64]
F64: TypeAlias = NDArray[np.float64]
Bools: TypeAlias = NDArray[np.bool_]
Ints: TypeAlias = NDArray[np.integer[Any]]  # indices, offsets, codes: any integer dtype
Int: TypeAlias = int | np.integer[Any]  # one index: Python's int or a numpy integer
