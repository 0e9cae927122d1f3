"""Changing the consent scopes of one's own records (``PUT .../records/consent``).

A ``submitter`` key sets the consent of its own agency's records only: the refs it names are
looked up among its agency's records and no other. The answer and the audit entry hold
counts and scopes, never a ref. Tracing queries and case reads follow the change before the
answer is sent (:mod:`service._consent`).
"""

from __future__ import annotations

from fastapi import APIRouter

from service._consent import ACTION, change_consent
from service._runs import VIEW_WAIT_SECONDS
from service.api.access import open_agreement, refuse
from service.api.deps import ChangesDep, EngineDep, PrincipalDep, PurposeDep
from service.api.errors import ServiceError
from service.api.models_consent import ConsentChange, ConsentReceipt

__all__ = ["router"]

router = APIRouter(prefix="/v1/agreements/{agreement_id}/records", tags=["consent"])
SETTERS = ("submitter",)


@router.put(
    "/consent",
    response_model=ConsentReceipt,
    summary="Change your records' consent scopes",
    response_description="How many records changed, pending and linked; never a ref.",
)
def set_consent(
    agreement_id: str,
    body: ConsentChange,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    changes: ChangesDep,
) -> ConsentReceipt:
    """Give some of your agency's records new consent scopes — what the people agreed their
    records may be used for from now on (`tracing`, `coordination`...): `[]` for none, `null`
    for nothing said (every purpose). Records waiting for a run take them when it links them;
    linked records at once: tracing queries and case reads whose purpose needs a scope the
    records no longer cover stop finding them before this answer is sent. To remove a record
    altogether, withdraw it.

    Only a `submitter` key of a party agency may call it, for its own agency's records; 409
    while a run of the agreement is under way. Audited with the scopes and the counts, never
    a ref."""
    agreement, why = open_agreement(engine, principal, agreement_id, ACTION, SETTERS, purpose)
    try:
        result = change_consent(
            engine,
            agreement,
            principal.actor,
            principal.agency_id,
            body.record_refs,
            body.scopes,
            why,
        )
    except ServiceError as e:  # the failed transaction is closed: audit the refusal now
        details = {"records": len(body.record_refs), "scopes": body.scopes}
        raise refuse(engine, agreement_id, principal, ACTION, e, why, details) from None
    if result.registry_ids:  # answered once this replica's tracing index holds the change
        changes.publish(agreement_id, wait=VIEW_WAIT_SECONDS, records=result.registry_ids)
    return ConsentReceipt(
        agreement_id=agreement_id,
        agency=principal.agency,
        scopes=result.scopes,
        records=result.records,
        pending_changed=result.pending_changed,
        linked_changed=result.linked_changed,
        unchanged=result.unchanged,
        not_held=result.not_held,
    )
