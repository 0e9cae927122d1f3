"""SQLAlchemy rows as the repositories' frozen dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["typed"]

T = TypeVar("T")


def typed(cls: type[T], row: Any) -> T:
    """``cls`` made from the row's columns of the same names (other columns are left out)."""
    values = row._mapping
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
