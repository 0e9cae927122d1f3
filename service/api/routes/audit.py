"""The audit chains, for stewards: read entries page by page, and verify a chain whole."""

from __future__ import annotations

import json
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from service._audit import append, verify
from service._tables import audit_entries
from service.api.access import open_agreement
from service.api.deps import EngineDep, Principal, PrincipalDep, PurposeDep, need
from service.api.models import AuditEntryPublic, AuditPage, AuditVerification

router = APIRouter(prefix="/v1", tags=["audit"])
After = Annotated[int, Query(ge=0, description="entries after this seq")]
Limit = Annotated[int, Query(ge=1, le=10_000)]


def _page(
    engine: sa.Engine, scope: str, principal: Principal, purpose: str | None, after: int, limit: int
) -> AuditPage:
    e = audit_entries.c
    with engine.begin() as conn:
        rows = (
            conn.execute(
                sa.select(audit_entries)
                .where(e.scope == scope, e.seq > after)
                .order_by(e.seq)
                .limit(limit)
            )
            .mappings()
            .all()
        )
        append(
            conn,
            scope,
            principal.actor,
            "audit.read",
            purpose=purpose,
            details={"after": after, "entries": len(rows)},
        )
    items = [AuditEntryPublic(**{**dict(r), "details": json.loads(r["details"])}) for r in rows]
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
        ("steward",),
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
        ("steward",),
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
