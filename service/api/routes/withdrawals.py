"""Withdrawing a record (consent, correction, erasure): the holding agency or a steward.

A ``submitter`` key withdraws its own agency's records only (403 for another agency's, before
anything is looked up); a ``steward`` of the agreement withdraws any party's. The answer is a
receipt: the record, the case it left and what remains of that case, as counts.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from service._runs import VIEW_WAIT_SECONDS
from service._withdraw import withdraw
from service.api.access import open_agreement, refuse
from service.api.deps import ChangesDep, EngineDep, FaultsDep, PrincipalDep, PurposeDep
from service.api.errors import ServiceError
from service.api.models import WithdrawalCreate, WithdrawalReceipt

router = APIRouter(prefix="/v1/agreements/{agreement_id}/withdrawals", tags=["withdrawals"])
ACTION = "record.withdraw"
WITHDRAWERS = ("submitter", "steward")


@router.post(
    "",
    response_model=WithdrawalReceipt,
    status_code=201,
    summary="Withdraw a record",
    response_description="A receipt: the record, the case it left and what remains of it.",
)
def withdraw_record(
    agreement_id: str,
    body: WithdrawalCreate,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    faults: FaultsDep,
    changes: ChangesDep,
) -> WithdrawalReceipt:
    """Withdraw one record — consent withdrawn, a correction, or erasure: its filter, its
    links and its upload go, and its case is re-formed from the records that remain (which
    may split it). Tracing queries stop finding it before the receipt is sent.

    A `submitter` key withdraws its own agency's records; a `steward` key of a party agency
    any party's. Audited in the agreement's chain."""
    agreement, why = open_agreement(engine, principal, agreement_id, ACTION, WITHDRAWERS, purpose)
    agency = body.agency or principal.agency
    details = {"agency": agency, "reason": body.reason}
    try:
        if principal.role == "submitter" and agency != principal.agency:
            raise ServiceError(
                403,
                "forbidden",
                f"agency: a submitter key withdraws its own agency's records only "
                f"({principal.agency}); ask a steward or the holding agency",
            )
        receipt = withdraw(
            engine,
            agreement,
            principal.actor,
            agency,
            body.record_ref,
            body.reason,
            why,
            faults,
        )
    except ServiceError as e:  # the failed transaction is closed: audit the refusal now
        raise refuse(engine, agreement_id, principal, ACTION, e, why, details) from None
    # the receipt is issued once tracing queries no longer find the record: the index reads
    # the records the withdrawal touched again, in place (service._index_store)
    changes.publish(agreement_id, wait=VIEW_WAIT_SECONDS, records=receipt.registry_ids)
    return WithdrawalReceipt(**asdict(receipt))
