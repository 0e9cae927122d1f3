"""Case ids: opaque, human-transcribable, self-checking — ``CL-7K3M-Q9TX-4``.

Eight Crockford base32 symbols (40 random bits) in two groups, then a check symbol: the
40-bit value modulo 37 (Crockford's check). Because 37 is prime and larger than the alphabet,
any single wrong symbol and any swap of two adjacent symbols changes the check. Ids are only
issued when the check falls inside the ordinary 32 symbols, so every id is letters and digits.

Reading an id is forgiving the way Crockford intended: case, hyphens and spaces do not matter,
``O`` reads as ``0`` and ``I``/``L`` as ``1``.
"""

from __future__ import annotations

import secrets

from bloom import CaselinkError

__all__ = ["CaseIdError", "is_valid_case_id", "new_case_id", "parse_case_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CHECK = _ALPHABET + "*~$=U"
_DECODE = {c: i for i, c in enumerate(_CHECK)} | {"O": 0, "I": 1, "L": 1}
_PREFIX = "CL"
_BODY = 8


class CaseIdError(CaselinkError, ValueError):
    """A case id is malformed or fails its check symbol."""


def _body_value(body: str) -> int:
    value = 0
    for ch in body:
        digit = _DECODE.get(ch)
        if digit is None or digit >= 32:
            raise CaseIdError(f"'{ch}' is not a case id symbol")
        value = value * 32 + digit
    return value


def _format(value: int) -> str:
    body = "".join(_ALPHABET[(value >> (5 * (_BODY - 1 - i))) & 31] for i in range(_BODY))
    return f"{_PREFIX}-{body[:4]}-{body[4:]}-{_CHECK[value % 37]}"


def new_case_id(rand: int | None = None) -> str:
    """A fresh random case id (``rand`` fixes the 40 bits, for tests)."""
    while True:
        value = secrets.randbits(5 * _BODY) if rand is None else rand & ((1 << 40) - 1)
        if value % 37 < 32:
            return _format(value)
        if rand is not None:
            rand = (rand * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)


def parse_case_id(text: str) -> str:
    """The canonical form of a typed case id; raises CaseIdError if it is not one."""
    cleaned = "".join(text.split()).replace("-", "").upper()
    if not cleaned.startswith(_PREFIX) or len(cleaned) != len(_PREFIX) + _BODY + 1:
        raise CaseIdError("a case id looks like CL-XXXX-XXXX-X (8 symbols and a check symbol)")
    body, check = cleaned[len(_PREFIX) : -1], cleaned[-1]
    value = _body_value(body)
    if _DECODE.get(check) != value % 37:
        raise CaseIdError("the check symbol does not match: the case id was mistyped")
    return _format(value)


def is_valid_case_id(text: str) -> bool:
    try:
        parse_case_id(text)
    except CaseIdError:
        return False
    return True
