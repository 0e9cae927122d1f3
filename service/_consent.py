"""Changing the consent of an agency's own records, later than their batch said it.

A person may agree to tracing and not to service coordination, and change that later. The
holding agency (a ``submitter`` key, its own records only) names the records by their refs
and gives their scopes from now on (``[]``: none; ``None``: nothing said, every purpose). In
one transaction:

* records still waiting for a run, or set aside by one, take the new consent in
  ``batch_records`` (the run stores them with it); the rows a run has linked already are
  kept in step too;
* linked records take it in the registry (:meth:`linkage.Registry.set_consent`), and the
  change is numbered with their registry ids (:func:`service._events.record_change`) so that
  every replica's tracing index reads them again before it answers — the caller then waits
  for this replica's index (as a withdrawal does) before answering;
* the change is audited: the agency, the scopes and the counts — never a ref.

While a run of the agreement is queued or running the change waits (409): the run has read
the pending records' consent and would store the old one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

import linkage
from bloom._households import join_scopes
from service._audit import Actor, append
from service._events import record_change
from service._tables import batch_records, batches
from service._withdraw import refuse_while_running
from service.repositories.agreements import AgreementRow

__all__ = ["ACTION", "ConsentResult", "change_consent"]

ACTION = "record.consent"
_IN_LIST = 900  # refs per IN list: under SQLite's bound-parameter limit everywhere


@dataclass(frozen=True)
class ConsentResult:
    """What a consent change did (counts), and the registry ids it touched (for the
    tracing index only: never in an answer or the audit)."""

    scopes: list[str] | None
    records: int
    pending_changed: int
    linked_changed: int
    unchanged: int
    not_held: int
    registry_ids: tuple[int, ...] = ()

    def audit_details(self, agency: str) -> dict[str, Any]:
        return {
            "agency": agency,
            "scopes": self.scopes,
            "records": self.records,
            "pending_changed": self.pending_changed,
            "linked_changed": self.linked_changed,
            "unchanged": self.unchanged,
            "not_held": self.not_held,
        }


def _parts(refs: Sequence[str]) -> list[list[str]]:
    distinct = sorted(set(refs))
    return [distinct[k : k + _IN_LIST] for k in range(0, len(distinct), _IN_LIST)]


def _set_in_batches(
    conn: sa.Connection, agreement_id: str, agency_id: int, refs: Sequence[str], text: str | None
) -> tuple[int, int]:
    """``(held, changed)``: the agency's records among ``refs`` in batches no run has linked
    (pending or set aside), and those whose consent changed; linked batches' rows follow."""
    br, b = batch_records.c, batches.c
    held = changed = 0
    for linked in (False, True):
        status = (b.status == "linked") if linked else (b.status != "linked")
        of_status = sa.select(b.id).where(b.agreement_id == agreement_id, status)
        for part in _parts(refs):
            mine = sa.and_(
                br.agreement_id == agreement_id,
                br.agency_id == agency_id,
                br.record_ref.in_(part),
                br.batch_id.in_(of_status),
            )
            result = conn.execute(
                batch_records.update()
                .where(mine, br.consent.is_distinct_from(text))
                .values(consent=text)
            )
            if not linked:
                changed += int(result.rowcount)
                held += int(
                    conn.execute(
                        sa.select(sa.func.count()).select_from(batch_records).where(mine)
                    ).scalar_one()
                )
    return held, changed


def change_consent(
    engine: sa.Engine,
    agreement: AgreementRow,
    actor: Actor,
    agency_id: int,
    refs: Sequence[str],
    scopes: Sequence[str] | None,
    purpose: str,
) -> ConsentResult:
    """Give ``actor.agency``'s records ``refs`` the consent ``scopes`` (module docstring);
    raises ServiceError (409) while a run is active, with nothing changed."""
    agency = actor.agency
    text = None if scopes is None else join_scopes(scopes)
    registry = linkage.Registry(engine, scope=agreement.id, create_tables=False)
    with engine.begin() as conn:
        refuse_while_running(conn, agreement.id, "change the consent")
        pending_held, pending_changed = _set_in_batches(conn, agreement.id, agency_id, refs, text)
        ids = registry.record_ids(agency, refs, connection=conn)
        if len(ids):  # numbered first: every replica's index reads these records again
            record_change(conn, agreement.id, ids.tolist())
        linked_changed = registry.set_consent(agency, refs, scopes, connection=conn)
        held = pending_held + len(ids)
        result = ConsentResult(
            scopes=None if text is None else (text.split(" ") if text else []),
            records=len(set(refs)),
            pending_changed=pending_changed,
            linked_changed=linked_changed,
            unchanged=held - pending_changed - linked_changed,
            not_held=len(set(refs)) - held,
            registry_ids=tuple(int(i) for i in ids) if linked_changed else (),
        )
        details = result.audit_details(agency)
        append(conn, agreement.id, actor, ACTION, purpose=purpose, details=details)
    return result
