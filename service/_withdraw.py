"""Withdrawing one record (consent, correction, erasure): gone from the registry and the batches.

The holding agency (a ``submitter`` key, its own records only) or a ``steward`` of the
agreement names the record by its ``record_ref``. In one transaction the record's filter and
links leave the registry, the case it leaves is re-formed (:meth:`linkage.Registry.remove`:
the remaining records keep the case id while the stored links between them at or above the
threshold clustering used still connect them; a part that no longer connects gets a new id),
its ``batch_records`` row is deleted — so the same ``record_ref`` uploaded again is a new
record — the change is numbered with the registry ids it touches (:func:`service._events.
record_change`: every replica's tracing index reads them again before its next answer) and
the withdrawal is audited with its receipt id. A record still pending (uploaded,
not linked yet) or in a quarantined batch is withdrawn from its batch the same way; such a
batch left empty goes.
The ``record_ref`` is never put in an error or an audit entry; only the receipt holds it.

The threshold of re-forming is the agreement's fixed threshold, or with ``auto`` the lowest
threshold any of its succeeded runs clustered with: a link counts when clustering could have
accepted it. While a run of the agreement is queued or running, withdrawals wait (409): the
run has read the registry and would write links to a record that is gone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

import linkage
from service._audit import Actor, append
from service._events import record_change
from service._faults import Faults
from service._tables import batch_records, batches, runs
from service.api.errors import ServiceError
from service.repositories.agencies import agency_id as agency_id_of
from service.repositories.agreements import AgreementRow
from service.repositories.runs import active_run

__all__ = [
    "REASONS",
    "Receipt",
    "clustering_threshold",
    "drop_batch_records",
    "refuse_while_running",
    "run_in_progress",
    "withdraw",
]

REASONS = ("consent", "correction", "erasure")


@dataclass(frozen=True)
class Receipt:
    receipt_id: str
    agreement_id: str
    agency: str
    record_ref: str
    reason: str
    status: str  # linked | pending: where the record was
    former_case_id: str | None
    remaining_records: int
    remaining_agencies: int
    split_off_cases: int
    withdrawn_at: datetime
    # registry ids of the record and of its former case's records: what in-memory views
    # read again (never in a response: the receipt model names its fields; nor the audit)
    registry_ids: tuple[int, ...] = ()

    def audit_details(self) -> dict[str, Any]:
        """The receipt as audited: ids and counts, never the record_ref."""
        keep = (
            "receipt_id",
            "agency",
            "reason",
            "status",
            "former_case_id",
            "remaining_records",
            "remaining_agencies",
            "split_off_cases",
        )
        return {k: getattr(self, k) for k in keep}


def clustering_threshold(conn: sa.Connection, agreement: AgreementRow) -> float | None:
    """The threshold a link must reach to hold records together when a case is re-formed."""
    if agreement.threshold != "auto":
        return float(agreement.threshold)
    stats = conn.execute(
        sa.select(runs.c.stats).where(
            runs.c.agreement_id == agreement.id, runs.c.status == "succeeded"
        )
    ).scalars()
    used = [float(s["threshold"]) for s in stats if s and s.get("threshold") is not None]
    return min(used) if used else None


def run_in_progress(conn: sa.Connection, agreement_id: str) -> str | None:
    """The id of the agreement's unfinished run, if any."""
    return active_run(conn, agreement_id)


def refuse_while_running(conn: sa.Connection, agreement_id: str, then: str) -> None:
    """ServiceError 409 while the agreement has an unfinished run; ``then`` says what to do
    once it has finished ("withdraw the record", ...). Records must not change under a run."""
    running = run_in_progress(conn, agreement_id)
    if running is not None:
        raise ServiceError(
            409,
            "conflict",
            f"run {running} of this agreement is not finished; {then} once it has finished",
        )


def _batch_row(conn: sa.Connection, agreement_id: str, agency_id: int | None, ref: str):
    if agency_id is None:
        return None
    br, b = batch_records.c, batches.c
    return conn.execute(
        sa.select(br.batch_id, br.position, b.status)
        .join(batches, b.id == br.batch_id)
        .where(br.agreement_id == agreement_id, br.agency_id == agency_id, br.record_ref == ref)
    ).first()


def drop_batch_records(conn: sa.Connection, batch_id: str, positions: list[int] | None) -> None:
    """Delete a batch's records (or those at ``positions``); a pending batch left empty goes."""
    br, b = batch_records.c, batches.c
    q = batch_records.delete().where(br.batch_id == batch_id)
    conn.execute(q.where(br.position.in_(positions)) if positions is not None else q)
    left = conn.execute(
        sa.select(sa.func.count()).select_from(batch_records).where(br.batch_id == batch_id)
    ).scalar_one()
    status = conn.execute(sa.select(b.status).where(b.id == batch_id)).scalar_one()
    if not left and (status in ("pending", "quarantined") or positions is None):
        conn.execute(batches.delete().where(b.id == batch_id))


def withdraw(
    engine: sa.Engine,
    agreement: AgreementRow,
    actor: Actor,
    agency: str,
    record_ref: str,
    reason: str,
    purpose: str,
    faults: Faults | None = None,
) -> Receipt:
    """Withdraw ``agency``'s record ``record_ref``; raises ServiceError (404, 409) untouched.

    ``faults``: the service's fault points (``withdraw.before_commit``, ``.committed``)."""
    faults = faults or Faults()
    registry = linkage.Registry(engine, scope=agreement.id, create_tables=False)
    with engine.begin() as conn:
        refuse_while_running(conn, agreement.id, "withdraw the record")
        held = _batch_row(conn, agreement.id, agency_id_of(conn, agency), record_ref)
        touched = registry.case_record_ids(agency, record_ref, connection=conn)
        linked = bool(touched)
        if held is None and not linked:
            raise ServiceError(
                404,
                "not_found",
                f"record_ref: agency {agency} holds no record with the "
                "record_ref you sent in this agreement (withdrawn already, purged, or never "
                "uploaded)",
            )
        if linked:  # numbered for every replica's tracing index (service._events)
            record_change(conn, agreement.id, touched)
        report = registry.remove(
            [(agency, record_ref)], threshold=clustering_threshold(conn, agreement), connection=conn
        )
        if held is not None:
            drop_batch_records(conn, held.batch_id, [held.position])
        receipt = _receipt(agreement.id, agency, record_ref, reason, report, touched)
        append(
            conn,
            agreement.id,
            actor,
            "record.withdraw",
            purpose=purpose,
            details=receipt.audit_details(),
        )
        faults.reach("withdraw.before_commit")
    faults.reach("withdraw.committed")
    return receipt


def _receipt(agreement_id, agency, record_ref, reason, report, touched: tuple) -> Receipt:
    former = report.removed["case_id"].iloc[0] if len(report.removed) else None
    rest = report.cases.get(former) if former else None
    return Receipt(
        receipt_id="wdr_" + secrets.token_hex(8),
        agreement_id=agreement_id,
        agency=agency,
        record_ref=record_ref,
        reason=reason,
        status="linked" if touched else "pending",
        former_case_id=former,
        remaining_records=rest.records if rest else 0,
        remaining_agencies=len(rest.agencies) if rest else 0,
        split_off_cases=len(rest.split_off) if rest else 0,
        withdrawn_at=datetime.now(UTC),
        registry_ids=touched,
    )
