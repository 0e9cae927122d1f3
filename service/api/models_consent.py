"""Models of consent scopes: the scope each purpose of an agreement needs, and an agency
changing the consent of its own records.

A record may carry consent scopes (``tracing``, ``coordination``: :mod:`bloom._households`);
an agreement maps each purpose to the scope a call with that purpose needs
(``purpose_scopes``). A record whose batch said nothing of consent serves every purpose, as
before consent existed; a purpose the agreement maps to no scope is served by every record.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bloom._households import SCOPE_PATTERN

__all__ = [
    "CONSENT_REFS_MAX",
    "ConsentChange",
    "ConsentReceipt",
    "PurposeScopes",
    "ScopeCode",
    "scope_map_problems",
]

ScopeCode = Annotated[str, Field(pattern=SCOPE_PATTERN.pattern)]
_PurposeKey = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
PurposeScopes = Annotated[
    dict[_PurposeKey, ScopeCode],
    Field(
        max_length=100,
        description="The consent scope each purpose needs: `{purpose: scope}`, for example "
        '`{"tracing": "tracing"}`. A call stating a mapped purpose is answered only from '
        "records whose consent covers its scope (a record whose batch said nothing of consent "
        "serves every purpose); a purpose not mapped needs no scope. Each purpose must be one "
        "the agreement allows, or `linkage` (the default purpose of reading one's own cases).",
    ),
]
CONSENT_REFS_MAX = 10_000  # refs per consent change: one request, one transaction


def scope_map_problems(scopes: dict[str, str], purposes: list[str]) -> list[str]:
    """Each mapped purpose the agreement does not allow (``linkage`` is always allowed)."""
    allowed = {*purposes, "linkage"}
    return [
        f"purpose_scopes: '{p}' is not a purpose of the agreement ({', '.join(purposes)}); "
        "map only its purposes, or linkage"
        for p in sorted(scopes)
        if p not in allowed
    ]


_REF = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]


class ConsentChange(BaseModel):
    """New consent for some of your agency's records: the same scopes for each."""

    model_config = ConfigDict(extra="forbid")

    record_refs: Annotated[list[_REF], Field(min_length=1, max_length=CONSENT_REFS_MAX)] = Field(
        description=f"Your agency's refs of the records, each once (at most "
        f"{CONSENT_REFS_MAX:,} per call), pending or linked."
    )
    scopes: Annotated[list[ScopeCode] | None, Field(max_length=32)] = Field(
        description="The scope codes the people agreed to from now on (lowercase, for example "
        "`tracing`, `coordination`), each once; `[]` for none: the records then serve no "
        "purpose that needs a scope. `null` says nothing of consent: the records serve every "
        "purpose, as records of a batch without a consent column do."
    )

    @field_validator("record_refs", "scopes")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("list each entry once")
        return v


class ConsentReceipt(BaseModel):
    """What a consent change did: counts only, never a ref."""

    agreement_id: str = Field(description="The agreement the records are in.")
    agency: str = Field(description="The agency holding them: yours.")
    scopes: list[str] | None = Field(
        description="The records' scopes from now on, sorted; null: nothing said (every purpose)."
    )
    records: int = Field(description="How many refs the call named.")
    pending_changed: int = Field(
        description="Records waiting for a run (or set aside by one) whose consent changed: "
        "the run stores them with it."
    )
    linked_changed: int = Field(
        description="Linked records whose consent changed: tracing queries and case reads "
        "follow it before this answer is sent."
    )
    unchanged: int = Field(
        description="Records held whose consent was that already, in both places."
    )
    not_held: int = Field(
        description="Refs your agency holds no record of in this agreement (withdrawn, "
        "purged or never uploaded)."
    )
