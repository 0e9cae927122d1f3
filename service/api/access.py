"""The gate of every agreement call: party, role and purpose checked, refusals audited.

:func:`open_agreement` answers 404 to a key not in the agreement — of no party, or an
``auditor`` key of an agency not named as its auditor (audited in the service's own chain under
a hash of the id tried, so that chain never reveals that an agreement exists) —, 403 to a key
in it that lacks the role or whose purpose the agreement does not allow (audited in the
agreement's chain), and otherwise returns the agreement and the purpose to record.

The purpose of a call is the ``X-Caselink-Purpose`` header or, without one, the call's
default, and both go through the same check (:func:`check_purpose`): the agreement must allow
it. An agreement allows the purposes it lists, and two more implicitly, each only as the
default purpose of the calls it names (:data:`IMPLIED`): ``linkage`` for the linkage the
agreement exists for (uploads, runs, batches, one's own cases, withdrawals, reading the
agreement) and ``oversight`` for a steward or an auditor reading, verifying and checkpointing
the agreement's audit, and for an auditor reading the agreement itself. Every other purpose —
``evaluation``, the summary's default, and ``tracing`` included — must be listed, or the call
is refused exactly as a stated purpose would be.
"""

from __future__ import annotations

from typing import Any

import blake3
import sqlalchemy as sa

from service._audit import append
from service._db import reader_engine
from service.api.deps import PURPOSE_HEADER, Principal, agreement_of, need
from service.api.errors import ServiceError, named_id
from service.repositories.agreements import AgreementRow

__all__ = [
    "DEFAULT_PURPOSE",
    "IMPLIED",
    "allowed_purposes",
    "check_purpose",
    "open_agreement",
    "refuse",
]

DEFAULT_PURPOSE = "linkage"  # uploads, runs and reading one's own cases serve the linkage itself
IMPLIED = frozenset({"linkage", "oversight"})  # allowed by every agreement, as a call's default


def allowed_purposes(agreement: AgreementRow, default: str) -> list[str]:
    """The purposes a call with ``default`` may have under ``agreement``: those it lists, and
    ``default`` itself when it is one every agreement implies."""
    listed = list(agreement.purposes)
    return [*listed, default] if default in IMPLIED and default not in listed else listed


def check_purpose(agreement: AgreementRow, purpose: str | None, default: str) -> str:
    """The stated purpose, or else ``default``, if the agreement allows it; 403 otherwise.

    An empty ``default`` means the call needs a stated purpose: it is returned empty for the
    caller to refuse with its own 422."""
    chosen = purpose or default
    allowed = allowed_purposes(agreement, default)
    if not chosen or chosen in allowed:
        return chosen
    which = f"purpose '{chosen}'" + ("" if purpose else " (this call's default)")
    raise ServiceError(
        403,
        "forbidden",
        f"{which} is not allowed by {named_id('agreement', agreement.id)}; allowed: "
        f"{', '.join(allowed)}; state one of them in {PURPOSE_HEADER}",
    )


def refuse(
    engine: sa.Engine,
    scope: str,
    principal: Principal,
    action: str,
    err: ServiceError,
    purpose: str | None = None,
    details: dict[str, Any] | None = None,
) -> ServiceError:
    """Audit a refused call in its own transaction (it must outlive the error); return err."""
    with engine.begin() as conn:
        append(
            conn,
            scope,
            principal.actor,
            action,
            purpose=purpose,
            outcome=err.error,
            details={**(details or {}), "status": err.status},
        )
    return err


def open_agreement(
    engine: sa.Engine,
    principal: Principal,
    agreement_id: str,
    action: str,
    roles: tuple[str, ...],
    purpose: str | None = None,
    default_purpose: str = DEFAULT_PURPOSE,
) -> tuple[Any, str]:
    """The agreement and the purpose of this call, or a ServiceError after auditing it."""
    try:
        with reader_engine(engine).connect() as conn:  # a pure read: never waits for a writer
            agreement = agreement_of(conn, principal, agreement_id)
    except ServiceError as e:
        tried = blake3.blake3(agreement_id.encode("utf-8")).hexdigest()[:16]
        raise refuse(engine, "", principal, action, e, details={"agreement_hash": tried}) from None
    try:
        need(principal, *roles)
        return agreement, check_purpose(agreement, purpose, default_purpose)
    except ServiceError as e:
        tried = purpose or default_purpose or None
        raise refuse(engine, agreement_id, principal, action, e, purpose=tried) from None
