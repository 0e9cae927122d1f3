"""What an uploaded record's batch said besides its filter, as ``batch_records`` keeps it.

A batch may carry, per record, its household pseudonym, relationship and consent scopes
(:mod:`bloom._households`; ``EncodedBatch.groups``, ``relationships``, ``consent``). Each is
optional: a batch without one says nothing of it. Until a run moves the record into the
registry they are kept in three nullable columns of ``batch_records``:

* ``group_key`` -- the uint64 pseudonym's signed 64-bit view; NULL for no group (``0``);
* ``relationship`` -- the int8 code; NULL for not given (``-1``);
* ``consent`` -- the sorted scope codes joined by one space (``""``: no scope); NULL when
  nothing was said (every purpose, as before).

:func:`stored_facts` turns a batch's arrays into the columns' values, :func:`loaded_facts`
turns the columns back into a batch's arrays — ``None`` for a fact no record holds, so a
batch stored without them is rebuilt exactly as it was. A record whose consent an agency set
later (:mod:`service._consent`) may hold consent while others of its batch hold NULL: the
rebuilt array then holds ``None`` for those (nothing said).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import bloom

__all__ = ["FACT_COLUMNS", "LoadedFacts", "has_facts", "loaded_facts", "stored_facts"]

FACT_COLUMNS = ("group_key", "relationship", "consent")


def has_facts(batch: bloom.EncodedBatch) -> bool:
    """Whether the batch carries any of the three columns."""
    return any(x is not None for x in (batch.groups, batch.relationships, batch.consent))


def stored_facts(batch: bloom.EncodedBatch) -> list[tuple[int | None, int | None, str | None]]:
    """Per record ``(group_key, relationship, consent)`` as ``batch_records`` holds them."""
    n = len(batch)
    groups: list[int | None] = [None] * n
    if batch.groups is not None:
        signed = np.ascontiguousarray(batch.groups, dtype=np.uint64).view(np.int64).tolist()
        groups = [g if g else None for g in signed]
    relationships: list[int | None] = [None] * n
    if batch.relationships is not None:
        relationships = [r if r >= 0 else None for r in np.asarray(batch.relationships).tolist()]
    consent: list[str | None] = [None] * n
    if batch.consent is not None:
        consent = [None if c is None else str(c) for c in np.asarray(batch.consent).tolist()]
    return list(zip(groups, relationships, consent, strict=True))


@dataclass(frozen=True)
class LoadedFacts:
    """The optional arrays of a batch rebuilt from its stored rows (None: nothing said)."""

    groups: np.ndarray | None
    relationships: np.ndarray | None
    consent: np.ndarray | None


def loaded_facts(rows: Sequence[Sequence[Any]]) -> LoadedFacts:
    """From stored rows ``(group_key, relationship, consent)``, in the batch's order."""
    n = len(rows)
    groups = relationships = consent = None
    if any(r[0] is not None for r in rows):
        groups = np.fromiter((r[0] or 0 for r in rows), np.int64, n).view(np.uint64)
    if any(r[1] is not None for r in rows):
        relationships = np.fromiter((-1 if r[1] is None else r[1] for r in rows), np.int8, n)
    if any(r[2] is not None for r in rows):
        consent = np.empty(n, dtype=object)
        consent[:] = [r[2] for r in rows]
    return LoadedFacts(groups, relationships, consent)
