"""What a batch may say about a record besides its filter: household, relationship, consent.

These are the contract every package reads (the encoder writes them, the service stores them,
linkage uses them); they are optional, and a batch without them works exactly as before.

* **Household group** -- an agency's own household or family-group id, pseudonymised on the
  agency's machine: a 64-bit keyed BLAKE3 value under a key derived from the agreement's
  secret for this purpose alone (its own ``derive_key`` context) and the agency's name. The
  service can tell that two records of one agency share a group, and nothing about which
  group of the register it is; the same group id at two agencies gives two unrelated values
  (no agency's household numbering is joined across agencies by value). ``0`` means "no
  group"; a group key is never 0.
* **Relationship** -- the record's place in its household, one of :data:`RELATIONSHIPS`
  (``int8`` code = index; ``-1`` = not given). It is sent as it is: the service learns the
  household roles and sizes (README, threat model).
* **Consent scopes** -- what the person agreed the record may be used for, as scope codes
  (for example ``tracing``, ``coordination``): per record a string of the codes, sorted and
  separated by one space; ``""`` = no scope. A batch without a consent column says nothing
  about consent (``None``): its records are treated as before (every purpose).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import blake3
import numpy as np

from bloom._secret import Secret

__all__ = [
    "NO_GROUP",
    "RELATIONSHIPS",
    "RELATIONSHIP_SPELLINGS",
    "SCOPE_PATTERN",
    "group_keys",
    "join_scopes",
    "relationship_code",
    "relationship_codes",
    "split_scopes",
]

RELATIONSHIPS: tuple[str, ...] = ("head", "spouse", "child", "parent", "sibling", "other")
NO_GROUP = 0
SCOPE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_CONTEXT = "caselink 2026-12 household group pseudonym v1"

# common spellings of each relationship, folded (casefold, no spaces, '-' or '_');
# a schema may add its own (``household.relationship_spellings``)
RELATIONSHIP_SPELLINGS: dict[str, str] = {
    **{r: r for r in RELATIONSHIPS},
    **dict.fromkeys(
        (
            "hoh",
            "headofhousehold",
            "householdhead",
            "principal",
            "pa",
            "chef",
            "chefdemenage",
            "chefdefamille",
            "رب الأسرة",
            "ربالأسرة",
            "رب_الاسرة",
        ),
        "head",
    ),
    **dict.fromkeys(
        (
            "wife",
            "husband",
            "partner",
            "epouse",
            "époux",
            "epoux",
            "épouse",
            "conjoint",
            "conjointe",
            "زوج",
            "زوجة",
        ),
        "spouse",
    ),
    **dict.fromkeys(
        (
            "son",
            "daughter",
            "fils",
            "fille",
            "enfant",
            "ابن",
            "ابنة",
            "بنت",
            "stepchild",
            "grandchild",
            "petitenfant",
        ),
        "child",
    ),
    **dict.fromkeys(
        ("mother", "father", "mere", "mère", "pere", "père", "أب", "أم", "grandparent"),
        "parent",
    ),
    **dict.fromkeys(
        ("brother", "sister", "frere", "frère", "soeur", "sœur", "أخ", "أخت"),
        "sibling",
    ),
    **dict.fromkeys(
        ("relative", "autre", "other relative", "otherrelative", "nonrelative", "أخرى"), "other"
    ),
}
_FOLD = re.compile(r"[\s_\-]+")


def _fold(text: str) -> str:
    return _FOLD.sub("", text.strip().casefold())


def relationship_code(text: str | None, extra: dict[str, str] | None = None) -> int | None:
    """The code of a written relationship (``-1`` for an empty cell), or ``None`` when the
    spelling is neither a relationship nor a known spelling of one."""
    if text is None or not text.strip():
        return -1
    key = _fold(text)
    table = RELATIONSHIP_SPELLINGS if not extra else {**RELATIONSHIP_SPELLINGS, **extra}
    folded = {_fold(k): v for k, v in table.items()} if extra else _FOLDED
    value = folded.get(key)
    return RELATIONSHIPS.index(value) if value is not None else None


def relationship_codes(
    values: Sequence[str | None], extra: dict[str, str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, unknown_rows)``: ``int8`` codes (``-1`` empty or unknown) and the 0-based rows
    whose spelling is no relationship. Each distinct spelling is looked up once."""
    codes = np.full(len(values), -1, dtype=np.int8)
    unknown: list[int] = []
    seen: dict[str | None, int | None] = {}
    for row, text in enumerate(values):
        if text not in seen:
            seen[text] = relationship_code(text, extra)
        code = seen[text]
        if code is None:
            unknown.append(row)
        else:
            codes[row] = code
    return codes, np.asarray(unknown, dtype=np.int64)


def group_keys(secret: Secret, agency: str, refs: Sequence[str | None]) -> np.ndarray:
    """``uint64`` pseudonym of each household ref (:data:`NO_GROUP` for an empty one).

    Keyed by the secret and the agency: equal refs of one agency give equal keys, and no one
    without the secret can tell which ref a key stands for. Each distinct ref is hashed once.
    """
    key = blake3.blake3(secret.key_bytes, derive_key_context=_CONTEXT).digest()
    prefix = agency.encode("utf-8") + b"\x00"
    out = np.zeros(len(refs), dtype=np.uint64)
    memo: dict[str, int] = {}
    for row, ref in enumerate(refs):
        if ref is None or not str(ref).strip():
            continue
        text = str(ref).strip()
        value = memo.get(text)
        if value is None:
            digest = blake3.blake3(prefix + text.encode("utf-8"), key=key).digest(length=8)
            value = int.from_bytes(digest, "little") or 1  # 0 is reserved for "no group"
            memo[text] = value
        out[row] = value
    return out


def split_scopes(text: str | None) -> tuple[str, ...]:
    """The scope codes written in one cell (separated by spaces, commas, ';' or '|'),
    casefolded, in the order written; ``()`` for an empty cell."""
    if text is None:
        return ()
    return tuple(p for p in re.split(r"[\s,;|]+", text.strip().casefold()) if p)


def join_scopes(scopes: Iterable[str]) -> str:
    """The stored form of a record's scopes: distinct codes, sorted, one space between."""
    return " ".join(sorted(set(scopes)))


_FOLDED = {_fold(k): v for k, v in RELATIONSHIP_SPELLINGS.items()}
