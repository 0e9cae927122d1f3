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
* ``found_together`` -- the members in any of those households;
* ``leads`` -- for a member with no case in the answer, the cases among its wider candidates
  (:data:`LEAD_CANDIDATES`, at any confidence) that have a record registered in one
  household with the best case of a found member. Each is a lead for the tracer to follow,
  with its own confidence (below the query's ``min_confidence``: it is not a match), the
  agency of that household and the found members it was registered with. A sought child whose
  mother was found and whose record at her agency sits in her household, written too
  differently to score as a match on its own, is found this way.

Only what the answer shows counts: cases at or above the query's ``min_confidence``, and
records whose consent covers the scope the query's purpose needs (the index leaves the others
out of a hit's agencies and households alike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from linkage import CaseHit

__all__ = ["LEAD_CANDIDATES", "FamilyFound", "FamilyLead", "family_view", "lead_rows"]

LEAD_CANDIDATES = 20  # cases searched per member not found, for leads through its relatives


@dataclass(frozen=True)
class FamilyLead:
    """A case for a member not found (``member``: its row in the query), registered in one
    household with the best cases of found members: per agency, the rows of those members
    (``households``)."""

    member: int
    case_id: str
    confidence: float
    agencies: tuple[str, ...]
    households: tuple[tuple[str, tuple[int, ...]], ...]  # (agency, found member rows)


@dataclass(frozen=True)
class FamilyFound:
    """One sought family in the answer: rows are positions in the query."""

    members: tuple[int, ...]
    found: tuple[int, ...]
    together: tuple[int, ...]
    households: tuple[tuple[str, tuple[int, ...]], ...]  # (agency, member rows)
    leads: tuple[FamilyLead, ...] = ()


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


def _families(groups: np.ndarray) -> list[list[int]]:
    """The query rows of each sought family (rows sharing one non-zero group), in the order
    the query first names each family."""
    order: dict[int, list[int]] = {}
    for row, group in enumerate(np.asarray(groups, dtype=np.uint64).tolist()):
        if group:
            order.setdefault(int(group), []).append(row)
    return list(order.values())


def lead_rows(groups: np.ndarray, hits: Sequence[list[CaseHit]]) -> list[int]:
    """The members worth a wider search for leads: not found, with a found relative whose
    best case sits in a household somewhere."""
    out = []
    for rows in _families(groups):
        if any(hits[r] and hits[r][0].households for r in rows):
            out += [r for r in rows if not hits[r]]
    return sorted(out)


def _leads(
    rows: Sequence[int], hits: Sequence[list[CaseHit]], wider: Mapping[int, list[CaseHit]]
) -> list[FamilyLead]:
    """Per member not found, its wider candidates registered in one household with a found
    member's best case (a distinct case: one record is one person), best first."""
    held: dict[tuple[str, int], set[int]] = {}
    best = {hits[r][0].case_id for r in rows if hits[r]}
    for r in rows:
        for tag in hits[r][0].households if hits[r] else ():
            held.setdefault((tag.agency, tag.group), set()).add(r)
    out = []
    for r in rows:
        if hits[r]:
            continue
        for hit in wider.get(r, ()):
            if hit.case_id in best:
                continue
            shared = sorted({(t.agency, t.group) for t in hit.households} & held.keys())
            if shared:
                households = tuple(
                    (agency, tuple(sorted(held[(agency, g)]))) for agency, g in shared
                )
                out.append(FamilyLead(r, hit.case_id, hit.confidence, hit.agencies, households))
    return out


def family_view(
    groups: np.ndarray,
    hits: Sequence[list[CaseHit]],
    wider: Mapping[int, list[CaseHit]] | None = None,
) -> list[FamilyFound]:
    """The sought families of a query whose rows carry household ``groups`` (0: in none),
    given each row's hits as the answer shows them, and ``wider``: the candidates of the
    members :func:`lead_rows` names, at any confidence (module docstring)."""
    out = []
    for rows in _families(groups):
        households = _households(rows, hits)
        together = sorted({r for _, members in households for r in members})
        out.append(
            FamilyFound(
                members=tuple(rows),
                found=tuple(r for r in rows if hits[r]),
                together=tuple(together),
                households=tuple(households),
                leads=tuple(_leads(rows, hits, wider or {})),
            )
        )
    return out
