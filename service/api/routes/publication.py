"""Publishing an agreement's transparency page, and the page's figures for the public.

A steward of a party publishes (``POST /v1/agreements/{id}/publication``) or withdraws
(``DELETE``) the page; each is audited (``agreement.publish``, ``agreement.unpublish``) in
the agreement's chain. It is off until one does.

``GET /v1/public/agreements/{id}/transparency`` needs no key and answers 404 unless the page
is published (the same 404 as for an agreement that does not exist). Its figures are counts
with small cells suppressed (:mod:`service._transparency`): no linked data, so a read is not
audited — and an audit entry per anonymous read would let anyone grow the chain at will. It
is cheap to answer (complete months are counted once per process, then cached) and
cacheable: ``Cache-Control: public`` for a minute and an ``ETag``, with 304 to a matching
``If-None-Match``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import blake3
from fastapi import APIRouter, Header, Response

from service._audit import append
from service._transparency import transparency
from service.api.access import open_agreement
from service.api.deps import EngineDep, PrincipalDep, PurposeDep
from service.api.models_transparency import Publication, TransparencyPublic, public_transparency
from service.repositories import transparency as transparency_repo

__all__ = ["CACHE_SECONDS", "PUBLISHERS", "public_path", "router"]

router = APIRouter(tags=["agreements"])
PUBLISHERS = ("steward",)
CACHE_SECONDS = 60


def public_path(agreement_id: str) -> str:
    return f"/v1/public/agreements/{agreement_id}/transparency"


def _set(engine, principal, agreement_id: str, purpose: str | None, published: bool):
    action = "agreement.publish" if published else "agreement.unpublish"
    _, why = open_agreement(
        engine, principal, agreement_id, action, PUBLISHERS, purpose, default_purpose="oversight"
    )
    with engine.begin() as conn:
        was = transparency_repo.set_published(conn, agreement_id, published)
        details = {"published": published, "changed": was != published}
        append(conn, agreement_id, principal.actor, action, purpose=why, details=details)
    return Publication(
        agreement_id=agreement_id,
        published=published,
        changed=was != published,
        public_path=public_path(agreement_id),
    )


@router.post(
    "/v1/agreements/{agreement_id}/publication",
    response_model=Publication,
    summary="Publish the transparency page",
    response_description="The page is published; where the public reads it.",
)
def publish_transparency(
    agreement_id: str, engine: EngineDep, principal: PrincipalDep, purpose: PurposeDep
) -> Publication:
    """Publish the agreement's transparency page: from now on anyone, without a key, reads
    its parties, purposes and retention, and per month the accesses by kind and purpose, the
    refusals, withdrawals and records purged — counts from 1 to 9 never shown — and when its
    audit was last verified. Publishing twice changes nothing. The default purpose is
    `oversight`.

    Only a `steward` key of a party agency may call it. Audited in the agreement's chain."""
    return _set(engine, principal, agreement_id, purpose, True)


@router.delete(
    "/v1/agreements/{agreement_id}/publication",
    response_model=Publication,
    summary="Unpublish the transparency page",
    response_description="The page is no longer published.",
)
def unpublish_transparency(
    agreement_id: str, engine: EngineDep, principal: PrincipalDep, purpose: PurposeDep
) -> Publication:
    """Stop publishing the agreement's transparency page: the public address answers 404 from
    now on (a copy cached by a browser or proxy may live a minute more). The default purpose
    is `oversight`.

    Only a `steward` key of a party agency may call it. Audited in the agreement's chain."""
    return _set(engine, principal, agreement_id, purpose, False)


@router.get(
    "/v1/public/agreements/{agreement_id}/transparency",
    response_model=TransparencyPublic,
    summary="Read an agreement's transparency figures",
    response_description="The published figures: counts only, none from 1 to 9.",
    responses={304: {"description": "Your copy (its ETag in If-None-Match) is current."}},
)
def read_transparency(
    agreement_id: str,
    engine: EngineDep,
    if_none_match: Annotated[
        str | None,
        Header(
            max_length=200,
            description="The `ETag` of a copy you hold: 304 and no body if it is current.",
        ),
    ] = None,
) -> Response:
    """What happens to the data shared under a published agreement: its parties, purposes
    and retention period; per complete month, the accesses by kind (uploads, runs, case
    reads, tracing queries) and purpose, the refusals, the withdrawals honoured and the
    records purged by retention; and when its audit chain was last verified, with the
    result. A count from 1 to 9 is never shown ("fewer than 10"), and no number is a total
    of others. Never a record, a case id or an agency's own figures.

    Needs no key; answers 404 unless a steward published the page. Not audited: it holds no
    linked data."""
    figures = transparency(engine, agreement_id, datetime.now(UTC))
    body = public_transparency(figures).model_dump_json().encode("utf-8")
    tag = f'"{blake3.blake3(body).hexdigest()[:32]}"'
    headers = {"Cache-Control": f"public, max-age={CACHE_SECONDS}", "ETag": tag}
    if if_none_match is not None and tag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
