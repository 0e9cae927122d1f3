"""What the console shows a steward (and an agency) besides the audit log: retention timers,
withdrawal receipts, linkage quality.

Each function is gated by :func:`service.api.access.open_agreement` — the API's own check of
party, role and purpose, refusals audited — and audits the reading in the agreement's chain
in the transaction that reads, as an API call would:

- :func:`retention_timers` (``retention.read``; a ``steward`` sees every party's batches, a
  ``submitter`` its own agency's): per stored batch, when it arrived, when retention purges
  it and how many days are left;
- :func:`withdrawal_receipts` (``withdrawal.list``; a ``steward`` any party's, a ``submitter``
  its own agency's): the receipts the withdrawal API returned, read back from the
  ``record.withdraw`` entries — every field but the ``record_ref``, which the service keeps
  nowhere after the withdrawal (only the receipt handed to the caller held it);
- :func:`linkage_quality` (``summary.read``, as ``GET .../summary``: an ``evaluator`` or
  ``steward``, default purpose ``evaluation``): the confidence histogram of the linked
  records and the cases each pair of agencies shares — counts only;
- :func:`transparency_preview` (``transparency.preview``; a ``steward``, who may publish the
  page, default purpose ``oversight``): the public page's figures before it is published.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from linkage import Registry
from service._audit import append
from service._transparency import Transparency, transparency
from service.api.access import open_agreement, refuse
from service.api.deps import Principal
from service.api.errors import ServiceError
from service.repositories import audit as audit_repo
from service.repositories.audit import AuditFilter
from service.repositories.batches import batches_held

__all__ = [
    "AgencyPair",
    "ConfidenceBar",
    "LinkageQuality",
    "RetentionTimer",
    "RetentionView",
    "WithdrawalReceiptRow",
    "WithdrawalsPage",
    "linkage_quality",
    "retention_timers",
    "transparency_preview",
    "withdrawal_receipts",
]

HOLDERS = ("steward", "submitter")  # who reads batches' timers and withdrawal receipts
QUALITY_READERS = ("evaluator", "steward")  # as GET .../summary
SEQ_MAX = 2**63 - 1
PAGE_MAX = 500
_SCAN = 500  # withdrawal entries read per query while filtering by agency


def _own_only(principal: Principal, agency: str | None) -> str | None:
    """The agency whose records a caller reads: a submitter its own only (403 otherwise, as
    the withdrawal route answers), a steward any party's or all (None)."""
    if principal.role != "submitter":
        return agency
    if agency is not None and agency != principal.agency:
        raise ServiceError(
            403,
            "forbidden",
            f"agency: a submitter key reads its own agency's records only ({principal.agency})",
        )
    return principal.agency


# -- retention ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RetentionTimer:
    batch_id: str
    agency: str
    status: str  # pending | linked | quarantined
    records: int
    received_at: datetime
    expires_at: datetime  # received_at + the agreement's retention period
    days_left: int  # whole days until expires_at, rounded up; 0 once it has passed
    overdue: bool  # expired: the next retention sweep purges it


@dataclass(frozen=True)
class RetentionView:
    agreement_id: str
    retention_days: int
    as_of: datetime
    batches: tuple[RetentionTimer, ...]  # soonest to expire first


def retention_timers(
    engine: sa.Engine,
    principal: Principal,
    agreement_id: str,
    now: datetime,
    *,
    purpose: str | None = None,
) -> RetentionView:
    """When retention purges each stored batch of the agreement (a submitter: its agency's
    only). Audited as ``retention.read``, with the number of batches."""
    agreement, why = open_agreement(
        engine, principal, agreement_id, "retention.read", HOLDERS, purpose
    )
    period = timedelta(days=agreement.retention_days)
    own = principal.agency_id if principal.role == "submitter" else None
    with engine.begin() as conn:
        held = batches_held(conn, agreement_id, own)
        details = {"batches": len(held)}
        append(conn, agreement_id, principal.actor, "retention.read", purpose=why, details=details)
    timers = []
    for row, agency in held:
        expires = row.received_at + period
        left = (expires - now).total_seconds() / 86400
        timers.append(
            RetentionTimer(
                batch_id=row.id,
                agency=agency,
                status=row.status,
                records=row.record_count,
                received_at=row.received_at,
                expires_at=expires,
                days_left=max(0, math.ceil(left)),
                overdue=expires <= now,
            )
        )
    timers.sort(key=lambda t: (t.expires_at, t.batch_id))
    return RetentionView(agreement_id, agreement.retention_days, now, tuple(timers))


# -- withdrawals --------------------------------------------------------------------------
@dataclass(frozen=True)
class WithdrawalReceiptRow:
    """A withdrawal's receipt as the withdrawal API returned it, but its ``record_ref``."""

    receipt_id: str
    agreement_id: str
    agency: str  # the agency that held the record
    reason: str  # consent | correction | erasure
    status: str  # linked | pending: where the record was
    former_case_id: str | None
    remaining_records: int
    remaining_agencies: int
    split_off_cases: int
    withdrawn_at: datetime
    withdrawn_by: str  # the agency whose key withdrew it (the holder's, or a steward's)
    seq: int  # its entry in the audit chain


@dataclass(frozen=True)
class WithdrawalsPage:
    agreement_id: str
    agency: str | None  # whose withdrawals; None: every party's
    items: tuple[WithdrawalReceiptRow, ...]  # newest first
    older: int | None  # pass as ``before`` for the next older page


def _receipt(agreement_id: str, entry: dict) -> WithdrawalReceiptRow:
    d = entry["details"]
    return WithdrawalReceiptRow(
        receipt_id=d["receipt_id"],
        agreement_id=agreement_id,
        agency=d["agency"],
        reason=d["reason"],
        status=d["status"],
        former_case_id=d.get("former_case_id"),
        remaining_records=int(d["remaining_records"]),
        remaining_agencies=int(d["remaining_agencies"]),
        split_off_cases=int(d["split_off_cases"]),
        withdrawn_at=datetime.fromisoformat(entry["at"]),
        withdrawn_by=entry["actor"],
        seq=int(entry["seq"]),
    )


def _withdrawals(
    conn: sa.Connection, agreement_id: str, agency: str | None, before: int | None, limit: int
) -> list[WithdrawalReceiptRow]:
    """Up to ``limit`` receipts (of ``agency``'s records only, when given) older than seq
    ``before``, newest first."""
    where = AuditFilter(action="record.withdraw", outcome="ok")
    found: list[WithdrawalReceiptRow] = []
    while len(found) < limit:
        rows = audit_repo.entries_page(conn, agreement_id, where, limit=_SCAN, before=before)
        found += [
            _receipt(agreement_id, r)
            for r in rows
            if agency is None or r["details"].get("agency") == agency
        ]
        if len(rows) < _SCAN:
            break
        before = rows[-1]["seq"]
    return found[:limit]


def withdrawal_receipts(
    engine: sa.Engine,
    principal: Principal,
    agreement_id: str,
    *,
    agency: str | None = None,
    before: int | None = None,
    limit: int = 50,
    purpose: str | None = None,
) -> WithdrawalsPage:
    """The receipts of the agreement's withdrawals, newest first, page by page (``before``:
    the ``older`` cursor of the page before): of ``agency``'s records, or every party's (a
    steward); a submitter reads its own agency's only. Audited as ``withdrawal.list``."""
    problems = []
    if not 1 <= limit <= PAGE_MAX:
        problems.append(f"limit: from 1 to {PAGE_MAX}")
    if before is not None and not 1 <= before <= SEQ_MAX:
        problems.append(f"before: from 1 to {SEQ_MAX}")
    if problems:
        raise ServiceError(422, "invalid_request", "the page asked for is invalid", problems)
    _, why = open_agreement(engine, principal, agreement_id, "withdrawal.list", HOLDERS, purpose)
    try:
        whose = _own_only(principal, agency)
    except ServiceError as e:
        raise refuse(engine, agreement_id, principal, "withdrawal.list", e, why) from None
    with engine.begin() as conn:
        rows = _withdrawals(conn, agreement_id, whose, before, limit + 1)
        details = {"receipts": min(len(rows), limit)} | ({"agency": whose} if whose else {})
        append(conn, agreement_id, principal.actor, "withdrawal.list", purpose=why, details=details)
    older = rows[limit - 1].seq if len(rows) > limit else None
    return WithdrawalsPage(agreement_id, whose, tuple(rows[:limit]), older)


# -- linkage quality ----------------------------------------------------------------------
@dataclass(frozen=True)
class ConfidenceBar:
    low: float
    high: float  # exclusive, but for the last bar (1.0 included)
    records: int


@dataclass(frozen=True)
class AgencyPair:
    a: str
    b: str  # a < b
    shared_cases: int  # cases holding a record of each


@dataclass(frozen=True)
class LinkageQuality:
    agreement_id: str
    records_by_agency: tuple[tuple[str, int], ...]
    cases: int
    cases_across_agencies: int
    records_in_shared_cases: int
    histogram: tuple[ConfidenceBar, ...]  # the linked records' confidence, ten bars
    pairs: tuple[AgencyPair, ...]  # every pair of agencies holding records, sharing or not


def linkage_quality(
    engine: sa.Engine, principal: Principal, agreement_id: str, *, purpose: str | None = None
) -> LinkageQuality:
    """The registry's figures for the agreement: records per agency, cases, the confidence
    histogram and the cases each pair of agencies shares. Gated and audited exactly as
    ``GET .../summary`` (``summary.read``; default purpose ``evaluation``)."""
    _, why = open_agreement(
        engine,
        principal,
        agreement_id,
        "summary.read",
        QUALITY_READERS,
        purpose,
        default_purpose="evaluation",
    )
    registry = Registry(engine, scope=agreement_id, create_tables=False)
    with engine.begin() as conn:
        figures = registry.figures(connection=conn)
        shared = registry.shared_cases(connection=conn)
        agencies = sorted(figures.records_by_agency)
        pairs = tuple(
            AgencyPair(a, b, shared.get((a, b), 0)) for a, b in itertools.combinations(agencies, 2)
        )
        details = {"view": "linkage_quality", "agency_pairs": len(pairs)}
        append(conn, agreement_id, principal.actor, "summary.read", purpose=why, details=details)
    bins = len(figures.confidence_bins)
    return LinkageQuality(
        agreement_id=agreement_id,
        records_by_agency=tuple((a, figures.records_by_agency[a]) for a in agencies),
        cases=figures.cases,
        cases_across_agencies=figures.cases_across_agencies,
        records_in_shared_cases=figures.records_in_shared_cases,
        histogram=tuple(
            ConfidenceBar(k / bins, (k + 1) / bins, n)
            for k, n in enumerate(figures.confidence_bins)
        ),
        pairs=pairs,
    )


# -- the public page, before it is published ----------------------------------------------
def transparency_preview(
    engine: sa.Engine,
    principal: Principal,
    agreement_id: str,
    now: datetime,
    *,
    purpose: str | None = None,
) -> Transparency:
    """The figures the agreement's public page shows (or would, once published), for a
    steward of a party — who publishes it (``POST .../publication``). Audited as
    ``transparency.preview``."""
    _, why = open_agreement(
        engine,
        principal,
        agreement_id,
        "transparency.preview",
        ("steward",),
        purpose,
        default_purpose="oversight",
    )
    with engine.begin() as conn:
        append(conn, agreement_id, principal.actor, "transparency.preview", purpose=why)
    return transparency(engine, agreement_id, now, published_only=False)
