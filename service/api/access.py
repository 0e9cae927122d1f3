"""The gate of every agreement call: party, role and purpose checked, refusals audited.

:func:`open_agreement` answers 404 to a non-party (audited in the service's own chain under a
hash of the id tried, so that chain never reveals that an agreement exists), 403 to a party
whose key lacks the role or whose stated purpose the agreement does not allow (audited in the
agreement's chain), and otherwise returns the agreement and the purpose to record.
"""

from __future__ import annotations

from typing import Any

import blake3
import sqlalchemy as sa

from service._audit import append
from service.api.deps import Principal, agreement_of, check_purpose, need
from service.api.errors import ServiceError

__all__ = ["DEFAULT_PURPOSE", "open_agreement", "refuse"]

DEFAULT_PURPOSE = "linkage"  # uploads, runs and reading one's own cases serve the linkage itself


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
        with engine.connect() as conn:  # closed before refuse() opens its own transaction
            agreement = agreement_of(conn, principal, agreement_id)
    except ServiceError as e:
        tried = blake3.blake3(agreement_id.encode("utf-8")).hexdigest()[:16]
        raise refuse(engine, "", principal, action, e, details={"agreement_hash": tried}) from None
    try:
        need(principal, *roles)
        return agreement, check_purpose(agreement, purpose, default_purpose)
    except ServiceError as e:
        raise refuse(engine, agreement_id, principal, action, e, purpose=purpose) from None
