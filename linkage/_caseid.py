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
from collections.abc import Collection
from typing import cast

import numpy as np
import pandas as pd

from caselink_errors import CaseIdError

__all__ = ["CaseIdError", "is_valid_case_id", "new_case_id", "new_case_ids", "parse_case_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CHECK = _ALPHABET + "*~$=U"
_DECODE = {c: i for i, c in enumerate(_CHECK)} | {"O": 0, "I": 1, "L": 1}
_PREFIX = "CL"
_BODY = 8
_SYMBOLS = np.array([ord(ch) for ch in _CHECK], dtype=np.uint32)  # code points, for bulk work
_TEMPLATE = np.array([ord(ch) for ch in f"{_PREFIX}-0000-0000-0"], dtype=np.uint32)
_SHIFTS = (5 * np.arange(_BODY - 1, -1, -1)).astype(np.uint64)  # of each body symbol


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


def _format_many(values: np.ndarray) -> np.ndarray:
    """:func:`_format` of each 40-bit value (uint64), as an object array of str."""
    body = _SYMBOLS[((values[:, None] >> _SHIFTS) & np.uint64(31)).astype(np.intp)]
    text = np.empty((len(values), 14), dtype=np.uint32)  # UCS-4 code points, as "U14" holds
    text[:] = _TEMPLATE
    text[:, 3:7], text[:, 8:12] = body[:, :4], body[:, 4:]
    text[:, 13] = _SYMBOLS[(values % np.uint64(37)).astype(np.intp)]
    return text.view("U14").ravel().astype(object)


def _random_values(m: int, rng: np.random.Generator | None) -> np.ndarray:
    """``m`` random 40-bit values (uint64) whose check falls among the ordinary symbols."""
    if rng is None:  # the operating system's CSPRNG, as secrets.randbits draws from
        values = np.frombuffer(secrets.token_bytes(8 * m), dtype="<u8").astype(np.uint64)
    else:
        values = rng.integers(0, 1 << 40, size=m, dtype=np.uint64)
    values &= np.uint64((1 << 40) - 1)
    return values[values % np.uint64(37) < np.uint64(32)]


def _values_of(ids: Collection[str]) -> np.ndarray:
    """The 40-bit value of each id in ``ids`` written as :func:`_format` writes it; other
    strings are left out."""
    text = np.fromiter(ids, dtype="U14", count=len(ids)).view(np.uint32).reshape(-1, 14)
    digit_of = np.full(128, 32, dtype=np.uint64)  # 32: not a symbol of the body
    digit_of[_SYMBOLS[:32]] = np.arange(32, dtype=np.uint64)
    digits = digit_of[np.minimum(text[:, np.r_[3:7, 8:12]], 127)]
    ok = (digits < 32).all(axis=1)
    fixed = [0, 1, 2, 7, 12]  # prefix and hyphens
    ok &= (text[:, fixed] == _TEMPLATE[fixed]).all(axis=1)
    values = (digits << _SHIFTS).sum(axis=1, dtype=np.uint64)
    ok &= _SYMBOLS[(values % np.uint64(37)).astype(np.intp)] == text[:, 13]
    return cast(np.ndarray, values[ok])


def new_case_ids(n: int, rand: int | None = None, avoid: Collection[str] = ()) -> np.ndarray:
    """``n`` distinct fresh case ids (object array), none of them in ``avoid``.

    Ids like :func:`new_case_id`'s, drawn in bulk; ``rand`` seeds the draw, for tests.
    """
    rng = None if rand is None else np.random.default_rng(rand)
    taken = np.sort(_values_of(avoid))
    values = np.zeros(0, dtype=np.uint64)
    while len(values) < n:
        more = _random_values((n - len(values)) * 6 // 5 + 16, rng)
        if len(taken):
            more = more[taken[np.minimum(np.searchsorted(taken, more), len(taken) - 1)] != more]
        values = pd.unique(np.r_[values, more])
    return _format_many(values[:n])


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
