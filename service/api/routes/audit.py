"""The audit chains, for stewards and auditors: read entries page by page, verify a chain
whole, and take a signed checkpoint of a chain's head to keep outside the service
(:mod:`service._checkpoint`).

Who may read an agreement's audit is :data:`AUDIT_ROLES` (one tuple for every agreement audit
route): a steward of a party, and an auditor key of an agency named to oversee the agreement
(:func:`service.api.deps.agreement_of` decides which agreements a key is in). The service's
own chain has its own role check: an admin's only. ``after`` and ``limit`` are bounded
in their ``Query``: a seq is a 64-bit integer in every database. Every verification is also
recorded with its result (:mod:`service.repositories.transparency`): the agreement's public
transparency page says when its chain was last verified, and whether it was whole.
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
from service.repositories import transparency as transparency_repo
from service.repositories.audit import entries_after
from service.repositories.transparency import Via

router = APIRouter(prefix="/v1", tags=["audit"])
SEQ_MAX = 2**63 - 1  # a BIGINT: larger numbers overflow SQLite and PostgreSQL alike
After = Annotated[int, Query(ge=0, le=SEQ_MAX, description="entries after this seq")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
AUDIT_ROLES: tuple[str, ...] = ("steward", "auditor")  # who reads, verifies, checkpoints it


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


def verify_chain(
    engine: sa.Engine,
    scope: str,
    principal: Principal,
    purpose: str | None,
    via: Via = "api",
) -> AuditVerification:
    """Recompute ``scope``'s chain, audit the call in it and record the result (the public
    transparency page shows the newest); the caller checked who may."""
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
        transparency_repo.record_verification(conn, [check], via=via)
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


@router.get(
    "/agreements/{agreement_id}/audit",
    response_model=AuditPage,
    summary="Read an agreement's audit",
    response_description="A page of audit entries, oldest first, and where the next begins.",
)
def agreement_audit(
    agreement_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    after: After = 0,
    limit: Limit = 1000,
) -> AuditPage:
    """The agreement's audit entries, oldest first, page by page: every call made under the
    agreement, answered or refused, with who made it, for which purpose, and the counts it
    touched — never a record's ref or filter. Pass the page's `next_after` as `after` for
    the next page; it is null on the last. The default purpose is `oversight`.

    Only a `steward` key of a party agency, or an `auditor` key of an agency named to oversee
    the agreement, may call it. The reading is audited too."""
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


@router.get(
    "/agreements/{agreement_id}/audit/verify",
    response_model=AuditVerification,
    summary="Verify an agreement's audit",
    response_description="Whether the chain is whole, its head, and every problem found.",
)
def verify_agreement_audit(
    agreement_id: str, engine: EngineDep, principal: PrincipalDep, purpose: PurposeDep
) -> AuditVerification:
    """Recompute the agreement's hash chain from its first entry: every edited, removed or
    reordered entry is named. The default purpose is `oversight`.

    Only a `steward` key of a party agency, or an `auditor` key of an agency named to oversee
    the agreement, may call it. Audited in the agreement's chain."""
    _, why = open_agreement(
        engine,
        principal,
        agreement_id,
        "audit.verify",
        AUDIT_ROLES,
        purpose,
        default_purpose="oversight",
    )
    return verify_chain(engine, agreement_id, principal, why)


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="Read the service's audit",
    response_description="A page of audit entries, oldest first, and where the next begins.",
)
def service_audit(
    engine: EngineDep, principal: PrincipalDep, after: After = 0, limit: Limit = 1000
) -> AuditPage:
    """The service's own audit chain, oldest first, page by page: agencies added, keys
    issued, rotated and revoked, and calls refused before any agreement was found. Pass the
    page's `next_after` as `after` for the next page.

    Only an `admin` key may call it. The reading is audited too."""
    need(principal, "admin")
    return _page(engine, "", principal, "oversight", after, limit)


@router.get(
    "/audit/verify",
    response_model=AuditVerification,
    summary="Verify the service's audit",
    response_description="Whether the chain is whole, its head, and every problem found.",
)
def verify_service_audit(engine: EngineDep, principal: PrincipalDep) -> AuditVerification:
    """Recompute the service's own hash chain from its first entry: every edited, removed or
    reordered entry is named.

    Only an `admin` key may call it. Audited in the service's chain."""
    need(principal, "admin")
    return verify_chain(engine, "", principal, "oversight")


@router.get(
    "/agreements/{agreement_id}/audit/checkpoint",
    response_model=AuditCheckpoint,
    summary="Checkpoint an agreement's audit",
    response_description="The chain's head, signed with the service's Ed25519 key.",
)
def agreement_audit_checkpoint(
    agreement_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    writer: CheckpointsDep,
) -> AuditCheckpoint:
    """The head of the agreement's audit chain (this call's own entry), signed by the
    service. Keep it outside the service: `caselink admin verify-audit --against` checks the
    chain against it later, and catches a chain cut short or rewritten since.

    Only a `steward` key of a party agency, or an `auditor` key of an agency named to oversee
    the agreement, may call it. Audited in the agreement's chain."""
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


@router.get(
    "/audit/checkpoint",
    response_model=AuditCheckpoint,
    summary="Checkpoint the service's audit",
    response_description="The chain's head, signed with the service's Ed25519 key.",
)
def service_audit_checkpoint(
    engine: EngineDep, principal: PrincipalDep, writer: CheckpointsDep
) -> AuditCheckpoint:
    """The head of the service's own audit chain (this call's own entry), signed by the
    service: keep it outside the service to check the chain against later.

    Only an `admin` key may call it."""
    need(principal, "admin")
    return _checkpoint(engine, writer, "", principal, "oversight")
