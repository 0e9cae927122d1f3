"""The interchange types of linkage, named once.

Candidate pairs travel between stages (blocking → scoring → calibration → clustering) as
three aligned arrays, never as Python tuples per pair::

    CandidatePairs(i=int64[p], j=int64[p], score=float64[p])

The errors linkage raises (``LinkageError``, ``DataKeyError``, ``SealedValueError``,
``RegistryError``, ``CaseIdError``, ``RunMemoryError``) are defined with the whole tree in
:mod:`caselink_errors` and re-exported here and by :mod:`linkage`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caselink_errors import DataKeyError, LinkageError, SealedValueError

__all__ = [
    "CandidatePairs",
    "DataKeyError",
    "LinkEnd",
    "LinkageError",
    "NewRecordRef",
    "SealedValueError",
]


def _aligned(name: str, values: object, dtype: type[np.generic]) -> np.ndarray:
    """``values`` as a 1-D array of ``dtype``, converting only where no information is lost."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise LinkageError(f"CandidatePairs.{name} must be 1-D, got {arr.ndim} dimensions")
    if arr.size == 0:
        return np.empty(0, dtype=dtype)
    if not np.can_cast(arr.dtype, dtype, casting="safe"):
        raise LinkageError(
            f"CandidatePairs.{name} must hold {np.dtype(dtype).name}, got {arr.dtype}"
        )
    return np.ascontiguousarray(arr, dtype=dtype)


@dataclass(frozen=True, eq=False)
class CandidatePairs:
    """Scored candidate pairs: row ``i[t]`` of side a against row ``j[t]`` of side b.

    ``score`` is the Dice coefficient of the two filters. Arrays are aligned (same length)
    and, as produced by :func:`linkage.candidates`, sorted by ``(i, j)``. Compare two
    instances array by array (``eq`` is off: element-wise ``==`` has no single truth value).
    """

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        i = _aligned("i", self.i, np.int64)
        j = _aligned("j", self.j, np.int64)
        score = _aligned("score", self.score, np.float64)
        if not len(i) == len(j) == len(score):
            raise LinkageError(
                f"CandidatePairs arrays must be aligned: len(i)={len(i)}, len(j)={len(j)}, "
                f"len(score)={len(score)}"
            )
        object.__setattr__(self, "i", i)
        object.__setattr__(self, "j", j)
        object.__setattr__(self, "score", score)

    def __len__(self) -> int:
        return int(self.i.shape[0])

    @classmethod
    def empty(cls) -> CandidatePairs:
        """No pairs."""
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))


@dataclass(frozen=True)
class NewRecordRef:
    """The ``index``-th new record of a run (0-based, in ``RegistryUpdate.new_refs`` order):
    its registry id is given when the run is stored."""

    index: int


LinkEnd = int | NewRecordRef  # an existing record's registry id, or a record the run adds
