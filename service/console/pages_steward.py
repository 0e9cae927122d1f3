"""A steward's pages: the agency's agreements (create, amend parties, auditors, purposes and
retention, publish the transparency page) and its API keys (issue, rotate, revoke).

Every page calls the API's own route functions with the session's principal
(:mod:`service.api.routes`): the same roles, the same 404 for an agreement the agency is not
party to, and the same audit entries (``agreement.create``, ``agreement.read``,
``agreement.amend`` with each change before and after, ``agreement.publish``, ``key.create``,
``key.rotate``, ``key.revoke`` ...) and audited refusals as the matching API call. A refusal
of a form (422, 409) is shown on the page it came from, its title and advice translated.

A new key is in the answer to the form that made it, and nowhere else: not in a later page,
not in the session, not in a log. That answer is never cached (``Cache-Control: no-store``,
as every console page), and the key's page after it (``GET``) does not show it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query
from fastapi.responses import Response
from pydantic import ValidationError

import bloom
from service._keys import ROLES
from service.api.deps import need
from service.api.errors import ServiceError
from service.api.key_access import KEY_MANAGERS, check_issue
from service.api.models import AgreementAmend, AgreementCreate, AgreementPublic, KeyCreate
from service.api.routes import agencies, agreements, amendments, publication
from service.console.context import (
    ERRORS,
    ROLE_NAMES,
    FormPage,
    NavLink,
    Page,
    PageContext,
    console_router,
)
from service.console.i18n import N_
from service.repositories import transparency as transparency_repo

__all__ = ["HOME", "NAV", "router"]

router = console_router()
STEWARDS = amendments.AMENDERS  # who creates and amends agreements, as the API says
HOME = {"steward": "/steward/agreements"}
NAV = (
    NavLink(N_("Manage agreements"), "/steward/agreements", STEWARDS),
    NavLink(N_("API keys"), "/steward/keys", KEY_MANAGERS),
)
SCHEMAS = bloom.BUILTIN_SCHEMAS
CHANGES = (  # the amendment forms of an agreement's page
    "add_party",
    "remove_party",
    "add_auditor",
    "remove_auditor",
    "purposes",
    "retention",
)
DONE = {  # ?done= after a form: what the page says happened
    "created": N_("The agreement is created."),
    "amended": N_("The agreement is amended; the change is in its audit log."),
    "published": N_("The transparency page is published: anyone can read it without a key."),
    "unpublished": N_("The transparency page is no longer published."),
    "revoked": N_("The key is revoked: it stopped working at once."),
}
EMPTY_FORM = {
    "name": "",
    "parties": [],
    "auditors": [],
    "purposes": "",
    "schema": "",
    "retention_days": "365",
    "key_check": "",
}
_Short = Annotated[str, Form(max_length=200)]
_Text = Annotated[str, Form(max_length=2000)]


def _problems(e: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in err['loc']) or 'form'}: {err['msg']}" for err in e.errors()]


def _refusal(ctx: PageContext, error: ServiceError | None) -> dict[str, Any]:
    """What a page shows of a refused form: the translated title and advice, the API's
    detail and problems (in English, as the API answers them)."""
    if error is None:
        return {"error": None}
    title, advice = ERRORS.get(error.error, ERRORS["invalid_request"])
    return {
        "error": {
            "title": ctx.gettext(title),
            "advice": ctx.gettext(advice),
            "detail": error.detail,
            "problems": error.problems,
        }
    }


def _invalid(problems: list[str]) -> ServiceError:
    return ServiceError(422, "invalid_request", "the form is not complete", problems)


def _done(ctx: PageContext, done: str | None) -> str | None:
    return ctx.gettext(DONE[done]) if done in DONE else None


def _words(text: str) -> list[str]:
    """A list typed in one field, separated by commas, spaces or lines."""
    return [w for w in text.replace(",", " ").split() if w]


# -- agreements -----------------------------------------------------------------------------
@router.get("/steward/agreements")
def agreement_list(ctx: Page) -> Response:
    """The agreements the steward's agency is a party to (``GET /v1/agreements``)."""
    need(ctx.principal, *STEWARDS)
    rows = agreements.list_agreements(ctx.engine, ctx.principal)
    return ctx.render("steward/agreements.html", agreements=rows)


def _agencies(ctx: PageContext) -> list[str]:
    """Every agency's name (``GET /v1/agencies``, which a steward may call)."""
    return [a.name for a in agencies.list_agencies(ctx.engine, ctx.principal)]


def _new_page(
    ctx: PageContext,
    status_code: int = 200,
    error: ServiceError | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    return ctx.render(
        "steward/new_agreement.html",
        status_code=status_code,
        agencies=[a for a in _agencies(ctx) if a != ctx.principal.agency],
        schemas=SCHEMAS,
        form=form or EMPTY_FORM,
        done=None,
        **_refusal(ctx, error),
    )


@router.get("/steward/agreements/new")
def new_agreement(ctx: Page) -> Response:
    """The form creating an agreement."""
    need(ctx.principal, *STEWARDS)
    return _new_page(ctx)


@router.post("/steward/agreements/new")
def create_agreement(
    ctx: FormPage,
    name: _Short = "",
    parties: Annotated[list[str] | None, Form(max_length=100)] = None,
    auditors: Annotated[list[str] | None, Form(max_length=100)] = None,
    purposes: _Text = "",
    schema_name: Annotated[str, Form(max_length=32)] = "",
    retention_days: Annotated[str, Form(max_length=8)] = "",
    key_check: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Create the agreement (``POST /v1/agreements``), then its page; a form the API
    refuses comes back with what to change, as typed."""
    parties, auditors = parties or [], auditors or []
    form = {
        "name": name,
        "parties": parties,
        "auditors": auditors,
        "purposes": purposes,
        "schema": schema_name,
        "retention_days": retention_days,
        "key_check": key_check,
    }
    if schema_name not in SCHEMAS:
        return _new_page(ctx, 422, _invalid([f"schema_name: one of {', '.join(SCHEMAS)}"]), form)
    chosen = bloom.Schema.load(schema_name)
    try:
        body = AgreementCreate(
            name=name,
            parties=[ctx.principal.agency, *(p for p in parties if p != ctx.principal.agency)],
            auditors=auditors,
            purposes=_words(purposes),
            schema_fingerprint=chosen.fingerprint,
            filter_bits=chosen.filter_bits,
            segments=[{"name": n, "bits": b} for n, b in chosen.layout],  # type: ignore[misc]
            retention_days=retention_days,  # type: ignore[arg-type]
            key_check=key_check.strip() or None,
        )
    except ValidationError as e:
        return _new_page(ctx, 422, _invalid(_problems(e)), form)
    try:
        created = agreements.create_agreement(body, ctx.engine, ctx.principal)
    except ServiceError as e:
        if e.status not in (409, 422):
            raise
        return _new_page(ctx, e.status, e, form)
    return ctx.redirect(f"/steward/agreements/{created.agreement_id}?done=created")


def _agreement_page(
    ctx: PageContext,
    agreement: AgreementPublic,
    status_code: int = 200,
    error: ServiceError | None = None,
    done: str | None = None,
) -> Response:
    with ctx.engine.connect() as conn:
        published = transparency_repo.is_published(conn, agreement.agreement_id)
    everyone = _agencies(ctx)
    return ctx.render(
        "steward/agreement.html",
        status_code=status_code,
        agreement=agreement,
        published=published,
        public_path=publication.public_path(agreement.agreement_id),
        others=[a for a in everyone if a not in agreement.parties],
        not_auditors=[a for a in everyone if a not in agreement.auditors],
        done=_done(ctx, done),
        **_refusal(ctx, error),
    )


@router.get("/steward/agreements/{agreement_id}")
def agreement_page(
    agreement_id: str,
    ctx: Page,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """One agreement (``GET /v1/agreements/{id}``: 404 to a non-party, audited
    ``agreement.read``) with the forms amending it and publishing its page."""
    need(ctx.principal, *STEWARDS)
    agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
    return _agreement_page(ctx, agreement, done=done)


def _amendment(change: str, agency: str, purposes: str, retention_days: str) -> AgreementAmend:
    """The API's amendment body of one form of the page (ValidationError if not valid)."""
    if change == "purposes":
        return AgreementAmend(purposes=_words(purposes))  # type: ignore[arg-type]
    if change == "retention":
        return AgreementAmend(retention_days=retention_days)  # type: ignore[arg-type]
    field = {
        "add_party": "add_parties",
        "remove_party": "remove_parties",
        "add_auditor": "add_auditors",
        "remove_auditor": "remove_auditors",
    }[change]
    return AgreementAmend(**{field: [agency] if agency else []})


@router.post("/steward/agreements/{agreement_id}/amend")
def amend(
    agreement_id: str,
    ctx: FormPage,
    change: Annotated[str, Form(max_length=16)] = "",
    agency: Annotated[str, Form(max_length=64)] = "",
    purposes: _Text = "",
    retention_days: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """One amendment (``PATCH /v1/agreements/{id}``, audited ``agreement.amend`` with the
    change before and after, or its refusal), then the agreement's page; a refusal is shown
    on that page."""
    if change not in CHANGES:
        raise ServiceError(422, "invalid_request", f"change: one of {', '.join(CHANGES)}")
    try:
        body = _amendment(change, agency, purposes, retention_days)
    except ValidationError as e:
        agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
        return _agreement_page(ctx, agreement, 422, _invalid(_problems(e)))
    try:
        amendments.amend_agreement(agreement_id, body, ctx.engine, ctx.principal, None)
    except ServiceError as e:
        if e.status not in (409, 422):
            raise
        agreement = agreements.get_agreement(agreement_id, ctx.engine, ctx.principal)
        return _agreement_page(ctx, agreement, e.status, e)
    return ctx.redirect(f"/steward/agreements/{agreement_id}?done=amended")


@router.post("/steward/agreements/{agreement_id}/publication")
def publish(
    agreement_id: str,
    ctx: FormPage,
    published: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Publish (``published=yes``) or unpublish (``no``) the agreement's transparency page
    (``POST`` / ``DELETE /v1/agreements/{id}/publication``, audited)."""
    if published == "yes":
        publication.publish_transparency(agreement_id, ctx.engine, ctx.principal, None)
        return ctx.redirect(f"/steward/agreements/{agreement_id}?done=published")
    if published == "no":
        publication.unpublish_transparency(agreement_id, ctx.engine, ctx.principal, None)
        return ctx.redirect(f"/steward/agreements/{agreement_id}?done=unpublished")
    raise ServiceError(422, "invalid_request", "published: yes or no")


# -- keys -----------------------------------------------------------------------------------
def _issuable(ctx: PageContext, agencies_listed: list[str]) -> tuple[list[str], list[str]]:
    """The agencies and roles the session's key may issue keys to and with, as the API's own
    check (:func:`~service.api.key_access.check_issue`) answers."""

    def allowed(agency: str, role: str) -> bool:
        try:
            check_issue(ctx.principal, agency, role)
        except ServiceError:
            return False
        return True

    names = [a for a in agencies_listed if any(allowed(a, r) for r in ROLES)]
    roles = [r for r in ROLES if any(allowed(a, r) for a in names)]
    return names, roles


def _keys_page(
    ctx: PageContext,
    status_code: int = 200,
    error: ServiceError | None = None,
    done: str | None = None,
) -> Response:
    rows = agencies.list_keys(ctx.engine, ctx.principal)  # 403 to any role but admin, steward
    names, roles = _issuable(ctx, _agencies(ctx))
    return ctx.render(
        "steward/keys.html",
        status_code=status_code,
        keys=rows,
        issue_agencies=names,
        issue_roles=[(r, ctx.gettext(ROLE_NAMES[r])) for r in roles],
        role_names={r: ctx.gettext(n) for r, n in ROLE_NAMES.items()},
        done=_done(ctx, done),
        **_refusal(ctx, error),
    )


@router.get("/steward/keys")
def key_list(ctx: Page, done: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    """The keys the session's key manages (``GET /v1/keys``: an admin every key, a steward
    its agency's), with the forms issuing, rotating and revoking them. Never a key itself."""
    return _keys_page(ctx, done=done)


def _issued(ctx: PageContext, issued: Any, rotated: str | None) -> Response:
    """The one page that shows a new key: the answer to the POST that made it."""
    response = ctx.render(
        "steward/key_issued.html",
        status_code=201,
        issued=issued,
        rotated=rotated,
        role_label=ctx.gettext(ROLE_NAMES[issued.role]),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/steward/keys")
def issue(
    ctx: FormPage,
    agency: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Issue a key (``POST /v1/agencies/{name}/keys``, audited ``key.create``) and show it,
    this once."""
    try:
        body = KeyCreate(role=role)  # type: ignore[arg-type]
    except ValidationError as e:
        return _keys_page(ctx, 422, _invalid(_problems(e)))
    try:
        issued = agencies.create_key(agency, body, ctx.engine, ctx.principal)
    except ServiceError as e:
        if e.status not in (404, 409, 422):
            raise
        return _keys_page(ctx, e.status, e)
    return _issued(ctx, issued, None)


@router.post("/steward/keys/{key_id}/rotate")
def rotate(key_id: str, ctx: FormPage) -> Response:
    """Rotate a key (``POST /v1/keys/{id}/rotate``, audited ``key.rotate``): the old key stops
    working at once; the new one is shown this once."""
    try:
        issued = agencies.rotate_key(key_id, ctx.engine, ctx.principal)
    except ServiceError as e:
        if e.status not in (404, 409):
            raise
        return _keys_page(ctx, e.status, e)
    return _issued(ctx, issued, key_id)


@router.post("/steward/keys/{key_id}/revoke")
def revoke(key_id: str, ctx: FormPage) -> Response:
    """Revoke a key (``DELETE /v1/keys/{id}``, audited ``key.revoke``)."""
    try:
        agencies.revoke_key(key_id, ctx.engine, ctx.principal)
    except ServiceError as e:
        if e.status not in (404, 409):
            raise
        return _keys_page(ctx, e.status, e)
    if key_id == ctx.principal.key_id:  # the session's own key: the session has ended
        return ctx.redirect("/sign-in")
    return ctx.redirect("/steward/keys?done=revoked")
