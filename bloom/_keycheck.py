"""The key check value: a short public fingerprint of the shared secret.

Every batch and tracing query carries it, so that a register encoded with the wrong secret is
refused instead of becoming cases that match nothing (a wrong secret gives filters that look
right and link to no one). It is a keyed BLAKE3 output of a fixed message, under a key derived
from the secret for this purpose alone (its own BLAKE3 ``derive_key`` context, which no field
or hardening key uses), truncated to 64 bits. BLAKE3 is a pseudo-random function: the value
says nothing about the secret, nor about the field keys, beyond "this secret or not". It is
the same for every batch made with one secret, so it says no more than the agreement id does.

The value reads ``kcv1:`` and 16 hex digits. Agencies can compare theirs when they share a
secret (``caselink keygen`` and ``caselink inspect`` print it).
"""

from __future__ import annotations

import re

import blake3

from bloom._secret import Secret

__all__ = ["KEY_CHECK_PATTERN", "key_check_value"]

_CONTEXT = "caselink 2026-12 key check value v1"
_MESSAGE = b"caselink key check value"
_PREFIX = "kcv1:"
KEY_CHECK_PATTERN = re.compile(r"^kcv1:[0-9a-f]{16}$")


def key_check_value(secret: Secret) -> str:
    """``kcv1:`` and 16 hex digits: the same for the same secret, unrelated otherwise."""
    key = blake3.blake3(secret.key_bytes, derive_key_context=_CONTEXT).digest()
    return _PREFIX + blake3.blake3(_MESSAGE, key=key).hexdigest(length=8)
