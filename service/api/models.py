"""Request and response models: what crosses the API, kept apart from the tables.

Key hashes, internal row ids and filters never appear in a response model; another
agency's ``record_ref`` never does either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import bloom
from service._keys import ROLES

__all__ = [
    "AgencyCreate",
    "AgencyPublic",
    "AgreementCreate",
    "AgreementPublic",
    "AuditCheckpoint",
    "AuditEntryPublic",
    "AuditPage",
    "AuditVerification",
    "BatchPublic",
    "CaseAssignment",
    "CasesPage",
    "KeyCreate",
    "KeyIssued",
    "KeyPublic",
    "LinkageSettings",
    "Me",
    "RunPublic",
    "Segment",
    "Summary",
    "WithdrawalCreate",
    "WithdrawalReceipt",
]

AGENCY_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
AgencyName = Annotated[str, Field(pattern=AGENCY_NAME)]
Purpose = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Role = Literal["admin", "steward", "submitter", "tracer", "evaluator"]
assert set(Role.__args__) == set(ROLES)  # type: ignore[attr-defined]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgencyCreate(_In):
    name: AgencyName


class AgencyPublic(BaseModel):
    name: str
    created_at: datetime


class KeyCreate(_In):
    role: Role


class KeyPublic(BaseModel):
    key_id: str
    agency: str
    role: str
    created_at: datetime
    revoked_at: datetime | None = None


class KeyIssued(KeyPublic):
    api_key: str = Field(description="shown once: store it now, the service keeps only a hash")


class Me(BaseModel):
    agency: str
    role: str
    key_id: str


NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"  # no control character: no stored ref holds one


class LinkageSettings(_In):
    threshold: Literal["auto"] | Annotated[float, Field(gt=0, le=1)] = "auto"
    allow_duplicates_within_agency: bool = False

    @field_validator("threshold")
    @classmethod
    def _six_digits(cls, v: float | str) -> float | str:
        """A probability to six significant digits: what the agreement stores, as given back."""
        return v if isinstance(v, str) else float(format(v, ".6g"))


class Segment(_In):
    """One run of filter bits, as the schema's segments come out of the encoder."""

    name: Annotated[str, Field(pattern=bloom.segment_name_pattern())]
    bits: Annotated[int, Field(ge=64, le=65536, multiple_of=64)]


class AgreementCreate(_In):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL)]
    parties: Annotated[list[AgencyName], Field(min_length=1)]
    purposes: Annotated[list[Purpose], Field(min_length=1)]
    schema_fingerprint: Annotated[str, Field(pattern=r"^blake3:[0-9a-f]{64}$")]
    filter_bits: Annotated[int, Field(ge=64, le=65536, multiple_of=64)]
    segments: Annotated[
        list[Segment],
        Field(
            min_length=1,
            max_length=32,
            description="the schema's segment layout, in order, as every batch carries it "
            "(`caselink inspect` shows it); the bits add up to filter_bits",
        ),
    ]
    retention_days: Annotated[int, Field(ge=1, le=36500)]
    linkage: LinkageSettings = LinkageSettings()

    @field_validator("parties", "purposes")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("list each entry once")
        return v

    def layout_problems(self) -> list[str]:
        """What is wrong with the segments as a layout of ``filter_bits`` (bloom's rule)."""
        return bloom.layout_problems([s.model_dump() for s in self.segments], self.filter_bits)


class AgreementPublic(BaseModel):
    agreement_id: str
    name: str
    parties: list[str]
    purposes: list[str]
    schema_fingerprint: str
    filter_bits: int
    segments: list[Segment] | None = Field(
        description="the segment layout every batch must carry; null for an agreement made "
        "before layouts were recorded, until its first batch is accepted"
    )
    retention_days: int
    linkage: LinkageSettings
    created_by: str
    created_at: datetime


class BatchPublic(BaseModel):
    batch_id: str
    agency: str
    record_count: int
    content_hash: str
    status: Literal["pending", "linked", "quarantined"]
    encoded_at: str
    received_at: datetime
    linked_by_run: str | None = None
    quarantine_reason: str | None = Field(
        None,
        description="why a run set this batch aside (status quarantined) instead of linking it",
    )
    duplicate: bool = Field(False, description="true when this exact batch was already here")


class RunPublic(BaseModel):
    run_id: str
    agreement_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    stage: str
    progress: float
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    stats: dict[str, Any] | None = None


class CaseAssignment(BaseModel):
    record_ref: str
    case_id: str
    confidence: float
    other_agencies: list[str]


class CasesPage(BaseModel):
    items: list[CaseAssignment]
    total: int
    offset: int
    limit: int
    next_offset: int | None
    pending_records: int = Field(description="uploaded records not linked yet")


class ConfidenceBin(BaseModel):
    low: float
    high: float
    records: int


class Summary(BaseModel):
    agreement_id: str
    records_by_agency: dict[str, int]
    pending_records: int
    cases: int
    cases_across_agencies: int
    records_in_shared_cases: int
    confidence_histogram: list[ConfidenceBin]
    runs_succeeded: int
    last_run_finished_at: datetime | None


class AuditEntryPublic(BaseModel):
    seq: int
    at: str
    actor: str
    key_id: str | None
    role: str
    action: str
    purpose: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryPublic]
    next_after: int | None


class AuditVerification(BaseModel):
    scope: str
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[str]


class AuditCheckpoint(BaseModel):
    """A chain's head, signed with the service's Ed25519 key (:mod:`service._checkpoint`):
    keep it, and check the chain against it later with ``verify-audit --against``."""

    format: str
    scope: str = Field(description="the agreement id; empty for the service's own chain")
    seq: int
    hash: str
    at: str
    key_id: str = Field(description="first 16 hex digits of BLAKE3 of the raw public key")
    signature: str = Field(description="Ed25519, hex, over the canonical JSON of the rest")


class WithdrawalCreate(_In):
    """Withdraw one record; ``agency`` defaults to the caller's own."""

    record_ref: Annotated[str, Field(min_length=1, max_length=256, pattern=NO_CONTROL)]
    reason: Literal["consent", "correction", "erasure"]
    agency: AgencyName | None = None


class WithdrawalReceipt(BaseModel):
    receipt_id: str
    agreement_id: str
    agency: str
    record_ref: str = Field(description="the withdrawn record, the holding agency's own ref")
    reason: str
    status: Literal["linked", "pending"] = Field(description="where the record was")
    former_case_id: str | None = Field(description="the case it left; null if never linked")
    remaining_records: int = Field(description="records still under former_case_id")
    remaining_agencies: int = Field(description="agencies holding them")
    split_off_cases: int = Field(
        description="new cases formed by remaining records no longer linked to the rest"
    )
    withdrawn_at: datetime


# -- tracing queries --------------------------------------------------------------------------
class QueryCandidate(BaseModel):
    case_id: str
    confidence: float = Field(description="calibrated probability that the case is this person")
    agencies: list[str] = Field(description="agencies holding a record in the case")


class QueryResult(BaseModel):
    query_ref: str = Field(description="the tracer's own ref of the query record")
    candidates: list[QueryCandidate] = Field(description="most likely first; may be empty")


class QueryAnswer(BaseModel):
    agreement_id: str
    purpose: str
    top_k: int
    min_confidence: float
    records_queried: int
    cases_returned: int
    results: list[QueryResult]


__all__ += ["QueryAnswer", "QueryCandidate", "QueryResult"]


# -- bounds of integer request parameters -----------------------------------------------------
# Every integer a request carries is bounded where it is declared, so a value past what the
# databases store (2**63 and up) is a 422 naming the parameter, never a 500.
OFFSET_MAX = 2**31 - 1  # the largest page offset: more records than any register holds
TOP_K_LIMIT = 1000  # the most cases per tracing query record any service may be set to
__all__ += ["OFFSET_MAX", "TOP_K_LIMIT"]


# -- amending an agreement --------------------------------------------------------------------
class AgreementAmend(_In):
    """What a steward of a party changes in an agreement: give at least one field. Parties
    are added and removed by name; the purposes, when given, replace the list."""

    add_parties: Annotated[
        list[AgencyName],
        Field(max_length=100, description="agencies to make parties (each an agency here)"),
    ] = []
    remove_parties: Annotated[
        list[AgencyName],
        Field(
            max_length=100,
            description="parties to remove: each must hold no stored record in the agreement "
            "(withdraw them, or let retention purge them, first); never the caller's own agency",
        ),
    ] = []
    purposes: Annotated[
        list[Purpose] | None,
        Field(min_length=1, description="the allowed purposes from now on (replaces the list)"),
    ] = None
    retention_days: Annotated[
        int | None,
        Field(
            ge=1,
            le=36500,
            description="the retention period from now on; batches older than a shortened "
            "period go at the next retention sweep",
        ),
    ] = None

    @field_validator("add_parties", "remove_parties", "purposes")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("list each entry once")
        return v

    @model_validator(mode="after")
    def _something(self) -> AgreementAmend:
        named = (self.add_parties, self.remove_parties, self.purposes, self.retention_days)
        if all(x is None or x == [] for x in named):
            raise ValueError(
                "give at least one of add_parties, remove_parties, purposes, retention_days"
            )
        both = sorted(set(self.add_parties) & set(self.remove_parties))
        if both:
            raise ValueError(f"added and removed at once: {', '.join(both)}")
        return self


__all__ += ["AgreementAmend"]
