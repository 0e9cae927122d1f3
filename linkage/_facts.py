"""What a record's batch says besides its filter, as linkage keeps it: household group,
relationship and consent scopes (the contract is :mod:`bloom._households`).

In memory, per record, three aligned arrays:

* ``groups`` -- ``uint64`` household pseudonym, ``0`` = no group;
* ``relationships`` -- ``int8`` index into :data:`bloom._households.RELATIONSHIPS`, ``-1`` =
  not given;
* ``consent`` -- object array: the sorted scope codes joined by one space (``""`` = no
  scope), or ``None`` where the batch said nothing about consent (every purpose, as before).

In the registry (``registry_records``), three nullable columns: ``group_key`` (``BIGINT``:
the pseudonym's signed 64-bit view, NULL = no group), ``relationship`` (``SMALLINT``, NULL =
not given) and ``consent`` (text, NULL = nothing said; ``""`` = no scope). A record of a batch
without these facts is stored with NULLs and behaves as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bloom import EncodedBatch
from bloom._households import RELATIONSHIPS, SCOPE_PATTERN, join_scopes
from linkage._types import LinkageError

__all__ = [
    "RecordFacts",
    "batch_facts",
    "scopes_text",
]


@dataclass(frozen=True, eq=False)
class RecordFacts:
    """Household group, relationship and consent of each of ``n`` records (module docstring)."""

    groups: np.ndarray  # uint64
    relationships: np.ndarray  # int8
    consent: np.ndarray  # object: str or None

    @classmethod
    def none(cls, n: int) -> RecordFacts:
        """``n`` records of which nothing is said."""
        return cls(np.zeros(n, np.uint64), np.full(n, -1, np.int8), np.full(n, None, dtype=object))

    @classmethod
    def of(
        cls,
        n: int,
        groups: np.ndarray | None,
        relationships: np.ndarray | None,
        consent: np.ndarray | None,
    ) -> RecordFacts:
        """The facts of ``n`` records from optional arrays (``None``: nothing said)."""
        none = cls.none(n)
        return cls(
            none.groups if groups is None else np.asarray(groups, np.uint64),
            none.relationships if relationships is None else np.asarray(relationships, np.int8),
            none.consent if consent is None else np.asarray(consent, dtype=object),
        )

    @classmethod
    def concat(cls, parts: Sequence[RecordFacts]) -> RecordFacts:
        if not parts:
            return cls.none(0)
        return cls(
            np.concatenate([p.groups for p in parts]).astype(np.uint64),
            np.concatenate([p.relationships for p in parts]).astype(np.int8),
            np.concatenate([p.consent for p in parts]).astype(object),
        )

    def take(self, rows: np.ndarray) -> RecordFacts:
        return RecordFacts(self.groups[rows], self.relationships[rows], self.consent[rows])

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def has_groups(self) -> bool:
        return bool(self.groups.any())

    # -- the registry's columns ----------------------------------------------------------------
    def stored(self) -> list[tuple[int | None, int | None, str | None]]:
        """Per record ``(group_key, relationship, consent)`` as the registry's columns hold
        them: the group's signed 64-bit view, NULL for no group or relationship."""
        signed = self.groups.view(np.int64).tolist()
        groups = [g if g else None for g in signed]
        rel = [r if r >= 0 else None for r in self.relationships.tolist()]
        return list(zip(groups, rel, self.consent.tolist(), strict=True))

    @classmethod
    def from_stored(cls, rows: Sequence[Sequence[Any]]) -> RecordFacts:
        """From rows ``(group_key, relationship, consent)`` read from the registry."""
        n = len(rows)
        groups = np.fromiter((r[0] or 0 for r in rows), np.int64, n).view(np.uint64)
        rel = np.fromiter((-1 if r[1] is None else r[1] for r in rows), np.int8, n)
        consent = np.empty(n, dtype=object)
        consent[:] = [r[2] for r in rows]
        return cls(groups, rel, consent)


def batch_facts(batch: EncodedBatch, k: int) -> tuple[RecordFacts, list[str]]:
    """The facts of batch ``k`` (1-based, for messages) and the problems with them: arrays of
    another length than the batch, relationship codes out of range, badly formed consent."""
    n, name, problems = len(batch), f"batch {k} ({batch.metadata.agency})", []
    given = {"groups": batch.groups, "relationships": batch.relationships, "consent": batch.consent}
    for field, values in given.items():
        if values is not None and np.shape(values) != (n,):
            problems.append(f"{name}: {field} holds {np.shape(values)} values for {n} records")
    if problems:
        return RecordFacts.none(n), problems
    facts = RecordFacts.of(n, batch.groups, batch.relationships, batch.consent)
    bad = (facts.relationships < -1) | (facts.relationships >= len(RELATIONSHIPS))
    if bad.any():
        problems.append(
            f"{name}: {int(bad.sum())} relationship codes are outside -1..{len(RELATIONSHIPS) - 1}"
        )
    if batch.consent is not None:
        texts = {c for c in facts.consent.tolist() if c is not None}
        wrong = sum(not isinstance(t, str) or t != _canonical(t) for t in texts)
        if wrong:
            problems.append(
                f"{name}: {wrong} distinct consent values are not scope codes sorted and "
                "joined by one space (encode the register again)"
            )
    return facts, problems


def _canonical(text: str) -> str | None:
    parts = text.split(" ") if text else []
    if not all(SCOPE_PATTERN.match(p) for p in parts):
        return None
    return join_scopes(parts)


def scopes_text(scopes: Iterable[str] | None) -> str | None:
    """The stored form of a record's consent scopes (``None``: nothing said); a badly formed
    scope code raises :class:`LinkageError` (not echoed: a scope is the agency's, but a wrong
    one may hold anything)."""
    if scopes is None:
        return None
    if isinstance(scopes, str):
        raise LinkageError("give the consent scopes as a list of scope codes, not one string")
    listed = list(scopes)
    bad = sum(not isinstance(s, str) or not SCOPE_PATTERN.match(s) for s in listed)
    if bad:
        raise LinkageError(
            f"{bad} consent scopes are not scope codes (a lowercase letter, then up to 31 "
            "lowercase letters, digits, '_' or '-')"
        )
    return join_scopes(listed)
