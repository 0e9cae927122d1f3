"""API keys: random, shown once, stored only as a BLAKE3 hash.

A key reads ``clk_<key id>_<secret>``: the key id is public (it names the key in audit entries
and in rotate/revoke calls), the 32 random bytes after it are not. The database holds only
BLAKE3 of the whole key, so a copy of the database authenticates nobody.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import blake3

__all__ = ["ROLES", "IssuedKey", "hash_key", "new_key"]

ROLES = ("steward", "submitter", "tracer", "evaluator")


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
