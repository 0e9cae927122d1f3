"""Request and response models: what crosses the API, kept apart from the tables.

Key hashes, internal row ids and filters never appear in a response model; another
agency's ``record_ref`` never does either. Every model's docstring and every field's
description are published in the OpenAPI document, for the people who call the API: write
them for a reader of ``/docs`` (tests/service/api/test_openapi_docs.py checks each has one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import bloom
from service._keys import ROLES
from service.api.models_consent import PurposeScopes, scope_map_problems
from service.api.models_families import FamilyResult
from service.api.models_reviews import (
    BAND_DESCRIPTION,
    DEFAULT_REVIEW_BAND,
    ReviewBand,
    checked_band,
)

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
_WHEN = "(UTC, ISO 8601)"
Role = Literal["admin", "steward", "submitter", "tracer", "evaluator", "auditor"]
assert set(Role.__args__) == set(ROLES)  # type: ignore[attr-defined]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgencyCreate(_In):
    """An agency to add."""

    name: AgencyName = Field(
        description="The agency's name, unique here: up to 64 letters, digits, `_`, `.` or "
        "`-`, starting with a letter or digit."
    )


class AgencyPublic(BaseModel):
    """An agency of this service."""

    name: str = Field(description="The agency's name.")
    created_at: datetime = Field(description=f"When the agency was added {_WHEN}.")


class KeyCreate(_In):
    """The key to issue."""

    role: Role = Field(
        description="What the key may do: `admin`, `steward`, `submitter`, `tracer`, "
        "`evaluator` or `auditor` (see the introduction)."
    )


class KeyPublic(BaseModel):
    """An API key, as its managers see it: never the key itself."""

    key_id: str = Field(description="The key's id (`key_` and 16 hex digits): not secret.")
    agency: str = Field(description="The agency the key belongs to.")
    role: str = Field(description="What the key may do.")
    created_at: datetime = Field(description=f"When the key was issued {_WHEN}.")
    revoked_at: datetime | None = Field(
        None, description=f"When the key was revoked {_WHEN}; null while it works."
    )


class KeyIssued(KeyPublic):
    """A new API key, with the key itself: shown this once."""

    api_key: str = Field(
        description="The key itself (`clk_...`), sent as `Authorization: Bearer clk_...`. "
        "Shown this once: the service keeps only a hash of it, so store it now."
    )


class Me(BaseModel):
    """The key a call was made with."""

    agency: str = Field(description="The agency the key belongs to.")
    role: str = Field(description="What the key may do.")
    key_id: str = Field(description="The key's id.")


NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"  # no control character: no stored ref holds one


class LinkageSettings(_In):
    """How the agreement's runs link records into cases."""

    threshold: Literal["auto"] | Annotated[float, Field(gt=0, le=1)] = Field(
        "auto",
        description="The match probability from which two records are linked: a number in "
        "(0, 1], or `auto` for the one each run finds best (the highest expected F1 under the "
        "calibrated probabilities).",
    )
    allow_duplicates_within_agency: bool = Field(
        False,
        description="Whether one case may hold two records of the same agency: true where "
        "an agency's register holds one person more than once.",
    )
    review_band: ReviewBand | None = Field(
        default_factory=lambda: list(DEFAULT_REVIEW_BAND), description=BAND_DESCRIPTION
    )

    @field_validator("threshold")
    @classmethod
    def _six_digits(cls, v: float | str) -> float | str:
        """A probability to six significant digits: what the agreement stores, as given back."""
        return v if isinstance(v, str) else float(format(v, ".6g"))

    @field_validator("review_band")
    @classmethod
    def _band(cls, v: list[float] | None) -> list[float] | None:
        """0.01 <= low < high <= 1, each to six significant digits."""
        return checked_band(v)


class Segment(_In):
    """One segment of the filters: a run of bits that some of the schema's fields fill."""

    name: Annotated[str, Field(pattern=bloom.segment_name_pattern())] = Field(
        description="The segment's name, as the schema names it."
    )
    bits: Annotated[int, Field(ge=64, le=65536, multiple_of=64)] = Field(
        description="The segment's length in bits: a multiple of 64."
    )


class AgreementCreate(_In):
    """A data-sharing agreement to create; the steward's own agency becomes a party."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL)] = Field(
        description="A name for people to know the agreement by (up to 200 characters)."
    )
    parties: Annotated[list[AgencyName], Field(min_length=1)] = Field(
        description="The agencies that share records under it, each once; each must be an "
        "agency here already."
    )
    auditors: Annotated[list[AgencyName], Field(max_length=100)] = Field(
        [],
        description="The agencies named to oversee it, each once; each must be an agency here "
        "already, a party or not. Their `auditor` keys read the agreement and its audit, and "
        "have the audit verified and checkpointed; nothing else.",
    )
    purposes: Annotated[list[Purpose], Field(min_length=1)] = Field(
        description="The purposes calls under it may state, each once, lowercase (for "
        "example `tracing`, `evaluation`). `linkage` and `oversight` are allowed to every "
        "agreement as the default of the calls they name."
    )
    schema_fingerprint: Annotated[str, Field(pattern=r"^blake3:[0-9a-f]{64}$")] = Field(
        description="The fingerprint of the linkage schema every batch must be encoded with "
        "(`blake3:` and 64 hex digits; `caselink inspect` shows it)."
    )
    filter_bits: Annotated[int, Field(ge=64, le=65536, multiple_of=64)] = Field(
        description="The length of each record's filter in bits, as the schema sets it."
    )
    segments: Annotated[
        list[Segment],
        Field(
            min_length=1,
            max_length=32,
            description="The schema's segment layout, in order, as every batch carries it "
            "(`caselink inspect` shows it); the bits add up to filter_bits.",
        ),
    ]
    retention_days: Annotated[int, Field(ge=1, le=36500)] = Field(
        description="How many days a batch's records are kept after it arrives; then they "
        "are erased."
    )
    linkage: Annotated[
        LinkageSettings,
        Field(
            description="How runs link records; by default an automatic threshold and at most "
            "one record of each agency in a case."
        ),
    ] = LinkageSettings()
    key_check: Annotated[
        str | None,
        Field(
            pattern=r"^kcv1:[0-9a-f]{16}$",
            description="The key check value of the agreement's shared secret (`caselink "
            "keygen` and `caselink inspect` print it); batches and queries encoded with another "
            "secret are refused. Without it, the first accepted batch sets it.",
        ),
    ] = None
    purpose_scopes: PurposeScopes = {}

    @field_validator("parties", "purposes", "auditors")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("list each entry once")
        return v

    @model_validator(mode="after")
    def _scopes_of_purposes(self) -> AgreementCreate:
        problems = scope_map_problems(self.purpose_scopes, self.purposes)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def layout_problems(self) -> list[str]:
        """What is wrong with the segments as a layout of ``filter_bits`` (bloom's rule)."""
        return bloom.layout_problems([s.model_dump() for s in self.segments], self.filter_bits)


class AgreementPublic(BaseModel):
    """A data-sharing agreement, as its parties and its auditors see it."""

    agreement_id: str = Field(description="The agreement's id (`agr_` and 16 hex digits).")
    name: str = Field(description="The name people know the agreement by.")
    parties: list[str] = Field(description="The agencies sharing records under it, by name.")
    auditors: list[str] = Field(
        description="The agencies named to oversee it, by name: their `auditor` keys read it "
        "and its audit."
    )
    access: Literal["party", "auditor"] = Field(
        description="How the calling key reaches it: `party` (its agency shares records under "
        "it) or `auditor` (an `auditor` key of an agency named to oversee it)."
    )
    purposes: list[str] = Field(description="The purposes calls under it may state.")
    schema_fingerprint: str = Field(
        description="The fingerprint of the linkage schema every batch must be encoded with."
    )
    filter_bits: int = Field(description="The length of each record's filter in bits.")
    segments: list[Segment] | None = Field(
        description="The segment layout every batch must carry; null for an agreement made "
        "before layouts were recorded, until its first batch is accepted."
    )
    retention_days: int = Field(description="How many days records are kept after they arrive.")
    linkage: LinkageSettings = Field(description="How runs link records.")
    created_by: str = Field(description="The agency whose steward created it.")
    created_at: datetime = Field(description=f"When it was created {_WHEN}.")
    key_check: str | None = Field(
        None,
        description="The key check value of the agreement's secret: every batch and query must "
        "carry it; null until the steward or the first accepted batch sets it.",
    )
    purpose_scopes: dict[str, str] = Field(
        {},
        description="The consent scope each purpose needs (`{purpose: scope}`): a call stating "
        "a mapped purpose is answered only from records whose consent covers the scope, or "
        "whose batch said nothing of consent. A purpose not here needs no scope.",
    )


class BatchPublic(BaseModel):
    """An uploaded batch of encoded records, as its own agency sees it."""

    batch_id: str = Field(description="The batch's id (`bat_` and 16 hex digits).")
    agency: str = Field(description="The agency that uploaded it.")
    record_count: int = Field(description="How many records it holds.")
    content_hash: str = Field(
        description="The batch's content hash, as `caselink encode` wrote it in the file: the "
        "same file sent twice has the same hash."
    )
    status: Literal["pending", "linked", "quarantined"] = Field(
        description="`pending` until a run links it, then `linked`; `quarantined` if a run "
        "set it aside."
    )
    encoded_at: str = Field(description=f"When `caselink encode` wrote it {_WHEN}.")
    received_at: datetime = Field(description=f"When the service stored it {_WHEN}.")
    linked_by_run: str | None = Field(
        None, description="The run that linked it; null while it is pending."
    )
    quarantine_reason: str | None = Field(
        None,
        description="Why a run set this batch aside (status quarantined) instead of linking it.",
    )
    duplicate: bool = Field(False, description="True when this exact batch was here already.")


class RunPublic(BaseModel):
    """A linkage run: the agreement's pending batches linked into cases."""

    run_id: str = Field(description="The run's id (`run_` and 16 hex digits).")
    agreement_id: str = Field(description="The agreement it links.")
    status: Literal["queued", "running", "succeeded", "failed"] = Field(
        description="`queued`, then `running`, then `succeeded` or `failed`."
    )
    stage: str = Field(
        description="What it is doing: `queued`, `loading`, `linking`, `storing`, "
        "`indexing`, `done`; `interrupted` if the service stopped during it."
    )
    progress: float = Field(description="How far it is, from 0 to 1.")
    created_at: datetime = Field(description=f"When it was queued {_WHEN}.")
    started_at: datetime | None = Field(
        None, description=f"When it started {_WHEN}; null while queued."
    )
    finished_at: datetime | None = Field(
        None, description=f"When it ended {_WHEN}; null until then."
    )
    error: str | None = Field(None, description="Why it failed; null unless it did.")
    stats: dict[str, Any] | None = Field(
        None,
        description="Its figures once it has stored its links: `batches`, `new_records`, "
        "`quarantined` (batch ids), and where records were compared `cases_touched`, "
        "`links_accepted`, `pairs_scored`, `merges`, the `threshold` used and "
        "`labelled_pairs_used` (reviewed pairs, agreed by both agencies, whose decisions the "
        "model learnt from as labels).",
    )


class CaseAssignment(BaseModel):
    """One of your records and the case it is in."""

    record_ref: str = Field(description="Your agency's own ref of the record.")
    case_id: str = Field(
        description="The case id: the same for every record, at any agency, of the same "
        "person (`CL-XXXX-XXXX-C`, with a check character)."
    )
    confidence: float = Field(
        description="The calibrated probability that the record belongs in this case."
    )
    other_agencies: list[str] = Field(
        description="The other agencies holding a record in this case; never their refs."
    )


class CasesPage(BaseModel):
    """A page of your records with their case ids."""

    items: list[CaseAssignment] = Field(description="The records of this page.")
    total: int = Field(description="How many linked records your agency has in all.")
    offset: int = Field(description="How many records come before this page.")
    limit: int = Field(description="The most records a page of this size holds.")
    next_offset: int | None = Field(
        description="The offset of the next page; null on the last page."
    )
    pending_records: int = Field(description="Your uploaded records no run has linked yet.")


class ConfidenceBin(BaseModel):
    """One bar of a confidence histogram."""

    low: float = Field(description="The bar's lowest confidence.")
    high: float = Field(description="The bar's highest confidence.")
    records: int = Field(description="How many linked records have a confidence in the bar.")


class Summary(BaseModel):
    """An agreement's aggregate figures: counts only, never a record."""

    agreement_id: str = Field(description="The agreement.")
    records_by_agency: dict[str, int] = Field(
        description="How many linked records each agency holds."
    )
    pending_records: int = Field(description="Uploaded records no run has linked yet.")
    cases: int = Field(description="How many cases there are.")
    cases_across_agencies: int = Field(
        description="How many cases hold records of more than one agency."
    )
    records_in_shared_cases: int = Field(
        description="How many records are in a case with another agency's record."
    )
    confidence_histogram: list[ConfidenceBin] = Field(
        description="How many linked records have each confidence, in ten bars of 0.1."
    )
    runs_succeeded: int = Field(description="How many runs have succeeded.")
    last_run_finished_at: datetime | None = Field(
        description=f"When the last successful run ended {_WHEN}; null before any."
    )


class AuditEntryPublic(BaseModel):
    """One entry of an audit chain: a call, answered or refused."""

    seq: int = Field(description="The entry's place in its chain, from 1.")
    at: str = Field(description=f"When the call was made {_WHEN}.")
    actor: str = Field(description="The agency of the key that made the call.")
    key_id: str | None = Field(description="The id of the key it was made with, if any.")
    role: str = Field(description="The role of that key.")
    action: str = Field(description="What was done, as `batch.upload` or `query`.")
    purpose: str | None = Field(description="The purpose the call stated or had by default.")
    outcome: str = Field(description="`ok`, or the error code the call was refused with.")
    details: dict[str, Any] = Field(
        description="What the call touched, as ids and counts; never a ref or a filter."
    )
    prev_hash: str = Field(description="The hash of the entry before: what chains them.")
    hash: str = Field(description="This entry's hash: BLAKE3 over prev_hash and the entry.")


class AuditPage(BaseModel):
    """A page of audit entries, oldest first."""

    items: list[AuditEntryPublic] = Field(description="The entries of this page.")
    next_after: int | None = Field(
        description="Pass it as `after` for the next page; null on the last page."
    )


class AuditVerification(BaseModel):
    """The result of recomputing an audit chain from its first entry."""

    scope: str = Field(description="The agreement id; empty for the service's own chain.")
    ok: bool = Field(description="True when no entry was edited, removed or reordered.")
    entries: int = Field(description="How many entries the chain holds.")
    head_seq: int = Field(description="The seq of its last entry.")
    head_hash: str = Field(description="The hash of its last entry.")
    problems: list[str] = Field(description="Every entry found edited, removed or reordered.")


class AuditCheckpoint(BaseModel):
    """A chain's head, signed with the service's Ed25519 key: keep it outside the service,
    and check the chain against it later with `caselink admin verify-audit --against`."""

    format: str = Field(description="`caselink.audit-checkpoint/1`.")
    scope: str = Field(description="The agreement id; empty for the service's own chain.")
    seq: int = Field(description="The seq of the chain's head entry.")
    hash: str = Field(description="The hash of the chain's head entry.")
    at: str = Field(description=f"When the checkpoint was signed {_WHEN}.")
    key_id: str = Field(description="First 16 hex digits of BLAKE3 of the raw public key.")
    signature: str = Field(description="Ed25519, hex, over the canonical JSON of the rest.")


class WithdrawalCreate(_In):
    """One record to withdraw."""

    record_ref: Annotated[str, Field(min_length=1, max_length=256, pattern=NO_CONTROL)] = Field(
        description="The record's ref, as the holding agency encoded it."
    )
    reason: Literal["consent", "correction", "erasure"] = Field(
        description="Why: `consent` withdrawn, a `correction`, or `erasure`."
    )
    agency: AgencyName | None = Field(
        None,
        description="The agency holding the record; your own by default. Only a steward may "
        "name another.",
    )


class WithdrawalReceipt(BaseModel):
    """The receipt of a withdrawal: the record, the case it left, and what remains of it."""

    receipt_id: str = Field(description="The receipt's id, to quote.")
    agreement_id: str = Field(description="The agreement the record was withdrawn from.")
    agency: str = Field(description="The agency that held the record.")
    record_ref: str = Field(description="The withdrawn record, the holding agency's own ref.")
    reason: str = Field(description="Why it was withdrawn.")
    status: Literal["linked", "pending"] = Field(
        description="Where the record was: in a case (`linked`) or waiting for a run."
    )
    former_case_id: str | None = Field(description="The case it left; null if never linked.")
    remaining_records: int = Field(description="Records still under former_case_id.")
    remaining_agencies: int = Field(description="Agencies holding them.")
    split_off_cases: int = Field(
        description="New cases formed by remaining records no longer linked to the rest."
    )
    withdrawn_at: datetime = Field(description=f"When it was withdrawn {_WHEN}.")


# -- tracing queries --------------------------------------------------------------------------
class QueryCandidate(BaseModel):
    """A case that may be the sought person."""

    case_id: str = Field(description="The case id.")
    confidence: float = Field(description="Calibrated probability that the case is this person.")
    agencies: list[str] = Field(description="Agencies holding a record in the case.")


class QueryResult(BaseModel):
    """The cases found for one sought person."""

    query_ref: str = Field(description="The tracer's own ref of the query record.")
    candidates: list[QueryCandidate] = Field(description="Most likely first; may be empty.")


class QueryAnswer(BaseModel):
    """The answer to a tracing query: the cases found for each sought person."""

    agreement_id: str = Field(description="The agreement searched.")
    purpose: str = Field(description="The purpose the query stated, as audited.")
    top_k: int = Field(description="The most cases returned per sought person.")
    min_confidence: float = Field(description="Cases below this confidence were left out.")
    records_queried: int = Field(description="How many sought people the query held.")
    cases_returned: int = Field(description="How many cases the answer holds in all.")
    results: list[QueryResult] = Field(
        description="One result per sought person, in the query's order."
    )
    families: list[FamilyResult] | None = Field(
        None,
        description="One result per sought family, in the order the query first names it, "
        "when the query's records carry a household (members of one family share a "
        "household_id when encoded); null for a query that carries none.",
    )


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
    and auditors are added and removed by name; the purposes, when given, replace the list."""

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
    add_auditors: Annotated[
        list[AgencyName],
        Field(
            max_length=100,
            description="agencies to name as auditors (each an agency here, a party or not): "
            "their `auditor` keys read the agreement and its audit from now on",
        ),
    ] = []
    remove_auditors: Annotated[
        list[AgencyName],
        Field(
            max_length=100,
            description="auditors to un-name: their `auditor` keys get 404 from now on, as "
            "outsiders do",
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
    purpose_scopes: Annotated[
        PurposeScopes | None,
        Field(
            description="the consent scope each purpose needs from now on (replaces the whole "
            "map; `{}`: no purpose needs one). Each purpose must be one the agreement allows "
            "after this amendment, or `linkage`"
        ),
    ] = None
    review_band: Annotated[
        ReviewBand | None,
        Field(
            description="the band of match probability `[low, high]` queued for clerical "
            "review from the next run on (0.01 <= low < high <= 1); null: no queue from now "
            "on (items queued already stay)"
        ),
    ] = None

    @field_validator("review_band")
    @classmethod
    def _band(cls, v: list[float] | None) -> list[float] | None:
        return checked_band(v)

    @field_validator("add_parties", "remove_parties", "add_auditors", "remove_auditors", "purposes")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("list each entry once")
        return v

    @model_validator(mode="after")
    def _something(self) -> AgreementAmend:
        named = (
            self.add_parties,
            self.remove_parties,
            self.add_auditors,
            self.remove_auditors,
            self.purposes,
            self.retention_days,
            self.purpose_scopes,
        )
        if all(x is None or x == [] for x in named) and "review_band" not in self.model_fields_set:
            raise ValueError(
                "give at least one of add_parties, remove_parties, add_auditors, "
                "remove_auditors, purposes, retention_days, purpose_scopes, review_band"
            )
        for what, added, removed in (
            ("parties", self.add_parties, self.remove_parties),
            ("auditors", self.add_auditors, self.remove_auditors),
        ):
            both = sorted(set(added) & set(removed))
            if both:
                raise ValueError(f"{what} added and removed at once: {', '.join(both)}")
        return self


__all__ += ["AgreementAmend"]
