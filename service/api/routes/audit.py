"""The audit chains, for stewards: read entries page by page, verify a chain whole, and take
a signed checkpoint of a chain's head to keep outside the service (:mod:`service._checkpoint`).

Who may read an agreement's audit is :data:`AUDIT_ROLES` (one tuple for every agreement audit
route); the service's own chain has its own role check. ``after`` and ``limit`` are bounded
in their ``Query``: a seq is a 64-bit integer in every database.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from service._audit import append, verify
from service._checkpoint_writer import CheckpointWriter
from service.api.access import open_agreement
from service.api.deps import (
    CheckpointsDep,
    EngineDep,
    Principal,
    PrincipalDep,
    PurposeDep,
    need,
)
from service.api.models import AuditCheckpoint, AuditEntryPublic, AuditPage, AuditVerification
from service.repositories.audit import entries_after

router = APIRouter(prefix="/v1", tags=["audit"])
SEQ_MAX = 2**63 - 1  # a BIGINT: larger numbers overflow SQLite and PostgreSQL alike
After = Annotated[int, Query(ge=0, le=SEQ_MAX, description="entries after this seq")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
AUDIT_ROLES: tuple[str, ...] = ("steward",)  # who reads, verifies, checkpoints an agreement's


def _page(
    engine: sa.Engine, scope: str, principal: Principal, purpose: str | None, after: int, limit: int
) -> AuditPage:
    with engine.begin() as conn:
        rows = entries_after(conn, scope, after, limit)
        append(
            conn,
            scope,
            principal.actor,
            "audit.read",
            purpose=purpose,
            details={"after": after, "entries": len(rows)},
        )
    items = [AuditEntryPublic(**r) for r in rows]
    return AuditPage(items=items, next_after=items[-1].seq if len(items) == limit else None)


def _verify(engine: sa.Engine, scope: str, principal: Principal, purpose: str | None):
    with engine.begin() as conn:
        check = verify(conn, scope)
        append(
            conn,
            scope,
            principal.actor,
            "audit.verify",
            purpose=purpose,
            details={"entries": check.entries, "ok": check.ok},
        )
    return AuditVerification(
        scope=scope,
        ok=check.ok,
        entries=check.entries,
        head_seq=check.head_seq,
        head_hash=check.head_hash,
        problems=check.problems,
    )


def _checkpoint(
    engine: sa.Engine,
    writer: CheckpointWriter,
    scope: str,
    principal: Principal,
    purpose: str | None,
) -> AuditCheckpoint:
    """Audit the call, commit, then sign the chain's head — the entry recording this call."""
    with engine.begin() as conn:
        entry = append(conn, scope, principal.actor, "audit.checkpoint", purpose=purpose)
    return AuditCheckpoint(**writer.checkpoint(scope, entry["seq"], entry["hash"]))


@router.get("/agreements/{agreement_id}/audit", response_model=AuditPage)
def agreement_audit(
    agreement_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    after: After = 0,
    limit: Limit = 1000,
) -> AuditPage:
    """The agreement's audit entries, oldest first (stewards who are parties)."""
    _, why = open_agreement(
        engine,
        principal,
        agreement_id,
        "audit.read",
        AUDIT_ROLES,
        purpose,
        default_purpose="oversight",
    )
    return _page(engine, agreement_id, principal, why, after, limit)


@router.get("/agreements/{agreement_id}/audit/verify", response_model=AuditVerification)
def verify_agreement_audit(
    agreement_id: str, engine: EngineDep, principal: PrincipalDep, purpose: PurposeDep
) -> AuditVerification:
    """Recompute the agreement's chain: every edited, removed or reordered entry is named."""
    _, why = open_agreement(
        engine,
        principal,
        agreement_id,
        "audit.verify",
        AUDIT_ROLES,
        purpose,
        default_purpose="oversight",
    )
    return _verify(engine, agreement_id, principal, why)


@router.get("/audit", response_model=AuditPage)
def service_audit(
    engine: EngineDep, principal: PrincipalDep, after: After = 0, limit: Limit = 1000
) -> AuditPage:
    """The service's own chain: agencies, keys, agreements, refused calls (admins)."""
    need(principal, "admin")
    return _page(engine, "", principal, "oversight", after, limit)


@router.get("/audit/verify", response_model=AuditVerification)
def verify_service_audit(engine: EngineDep, principal: PrincipalDep) -> AuditVerification:
    """Recompute the service's own chain (admins)."""
    need(principal, "admin")
    return _verify(engine, "", principal, "oversight")


@router.get("/agreements/{agreement_id}/audit/checkpoint", response_model=AuditCheckpoint)
def agreement_audit_checkpoint(
    agreement_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    writer: CheckpointsDep,
) -> AuditCheckpoint:
    """The agreement chain's head, signed: keep it to catch a later truncation or rewrite."""
    _, why = open_agreement(
        engine,
        principal,
        agreement_id,
        "audit.checkpoint",
        AUDIT_ROLES,
        purpose,
        default_purpose="oversight",
    )
    return _checkpoint(engine, writer, agreement_id, principal, why)


@router.get("/audit/checkpoint", response_model=AuditCheckpoint)
def service_audit_checkpoint(
    engine: EngineDep, principal: PrincipalDep, writer: CheckpointsDep
) -> AuditCheckpoint:
    """The service chain's head, signed (same role as the service chain's other routes)."""
    need(principal, "admin")
    return _checkpoint(engine, writer, "", principal, "oversight")
