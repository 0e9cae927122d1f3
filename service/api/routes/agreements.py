"""Data-sharing agreements: parties, purposes, schema, linkage settings, retention.

A steward creates one and is a party to it; only parties ever see it (404 to others). An
admin key is in no role list here: the service's operator reads no agreement."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from fastapi import APIRouter

from service._audit import append
from service.api.access import open_agreement, refuse
from service.api.deps import EngineDep, PrincipalDep, need
from service.api.errors import ServiceError
from service.api.models import AgreementCreate, AgreementPublic, LinkageSettings, Segment
from service.repositories import agencies as agencies_repo
from service.repositories import agreements as agreements_repo
from service.repositories.agreements import AgreementRow

router = APIRouter(prefix="/v1/agreements", tags=["agreements"])
ANY_ROLE = ("steward", "submitter", "tracer", "evaluator")


def threshold_value(text: str) -> float | str:
    return text if text == "auto" else float(text)


def public(conn: sa.Connection, row: AgreementRow) -> AgreementPublic:
    return AgreementPublic(
        agreement_id=row.id,
        name=row.name,
        parties=agreements_repo.parties(conn, row.id),
        purposes=list(row.purposes),
        schema_fingerprint=row.schema_fingerprint,
        filter_bits=row.filter_bits,
        segments=[Segment(name=n, bits=b) for n, b in row.segments] if row.segments else None,
        retention_days=row.retention_days,
        created_by=agencies_repo.agency_name(conn, row.created_by),
        created_at=row.created_at,
        key_check=row.key_check,
        linkage=LinkageSettings(
            threshold=threshold_value(row.threshold),
            allow_duplicates_within_agency=row.allow_duplicates,
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
    """Create a data-sharing agreement: its parties, the purposes it allows, the schema every
    batch must be encoded with (fingerprint and segment layout, as `caselink inspect` shows
    them), the linkage settings and how long records are kept. The steward's own agency
    becomes a party; every party must be an agency here already.

    Only a `steward` key may call it. Audited in the agreement's chain."""
    need(principal, "steward")
    layout = body.layout_problems()
    if layout:
        raise ServiceError(422, "invalid_request", "the segment layout does not fit", layout)
    names = sorted(set(body.parties) | {principal.agency})
    with engine.begin() as conn:
        found = agencies_repo.agency_ids(conn, names)
        missing = [n for n in names if n not in found]
        if missing:
            raise ServiceError(
                422,
                "invalid_request",
                "some parties are not agencies here",
                [f"parties: no agency {n}; create it first" for n in missing],
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
            key_check=body.key_check,
        )
        details = {"agreement": row.id, "parties": names, "purposes": body.purposes}
        append(conn, row.id, principal.actor, "agreement.create", details=details)
        return public(conn, row)


@router.get(
    "",
    response_model=list[AgreementPublic],
    summary="List your agreements",
    response_description="The agreements your agency is a party to; none other.",
)
def list_agreements(engine: EngineDep, principal: PrincipalDep) -> list[AgreementPublic]:
    """The agreements the caller's agency is a party to, and no others.

    Any key but an `admin` key may call it: the service's operator reads no agreement, not
    even its own agency's. Audited in each agreement's chain."""
    try:
        need(principal, *ANY_ROLE)
    except ServiceError as e:
        raise refuse(engine, "", principal, "agreement.list", e) from None
    with engine.begin() as conn:
        rows = agreements_repo.agreements_of(conn, principal.agency_id)
        for r in rows:
            append(conn, r.id, principal.actor, "agreement.list")
        return [public(conn, r) for r in rows]


@router.get(
    "/{agreement_id}",
    response_model=AgreementPublic,
    summary="Read an agreement",
    response_description="The agreement: parties, purposes, schema, settings and retention.",
)
def get_agreement(agreement_id: str, engine: EngineDep, principal: PrincipalDep) -> AgreementPublic:
    """One agreement, with the schema fingerprint and segment layout its batches must carry.

    Any key of a party agency but an `admin` key may call it; everyone else gets 404, as if
    it did not exist. Audited in the agreement's chain."""
    row, purpose = open_agreement(engine, principal, agreement_id, "agreement.read", ANY_ROLE)
    with engine.begin() as conn:
        append(conn, agreement_id, principal.actor, "agreement.read", purpose=purpose)
        return public(conn, row)
