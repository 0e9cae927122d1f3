"""The gate of every agency and key call: the role model of :mod:`service._keys`, enforced.

Each check raises a :class:`ServiceError`; the routes hand it to :func:`refused`, which audits
it in the service's own chain before it is answered. A key id is named in that entry only if
it is well formed (``key_`` and 16 hex digits), and never in an answer: the caller is told
about "the key id you sent". A steward asking about another agency's key, or an admin key,
gets the 404 of a key id that does not exist, so it cannot learn which ids are real.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from service._keys import AGENCY_ROLES, KEY_ID
from service.api.access import refuse
from service.api.deps import Principal, need
from service.api.errors import ServiceError
from service.repositories.agencies import KeyRow, key_in_reach, keys_in_reach

__all__ = [
    "KEY_MANAGERS",
    "check_issue",
    "check_manage",
    "key_tried",
    "managed_key",
    "refused",
    "visible_keys",
]

KEY_MANAGERS = ("admin", "steward")
NO_KEY = "no key with the key id you sent among the keys you may manage"


def key_tried(key_id: str) -> dict[str, Any]:
    """What an audit entry may say about a key id from a request: itself, if well formed."""
    return {"key": key_id} if KEY_ID.fullmatch(key_id) else {"key_malformed": True}


def refused(
    engine: sa.Engine, principal: Principal, action: str, err: ServiceError, **details: Any
) -> ServiceError:
    """Audit a refused agency or key call in the service's chain; return the error to raise."""
    return refuse(engine, "", principal, action, err, details=details)


def check_issue(principal: Principal, agency: str, role: str) -> None:
    """May the caller issue a key with ``role`` to ``agency``? 403 if not."""
    need(principal, *KEY_MANAGERS)
    if principal.role == "admin":
        return
    if agency != principal.agency:
        raise ServiceError(
            403,
            "forbidden",
            f"a steward issues keys to its own agency ({principal.agency}) only; "
            "ask the service's admin for keys of another agency",
        )
    if role not in AGENCY_ROLES:
        raise ServiceError(
            403,
            "forbidden",
            f"a steward issues keys with role {', '.join(AGENCY_ROLES)} only; "
            f"ask the service's admin for a key with role {role}",
        )


def check_manage(principal: Principal, key_id: str, *, rotating: bool) -> None:
    """403 unless the caller manages keys, or rotates the very key it calls with."""
    if principal.role in KEY_MANAGERS:
        return
    if rotating and key_id == principal.key_id:
        return
    what = "may rotate only the key it calls with" if rotating else "may not revoke keys"
    raise ServiceError(
        403,
        "forbidden",
        f"a key with role {principal.role} {what}; managing other keys needs a key with role "
        f"{' or '.join(KEY_MANAGERS)}",
    )


def managed_key(conn: sa.Connection, principal: Principal, key_id: str) -> KeyRow:
    """The unrevoked key ``key_id`` if within the caller's reach; 404 or 409 otherwise."""
    if not KEY_ID.fullmatch(key_id):
        raise ServiceError(404, "not_found", NO_KEY)
    row = key_in_reach(
        conn, key_id, role=principal.role, agency_id=principal.agency_id, own_key=principal.key_id
    )
    if row is None:
        raise ServiceError(404, "not_found", NO_KEY)
    if row.revoked_at is not None:
        raise ServiceError(409, "conflict", "the key with the key id you sent is revoked already")
    return row


def visible_keys(conn: sa.Connection, principal: Principal) -> list[KeyRow]:
    """Every key the caller may list: all (admin), or its agency's but admin keys (steward)."""
    need(principal, *KEY_MANAGERS)
    return keys_in_reach(
        conn, role=principal.role, agency_id=principal.agency_id, own_key=principal.key_id
    )
