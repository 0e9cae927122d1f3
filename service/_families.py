"""Family tracing: what the answer to a query says of each sought family as a whole.

A tracer encodes a sought family with the same CLI as any register: its members share a
``household_id`` (pseudonymised into the batch's ``groups`` with the tracer's secret and
agency: :mod:`bloom._households`), each with a relationship. Each member is searched as any
sought person is (its cases, with confidence and the agencies holding them). Then, per
family (the query rows sharing one non-zero group, in the order the query first names it):

* ``members_found`` -- the members with at least one case;
* ``households`` -- per agency, the members whose *best* case has a record registered in one
  household there with the best case of another member (two distinct cases: one record
  found for two members is not two people registered together). Said as the agency's name
  and the members' own query refs: never another agency's ref, nor its household's key;
* ``found_together`` -- the members in any of those households.

Only what the answer shows counts: cases at or above the query's ``min_confidence``, and
records whose consent covers the scope the query's purpose needs (the index leaves the others
out of a hit's agencies and households alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from linkage import CaseHit

__all__ = ["FamilyFound", "family_view"]


@dataclass(frozen=True)
class FamilyFound:
    """One sought family in the answer: rows are positions in the query."""

    members: tuple[int, ...]
    found: tuple[int, ...]
    together: tuple[int, ...]
    households: tuple[tuple[str, tuple[int, ...]], ...]  # (agency, member rows)


def _households(rows: Sequence[int], hits: Sequence[list[CaseHit]]) -> list[tuple[str, tuple]]:
    """(agency, member rows) of each household elsewhere holding the best cases of two or
    more members (distinct cases), ordered by agency then first member."""
    held: dict[tuple[str, int], dict[int, str]] = {}
    for row in rows:
        if not hits[row]:
            continue
        best = hits[row][0]
        for tag in best.households:
            held.setdefault((tag.agency, tag.group), {})[row] = best.case_id
    found = [
        (agency, tuple(sorted(members)))
        for (agency, _), members in held.items()
        if len(set(members.values())) >= 2
    ]
    return sorted(set(found))


def family_view(groups: np.ndarray, hits: Sequence[list[CaseHit]]) -> list[FamilyFound]:
    """The sought families of a query whose rows carry household ``groups`` (0: in none),
    given each row's hits as the answer shows them (module docstring)."""
    order: dict[int, list[int]] = {}
    for row, group in enumerate(np.asarray(groups, dtype=np.uint64).tolist()):
        if group:
            order.setdefault(int(group), []).append(row)
    out = []
    for rows in order.values():
        households = _households(rows, hits)
        together = sorted({r for _, members in households for r in members})
        out.append(
            FamilyFound(
                members=tuple(rows),
                found=tuple(r for r in rows if hits[r]),
                together=tuple(together),
                households=tuple(households),
            )
        )
    return out
