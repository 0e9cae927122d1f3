"""Models of a family tracing query's answer: each sought family as a whole.

A query whose records carry a household (``caselink encode`` with a ``household_id``
column: the members of one sought family share it) gets, beside each member's cases, one
:class:`FamilyResult` per sought family (:mod:`service._families`). A family is named by its
members' query refs, the tracer's own; another agency's ref or household key never appears.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["FamilyHousehold", "FamilyLead", "FamilyResult", "LeadHousehold"]


class FamilyHousehold(BaseModel):
    """Sought members whose best cases sit together in one household at one agency."""

    agency: str = Field(description="The agency that registered those records in one household.")
    members: list[str] = Field(
        description="The sought members (your query refs, in the query's order) whose most "
        "likely cases have records in that one household: two or more distinct cases."
    )


class LeadHousehold(BaseModel):
    """A household at one agency holding a lead's record and found members' best cases."""

    agency: str = Field(description="The agency that registered them in one household.")
    with_members: list[str] = Field(
        description="The found members (your query refs) whose most likely cases have "
        "records in that household."
    )


class FamilyLead(BaseModel):
    """A case worth following for a member not found: registered in one household with
    found members, although too unlike the sought person to count as a match on its own."""

    member: str = Field(description="The member not found (your query ref).")
    case_id: str = Field(description="The case id.")
    confidence: float = Field(
        description="Calibrated probability that the case is this member, judged on the "
        "member's own record alone (below the query's min_confidence): the household is a "
        "reason to look, not a match."
    )
    agencies: list[str] = Field(description="Agencies holding a record in the case.")
    households: list[LeadHousehold] = Field(
        description="Per agency, the household the case shares with found members."
    )


class FamilyResult(BaseModel):
    """One sought family: its members found, and found together."""

    members: list[str] = Field(
        description="The family's members as the query named them (your query refs sharing "
        "one household_id), in the query's order."
    )
    members_found: list[str] = Field(
        description="The members with at least one case in the answer."
    )
    found_together: list[str] = Field(
        description="The members whose most likely case sits in one household with another "
        "member's at some agency (see households)."
    )
    households: list[FamilyHousehold] = Field(
        description="Per agency, each household holding the most likely cases of two or "
        "more members; empty when none does."
    )
    leads: list[FamilyLead] = Field(
        default_factory=list,
        description="For members not found: cases among their wider candidates (any "
        "confidence) registered in one household with found members' most likely cases, "
        "best first per member; empty when none is.",
    )
