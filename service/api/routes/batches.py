"""Encoded batch uploads: the body is the Parquet file `caselink encode` wrote.

The body is streamed to a temporary file in the service's upload directory
(:mod:`service._uploads`, cleared at start-up) and refused past the configured size (413);
then validated whole and stored whole, or refused with every problem named and nothing
stored."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from service._audit import append
from service._batches import BatchRefusedError, store_batch
from service.api.access import open_agreement, refuse
from service.api.deps import EngineDep, PrincipalDep, PurposeDep, ServiceDep
from service.api.errors import ServiceError
from service.api.models import BatchPublic
from service.repositories.batches import batches_of

router = APIRouter(prefix="/v1/agreements/{agreement_id}/batches", tags=["batches"])
SUBMITTERS = ("submitter",)  # the roles that upload and list batches


def _public(row, agency: str, duplicate: bool = False) -> BatchPublic:
    return BatchPublic(
        batch_id=row.id,
        agency=agency,
        record_count=row.record_count,
        content_hash=row.content_hash,
        status=row.status,
        encoded_at=row.encoded_at,
        received_at=row.received_at,
        linked_by_run=row.linked_by_run,
        quarantine_reason=row.quarantine_reason,
        duplicate=duplicate,
    )


async def _chunks(request: Request, limit: int):
    """The body's chunks as they arrive; 413 past ``limit`` bytes, 422 for an empty body."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        detail = f"the body has {int(declared):,} bytes; this service accepts up to {limit:,}"
        raise ServiceError(413, "too_large", detail, [f"body: {detail}"])
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            detail = f"the body exceeds {limit:,} bytes, the most this service accepts"
            raise ServiceError(413, "too_large", detail, [f"body: {detail}; split the register"])
        yield chunk
    if size == 0:
        detail = "the body is empty; send the Parquet file that caselink encode wrote"
        raise ServiceError(422, "invalid_batch", detail, [f"body: {detail}"])


async def _receive(request: Request, dest: Path, limit: int) -> None:
    """The body streamed to ``dest`` (an upload: it may be large)."""
    with dest.open("wb") as out:
        async for chunk in _chunks(request, limit):
            out.write(chunk)


async def receive_bytes(request: Request, limit: int) -> bytes:
    """The body in memory (a query: at most a burst of records, never written to disk)."""
    return b"".join([chunk async for chunk in _chunks(request, limit)])


@router.post(
    "",
    response_model=BatchPublic,
    status_code=201,
    summary="Upload an encoded batch",
    response_description="The batch stored, pending until the next linkage run.",
)
async def upload_batch(
    agreement_id: str,
    request: Request,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    service: ServiceDep,
) -> BatchPublic:
    """Upload one encoded batch: the Parquet file `caselink encode` wrote, sent as it is.
    It is checked whole against the agreement (schema fingerprint, segment layout, your
    agency, well-formed refs and filters) and stored whole, or refused with every problem
    named and nothing stored. Its records wait for the next linkage run. Sending the same
    file again stores nothing and answers 200 with the batch already held.

    Only a `submitter` key of a party agency may call it. Audited in the agreement's
    chain."""
    agreement, why = await run_in_threadpool(
        open_agreement, engine, principal, agreement_id, "batch.upload", SUBMITTERS, purpose
    )
    limit, faults = service.settings.max_upload_bytes, service.faults
    with tempfile.TemporaryDirectory(prefix="caselink-upload-", dir=service.upload_dir) as tmp:
        path = Path(tmp) / "upload.parquet"
        try:
            await _receive(request, path, limit)
            await run_in_threadpool(faults.reach, "upload.received")
            stored = await run_in_threadpool(
                store_batch,
                engine,
                agreement,
                principal.agency_id,
                principal.actor,
                path,
                why,
                codec=service.cipher,
            )
        except BatchRefusedError as e:
            err = ServiceError(e.status, e.error, e.detail, e.problems)
            raise refuse(engine, agreement_id, principal, "batch.upload", err, why) from None
        except ServiceError as e:
            raise refuse(engine, agreement_id, principal, "batch.upload", e, why) from None
    await run_in_threadpool(faults.reach, "upload.committed")
    if stored.duplicate:
        response.status_code = 200
    return _public(stored.row, principal.agency, stored.duplicate)


@router.get(
    "",
    response_model=list[BatchPublic],
    summary="List your batches",
    response_description="Your agency's batches in this agreement, with their status.",
)
def list_batches(
    agreement_id: str, engine: EngineDep, principal: PrincipalDep, purpose: PurposeDep
) -> list[BatchPublic]:
    """Your own agency's batches in this agreement: pending, linked by a run, or set aside
    (quarantined) with the reason. Never another agency's.

    Only a `submitter` key of a party agency may call it. Audited in the agreement's
    chain."""
    _, why = open_agreement(engine, principal, agreement_id, "batch.list", SUBMITTERS, purpose)
    with engine.begin() as conn:
        rows = batches_of(conn, agreement_id, principal.agency_id)
        append(
            conn,
            agreement_id,
            principal.actor,
            "batch.list",
            purpose=why,
            details={"batches": len(rows)},
        )
    return [_public(r, principal.agency) for r in rows]
