"""Data-sharing agreements: parties, auditors, purposes, schema, linkage settings, retention.

A steward creates one and is a party to it; only parties, and the ``auditor`` keys of the
agencies named as its auditors, ever see it (404 to others). An auditor reads it with the
default purpose ``oversight``. An admin key is in no role list here: the service's operator
reads no agreement."""

from __future__ import annotations

import secrets
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter

from service._audit import append
from service._keys import AGENCY_ROLES, AUDITOR
from service._review import agreement_band, set_agreement_band
from service.api.access import DEFAULT_PURPOSE, open_agreement, refuse
from service.api.deps import EngineDep, Principal, PrincipalDep, need
from service.api.errors import ServiceError
from service.api.models import AgreementCreate, AgreementPublic, LinkageSettings, Segment
from service.repositories import agencies as agencies_repo
from service.repositories import agreements as agreements_repo
from service.repositories.agreements import AgreementRow

router = APIRouter(prefix="/v1/agreements", tags=["agreements"])
ANY_ROLE = AGENCY_ROLES  # every role but admin; an auditor only where it is named
OVERSIGHT = "oversight"  # the purpose of an auditor's reading


def access_of(principal: Principal) -> Literal["party", "auditor"]:
    """How the caller reaches the agreements it sees (:func:`service.api.deps.agreement_of`)."""
    return "auditor" if principal.role == AUDITOR else "party"


def reading_purpose(principal: Principal) -> str:
    """The default purpose of reading an agreement: ``oversight`` for an auditor."""
    return OVERSIGHT if principal.role == AUDITOR else DEFAULT_PURPOSE


def threshold_value(text: str) -> float | str:
    return text if text == "auto" else float(text)


def band_list(band: tuple[float, float] | None) -> list[float] | None:
    return None if band is None else list(band)


def public(
    conn: sa.Connection, row: AgreementRow, access: Literal["party", "auditor"] = "party"
) -> AgreementPublic:
    return AgreementPublic(
        agreement_id=row.id,
        name=row.name,
        parties=agreements_repo.parties(conn, row.id),
        auditors=agreements_repo.auditors(conn, row.id),
        access=access,
        purposes=list(row.purposes),
        schema_fingerprint=row.schema_fingerprint,
        filter_bits=row.filter_bits,
        segments=[Segment(name=n, bits=b) for n, b in row.segments] if row.segments else None,
        retention_days=row.retention_days,
        created_by=agencies_repo.agency_name(conn, row.created_by),
        created_at=row.created_at,
        key_check=row.key_check,
        purpose_scopes=dict(row.purpose_scopes or {}),
        linkage=LinkageSettings(
            threshold=threshold_value(row.threshold),
            allow_duplicates_within_agency=row.allow_duplicates,
            review_band=band_list(agreement_band(conn, row.id)),
        ),
    )


@router.post(
    "",
    response_model=AgreementPublic,
    status_code=201,
    summary="Create an agreement",
    response_description="The agreement created, with its id.",
)
def create_agreement(
    body: AgreementCreate, engine: EngineDep, principal: PrincipalDep
) -> AgreementPublic:
    """Create a data-sharing agreement: its parties, the agencies named to oversee it, the
    purposes it allows (and the consent scope each needs, if any), the schema every batch
    must be encoded with (fingerprint and segment layout, as `caselink inspect` shows them),
    the linkage settings and how long records are kept. The steward's own agency becomes a
    party; every party and auditor must be an agency here already. The `auditor` keys of the
    auditors read the agreement and its audit.

    Only a `steward` key may call it. Audited in the agreement's chain."""
    need(principal, "steward")
    layout = body.layout_problems()
    if layout:
        raise ServiceError(422, "invalid_request", "the segment layout does not fit", layout)
    names = sorted(set(body.parties) | {principal.agency})
    auditors = sorted(body.auditors)
    with engine.begin() as conn:
        found = agencies_repo.agency_ids(conn, [*names, *auditors])
        missing = [
            f"{field}: no agency {n}; create it first"
            for field, listed in (("parties", names), ("auditors", auditors))
            for n in listed
            if n not in found
        ]
        if missing:
            raise ServiceError(
                422, "invalid_request", "some parties or auditors are not agencies here", missing
            )
        row = agreements_repo.add_agreement(
            conn,
            "agr_" + secrets.token_hex(8),
            name=body.name,
            schema_fingerprint=body.schema_fingerprint,
            filter_bits=body.filter_bits,
            segments=[[s.name, s.bits] for s in body.segments],
            purposes=body.purposes,
            retention_days=body.retention_days,
            threshold=str(body.linkage.threshold),
            allow_duplicates=body.linkage.allow_duplicates_within_agency,
            created_by=principal.agency_id,
            party_ids=[found[n] for n in names],
            auditor_ids=[found[n] for n in auditors],
            key_check=body.key_check,
            purpose_scopes=body.purpose_scopes,
        )
        set_agreement_band(conn, row.id, body.linkage.review_band)
        details = {
            "agreement": row.id,
            "parties": names,
            "auditors": auditors,
            "purposes": body.purposes,
        } | ({"purpose_scopes": body.purpose_scopes} if body.purpose_scopes else {})
        append(conn, row.id, principal.actor, "agreement.create", details=details)
        return public(conn, row)


@router.get(
    "",
    response_model=list[AgreementPublic],
    summary="List your agreements",
    response_description="The agreements your key is in (`access` says how); none other.",
)
def list_agreements(engine: EngineDep, principal: PrincipalDep) -> list[AgreementPublic]:
    """The agreements the caller's agency is a party to, and no others; for an `auditor`
    key, the agreements its agency is named to oversee, and no others. Each says how the key
    reaches it in `access`: `party` or `auditor`.

    Any key but an `admin` key may call it: the service's operator reads no agreement, not
    even its own agency's. Audited in each agreement's chain."""
    try:
        need(principal, *ANY_ROLE)
    except ServiceError as e:
        raise refuse(engine, "", principal, "agreement.list", e) from None
    auditor = principal.role == AUDITOR
    with engine.begin() as conn:
        if auditor:
            rows = agreements_repo.audited_by(conn, principal.agency_id)
        else:
            rows = agreements_repo.agreements_of(conn, principal.agency_id)
        why = OVERSIGHT if auditor else None
        for r in rows:
            append(conn, r.id, principal.actor, "agreement.list", purpose=why)
        return [public(conn, r, access_of(principal)) for r in rows]


@router.get(
    "/{agreement_id}",
    response_model=AgreementPublic,
    summary="Read an agreement",
    response_description="The agreement: parties, purposes, schema, settings and retention.",
)
def get_agreement(agreement_id: str, engine: EngineDep, principal: PrincipalDep) -> AgreementPublic:
    """One agreement, with the schema fingerprint and segment layout its batches must carry.

    Any key of a party agency but an `admin` key may call it, and an `auditor` key of an
    agency named to oversee it (with the default purpose `oversight`); everyone else gets
    404, as if it did not exist. Audited in the agreement's chain."""
    row, purpose = open_agreement(
        engine,
        principal,
        agreement_id,
        "agreement.read",
        ANY_ROLE,
        default_purpose=reading_purpose(principal),
    )
    with engine.begin() as conn:
        append(conn, agreement_id, principal.actor, "agreement.read", purpose=purpose)
        return public(conn, row, access_of(principal))
