"""Amending an agreement: a steward of a party adds or removes parties or auditors, replaces
the purposes or changes the retention period (``PATCH /v1/agreements/{agreement_id}``).

What an amendment means:

- an added party sees the agreement, uploads and reads its own cases from then on; it reads
  no record another agency sent before, as no party does;
- a party is removed only while it holds no stored record in the agreement (pending, linked
  or quarantined): 409 until its records are withdrawn or purged by retention, for linked
  records of a party that has left would keep surfacing in other agencies' cases. Its agency
  then gets 404 like any outsider. A steward never removes its own agency (it would lock
  itself out): a steward of another party does;
- an agency named as auditor (a party or not) lets its ``auditor`` keys read the agreement
  and its audit from then on — the entries from before too: the whole chain is what they
  oversee; an auditor removed gets 404 like any outsider from the next call on;
- the purposes, when given, replace the list: a purpose taken out is refused from the next
  call on;
- a new review band (or none: ``null``) queues the links inside it from the next run on;
  items queued already stay, with their decisions;
- a new retention period counts from each batch's arrival, as the old one did: a shorter one
  takes effect at the next retention sweep (``caselink admin sweep``, or the service's own
  timer), a longer one keeps batches a sweep has not purged yet;
- the consent scope of each purpose (``purpose_scopes``), when given, replaces the map: from
  the next call on, a call stating a mapped purpose is answered only from records whose
  consent covers its scope. Every purpose mapped must be allowed after the amendment (or be
  ``linkage``): purposes taken out while mapped are refused (422) until the map drops them.

Every amendment is one transaction that appends ``agreement.amend`` to the agreement's audit
chain with each changed field ``before`` and ``after``; every refusal is audited too.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from linkage import Registry
from service._audit import append
from service._review import agreement_band, set_agreement_band
from service.api.access import open_agreement, refuse
from service.api.deps import EngineDep, Principal, PrincipalDep, PurposeDep
from service.api.errors import ServiceError
from service.api.models import AgreementAmend, AgreementPublic
from service.api.models_consent import scope_map_problems
from service.api.routes.agreements import public
from service.repositories import agencies as agencies_repo
from service.repositories import agreements as agreements_repo
from service.repositories.agreements import AgreementRow
from service.repositories.batches import stored_records

__all__ = ["router"]

router = APIRouter(prefix="/v1/agreements", tags=["agreements"])
ACTION = "agreement.amend"
AMENDERS = ("steward",)


def _party_ids(
    conn: sa.Connection, principal: Principal, body: AgreementAmend, parties: list[str]
) -> tuple[list[int], list[int]]:
    """The agency ids to add and to remove; 422 naming every party that cannot be."""
    problems: list[str] = []
    found = agencies_repo.agency_ids(conn, [*body.add_parties, *body.remove_parties])
    for name in body.add_parties:
        if name not in found:
            problems.append(f"add_parties: no agency {name}; create it first")
        elif name in parties:
            problems.append(f"add_parties: {name} is a party already")
    for name in body.remove_parties:
        if name not in parties:
            problems.append(f"remove_parties: {name} is not a party")
        elif name == principal.agency:
            problems.append(
                f"remove_parties: {name} is your own agency; a steward of another party "
                "may remove it"
            )
    if problems:
        raise ServiceError(422, "invalid_request", "the parties cannot be changed so", problems)
    return [found[n] for n in body.add_parties], [found[n] for n in body.remove_parties]


def _auditor_ids(
    conn: sa.Connection, body: AgreementAmend, auditors: list[str]
) -> tuple[list[int], list[int]]:
    """The agency ids to name and to un-name as auditors; 422 naming every one that cannot be."""
    problems: list[str] = []
    found = agencies_repo.agency_ids(conn, [*body.add_auditors, *body.remove_auditors])
    for name in body.add_auditors:
        if name not in found:
            problems.append(f"add_auditors: no agency {name}; create it first")
        elif name in auditors:
            problems.append(f"add_auditors: {name} is an auditor already")
    for name in body.remove_auditors:
        if name not in auditors:
            problems.append(f"remove_auditors: {name} is not an auditor")
    if problems:
        raise ServiceError(422, "invalid_request", "the auditors cannot be changed so", problems)
    return [found[n] for n in body.add_auditors], [found[n] for n in body.remove_auditors]


def _still_holding(
    conn: sa.Connection, engine: sa.Engine, agreement_id: str, leaving: dict[str, int]
) -> None:
    """409 naming each leaving party that still holds records in the agreement."""
    registry = Registry(engine, scope=agreement_id, create_tables=False)
    problems = []
    for name, agency_id in leaving.items():
        held = max(
            stored_records(conn, agreement_id, agency_id),
            registry.records(name, connection=conn),
        )
        if held:
            problems.append(
                f"remove_parties: {name} holds {held:,} stored record(s) in this agreement; "
                "withdraw them (caselink withdraw --refs-file) or let retention purge them, "
                "then remove it"
            )
    if problems:
        raise ServiceError(409, "conflict", "a party that holds records cannot leave", problems)


def _changes(
    body: AgreementAmend,
    before: AgreementRow,
    after: AgreementRow,
    parties: tuple[list, list],
    auditors: tuple[list, list],
) -> dict[str, Any]:
    """The changed fields, before and after (the audit entry's details)."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    if body.add_parties or body.remove_parties:
        old["parties"], new["parties"] = parties
    if body.add_auditors or body.remove_auditors:
        old["auditors"], new["auditors"] = auditors
    if body.purposes is not None:
        old["purposes"], new["purposes"] = list(before.purposes), list(after.purposes)
    if body.retention_days is not None:
        old["retention_days"], new["retention_days"] = before.retention_days, after.retention_days
    if body.purpose_scopes is not None:
        old["purpose_scopes"] = dict(before.purpose_scopes or {})
        new["purpose_scopes"] = dict(after.purpose_scopes or {})
    return {"before": old, "after": new}


def _scopes_fit(body: AgreementAmend, before: AgreementRow) -> None:
    """422 when a purpose mapped to a scope would not be allowed after the amendment."""
    purposes = body.purposes if body.purposes is not None else list(before.purposes)
    scopes = body.purpose_scopes if body.purpose_scopes is not None else before.purpose_scopes
    problems = scope_map_problems(dict(scopes or {}), purposes)
    if problems and body.purpose_scopes is None:
        problems = [
            p.replace("map only its purposes, or linkage", "give purpose_scopes without it too")
            for p in problems
        ]
    if problems:
        raise ServiceError(
            422, "invalid_request", "the consent scopes do not fit the purposes", problems
        )


@router.patch(
    "/{agreement_id}",
    response_model=AgreementPublic,
    summary="Amend parties, auditors, purposes, retention",
    response_description="The agreement as amended.",
)
def amend_agreement(
    agreement_id: str,
    body: AgreementAmend,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
) -> AgreementPublic:
    """Amend an agreement (a `steward` of a party agency): add or remove parties, name or
    un-name auditors (agencies whose `auditor` keys read the agreement and its audit), replace
    the purposes, change the retention period, the review band or the consent scope each
    purpose needs (`purpose_scopes`). A party holding stored records cannot leave (409:
    withdraw or purge them first); a shorter retention period purges at the next sweep; a new
    review band queues from the next run on. Audited with each change before and after."""
    _, why = open_agreement(engine, principal, agreement_id, ACTION, AMENDERS, purpose)
    try:
        with engine.begin() as conn:
            before = agreements_repo.agreement(conn, agreement_id, for_update=True)
            assert before is not None  # open_agreement found it; agreements are never deleted
            parties = agreements_repo.parties(conn, agreement_id)
            auditors = agreements_repo.auditors(conn, agreement_id)
            add_ids, remove_ids = _party_ids(conn, principal, body, parties)
            _scopes_fit(body, before)
            add_auditors, remove_auditors = _auditor_ids(conn, body, auditors)
            leaving = dict(zip(body.remove_parties, remove_ids, strict=True))
            _still_holding(conn, engine, agreement_id, leaving)
            after = agreements_repo.amend(
                conn,
                agreement_id,
                add_party_ids=add_ids,
                remove_party_ids=remove_ids,
                purposes=body.purposes,
                retention_days=body.retention_days,
                add_auditor_ids=add_auditors,
                remove_auditor_ids=remove_auditors,
                purpose_scopes=body.purpose_scopes,
            )
            details = _changes(
                body,
                before,
                after,
                (parties, agreements_repo.parties(conn, agreement_id)),
                (auditors, agreements_repo.auditors(conn, agreement_id)),
            )
            if "review_band" in body.model_fields_set:  # queued from the next run on
                old_band = agreement_band(conn, agreement_id)
                set_agreement_band(conn, agreement_id, body.review_band)
                details["before"]["review_band"] = old_band and list(old_band)
                details["after"]["review_band"] = body.review_band
            append(conn, agreement_id, principal.actor, ACTION, purpose=why, details=details)
            return public(conn, after)
    except ServiceError as e:  # the transaction is rolled back: audit the refusal on its own
        asked = body.model_dump(exclude_defaults=True)
        raise refuse(engine, agreement_id, principal, ACTION, e, why, {"asked": asked}) from None
