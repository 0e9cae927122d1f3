"""API keys and the roles they carry: random, shown once, stored only as a BLAKE3 hash.

A key reads ``clk_<key id>_<secret>``: the key id (``key_`` and 16 hex digits) is public (it
names the key in audit entries and in rotate/revoke calls), the 32 random bytes after it are
not. The database holds only BLAKE3 of the whole key, so a copy of the database authenticates
nobody.

Every key belongs to one agency and has one role. Least privilege decides who manages keys:

=========== =========================================================================
role        may
=========== =========================================================================
admin       the service's operator, service-wide: create and list agencies; issue keys
            of any role (admin too) to any agency; list, rotate and revoke any key; read
            and verify the service's own audit chain. No agreement data at all: admin is
            in no agreement route's roles.
steward     its own agency and the agreements it is party to: create agreements (its
            agency becomes a party); list agency names (to name parties); list, rotate and
            revoke its own agency's keys and issue them keys of the roles in
            :data:`AGENCY_ROLES`. Another agency's key, or an admin key, is out of its
            sight: 404, as for a key id that does not exist.
submitter,  rotate the very key they call with, and nothing else on keys or agencies.
tracer,
evaluator,
auditor
=========== =========================================================================

An ``auditor`` key is for independent oversight: it reads an agreement, its audit chain, and
has the chain verified and checkpointed, for the agreements a steward of a party named its
agency on as an auditor (:mod:`service.api.routes.amendments`) — and nothing else. Its
agency need not be a party; being named gives the agency's other keys nothing.

The first admin (or steward) key is made straight on the database by
``caselink admin create-agency NAME --role admin``: whoever can open the database is the
operator already.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import blake3

__all__ = ["AGENCY_ROLES", "AUDITOR", "KEY_ID", "ROLES", "IssuedKey", "hash_key", "new_key"]

AGENCY_ROLES = ("steward", "submitter", "tracer", "evaluator", "auditor")  # a steward issues these
AUDITOR = "auditor"  # reads what it is named on: the agreement and its audit
ROLES = ("admin", *AGENCY_ROLES)
KEY_ID = re.compile(r"^key_[0-9a-f]{16}$")  # what new_key makes; anything else names no key


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    api_key: str  # shown to its holder once, never stored
    key_hash: str


def hash_key(api_key: str) -> str:
    return blake3.blake3(api_key.encode("utf-8")).hexdigest()


def new_key() -> IssuedKey:
    key_id = "key_" + secrets.token_hex(8)
    api_key = f"clk_{key_id[4:]}_{secrets.token_urlsafe(32)}"
    return IssuedKey(key_id=key_id, api_key=api_key, key_hash=hash_key(api_key))
