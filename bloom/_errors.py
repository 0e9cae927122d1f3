"""Exceptions raised by caselink.

Every error a user can cause is a :class:`CaselinkError`; the tree is small and flat::

    CaselinkError
    ├── SecretError          the shared secret is missing or malformed
    └── ProblemListError     carries every problem found (``.problems``), raised once
        ├── SchemaError      the linkage schema is invalid
        ├── EncodingError    an input register cannot be encoded (names rows and columns)
        ├── BatchError       an encoded batch file is missing, altered or not a caselink batch
        └── LinkageError     (in ``linkage``) bad input to a linkage function

Messages say what is wrong and what to do about it. They locate data problems by row number
and column name and never contain the value of an identifier: an error message ends up in
logs, and a log must never hold personal data.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BatchError",
    "CaselinkError",
    "EncodingError",
    "ProblemListError",
    "SchemaError",
    "SecretError",
]


class CaselinkError(Exception):
    """Base class of every error caselink raises on purpose."""


class ProblemListError(CaselinkError):
    """An error that carries every problem found, not just the first (``.problems``)."""

    headline = "problems found"

    def __init__(self, problems: str | Sequence[str], *, headline: str | None = None) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        head = headline or self.headline
        if len(self.problems) == 1:
            message = f"{head}: {self.problems[0]}"
        else:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{head} ({len(self.problems)} problems):\n{listed}"
        super().__init__(message)


class SchemaError(ProblemListError):
    """The linkage schema document is invalid."""

    headline = "invalid linkage schema"


class SecretError(CaselinkError):
    """The shared secret could not be read or has the wrong form."""


class EncodingError(ProblemListError):
    """The input register cannot be encoded as it is."""

    headline = "cannot encode the input"


class BatchError(ProblemListError):
    """An encoded batch file is not a valid caselink batch."""

    headline = "invalid encoded batch"
