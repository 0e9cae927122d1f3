"""Which agency registers whom, in which household and as what: the household generator's
registrations, before the corruption of names and dates.

Each agency holds a subset of the households. A member of a household held by two agencies
or more may be missing from one agency's registration of it; a member of a household of two
or more may be registered apart at one agency (alone, or within another household there):
a father alone at one agency while his family is at another. Where a household's head is not
among its members at an agency, the spouse (else the eldest) is written as its head there.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from evaluation import _registrations as reg
from evaluation._household_people import Family
from evaluation._household_shape import CHILD, HEAD, OTHER, ROLES, SIBLING, SPOUSE

__all__ = [
    "HouseholdRegistration",
    "Records",
    "consent_text",
    "draw_records",
    "household_ids",
    "relationship_text",
]

_SCOPE = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # as bloom's consent scope codes
_DEFAULT_CONSENT: Mapping[str, float] = MappingProxyType({"tracing": 0.9, "coordination": 0.7})
# how a register writes each role (female, male), one style per agency in turn
_STYLES: tuple[dict[str, tuple[str, str]], ...] = (
    {
        "head": ("Head", "Head"),
        "spouse": ("Wife", "Husband"),
        "child": ("Daughter", "Son"),
        "parent": ("Mother", "Father"),
        "sibling": ("Sister", "Brother"),
        "other": ("Other relative", "Other relative"),
    },
    {
        "head": ("HoH", "HoH"),
        "spouse": ("Spouse", "Spouse"),
        "child": ("Child", "Child"),
        "parent": ("Parent", "Parent"),
        "sibling": ("Sibling", "Sibling"),
        "other": ("Other", "Other"),
    },
    {
        "head": ("Chef de famille", "Chef de famille"),
        "spouse": ("Épouse", "Époux"),
        "child": ("Fille", "Fils"),
        "parent": ("Mère", "Père"),
        "sibling": ("Sœur", "Frère"),
        "other": ("Autre", "Autre"),
    },
    {
        "head": ("head of household", "head of household"),
        "spouse": ("wife", "husband"),
        "child": ("daughter", "son"),
        "parent": ("mother", "father"),
        "sibling": ("sister", "brother"),
        "other": ("relative", "relative"),
    },
    {
        "head": ("رب الأسرة", "رب الأسرة"),
        "spouse": ("زوجة", "زوج"),
        "child": ("بنت", "ابن"),
        "parent": ("أم", "أب"),
        "sibling": ("أخت", "أخ"),
        "other": ("أخرى", "أخرى"),
    },
)
_CASES = (str, str.upper, str.lower)
# a member registered apart within another household is written as one of these roles
_APART_ROLES = np.array([OTHER, SIBLING, CHILD], dtype=np.int8)
_APART_ROLE_P = np.array([0.6, 0.2, 0.2])
_HOUSEHOLD_ID = ("HH-{:0{w}d}", "FAM/{:0{w}d}", "G{:0{w}d}", "{:0{w}d}-H")


def _is_probability(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value <= 1


@dataclass(frozen=True)
class HouseholdRegistration:
    """How agencies register households; probabilities drawn independently.

    ``missing_member``: a member of a household held by two agencies or more is missing from
    one agency's registration of it (drawn per member and agency; a person is never missing
    everywhere). ``registered_apart``: a member of a household of two or more is registered
    at one agency (drawn at random) outside the household: ``apart_alone`` of them alone, the
    others within another household that agency holds. ``relationship_variety``: the
    relationship written in another style or case than the agency's own;
    ``relationship_error``: a wrong relationship; ``relationship_missing``: none written.
    ``consent``: scope code -> share of registrations whose consent covers it (each drawn
    independently per registration: a person may consent differently at each agency).
    """

    missing_member: float = 0.1
    registered_apart: float = 0.05
    apart_alone: float = 0.5
    relationship_variety: float = 0.1
    relationship_error: float = 0.02
    relationship_missing: float = 0.02
    consent: Mapping[str, float] = field(default_factory=lambda: _DEFAULT_CONSENT)

    def problems(self) -> list[str]:
        """What is wrong with the settings, one sentence each."""
        names = (
            "missing_member",
            "registered_apart",
            "apart_alone",
            "relationship_variety",
            "relationship_error",
            "relationship_missing",
        )
        bad = [n for n in names if not _is_probability(getattr(self, n))]
        out = ["HouseholdRegistration: " + ", ".join(bad) + " must be probabilities"] if bad else []
        if not isinstance(self.consent, Mapping) or not all(
            isinstance(k, str) and _SCOPE.fullmatch(k) is not None and _is_probability(v)
            for k, v in self.consent.items()
        ):
            out.append(
                "HouseholdRegistration: consent must map scope codes (a lower-case letter, then "
                "up to 31 lower-case letters, digits, '_' or '-') to shares between 0 and 1"
            )
        return out


@dataclass
class Records:
    """One row per registration: who, where, in which group there, as which role."""

    person: np.ndarray  # int64 row of the person
    agency: np.ndarray  # int64 agency index
    group: np.ndarray  # int64: the true household, or n_households + person when alone
    role: np.ndarray  # int8: the role written (before spelling and errors)
    apart: np.ndarray  # bool: registered outside the person's true household


def _present(
    family: Family, held: np.ndarray, r: HouseholdRegistration, rng: np.random.Generator
) -> np.ndarray:
    """``(n, k)``: the person is registered within their household at the agency."""
    n, k = family.role.size, held.shape[1]
    present = held[family.household]
    several = (held.sum(axis=1) >= 2)[family.household]
    present &= ~((rng.random((n, k)) < r.missing_member) & several[:, None])
    lost = np.flatnonzero(~present.any(axis=1))
    present[lost, np.argmax(held[family.household[lost]], axis=1)] = True
    return present


def _apart(
    family: Family,
    present: np.ndarray,
    held: np.ndarray,
    r: HouseholdRegistration,
    rng: np.random.Generator,
) -> Records:
    """In place on ``present``: members registered apart; returns those registrations."""
    n, (h, k) = family.role.size, held.shape
    apart = np.flatnonzero(
        (family.size[family.household] >= 2) & (rng.random(n) < r.registered_apart)
    )
    agency = rng.integers(0, k, apart.size)
    present[apart, agency] = False
    group = np.int64(h) + apart
    joins = np.flatnonzero(rng.random(apart.size) >= r.apart_alone)
    for a in range(k):
        rows = joins[agency[joins] == a]
        holding = np.flatnonzero(held[:, a])
        if rows.size == 0 or holding.size == 0:
            continue
        target = holding[rng.integers(0, holding.size, rows.size)]
        other = target != family.household[apart[rows]]  # else alone after all
        group[rows[other]] = target[other]
    role = np.full(apart.size, HEAD, dtype=np.int8)
    joined = group < h
    role[joined] = rng.choice(_APART_ROLES, size=int(joined.sum()), p=_APART_ROLE_P)
    return Records(apart, agency, group, role, np.ones(apart.size, dtype=bool))


def _promote_heads(rec: Records, family: Family, n_households: int) -> None:
    """In place: where a household's head is not among its members registered at an agency,
    its spouse there, else its eldest member (perhaps one registered apart with it), is
    written as head; the other children of a child so promoted are written as siblings."""
    key = rec.agency * np.int64(n_households + family.role.size) + rec.group
    lacking = np.flatnonzero(~np.isin(key, np.unique(key[rec.role == HEAD])))
    if lacking.size == 0:
        return
    p, who = family.people, rec.person[lacking]
    born = (p.year[who].astype(np.int64) * 12 + p.month[who]) * 31 + p.day[who]
    lkey = key[lacking]
    order = np.lexsort((born, rec.role[lacking] != SPOUSE, lkey))
    first = np.r_[True, lkey[order][1:] != lkey[order][:-1]]
    chosen = lacking[order[first]]
    was_child = np.unique(lkey[order[first]][rec.role[chosen] == CHILD])
    rec.role[chosen] = HEAD
    siblings = lacking[np.isin(lkey, was_child) & (rec.role[lacking] == CHILD)]
    rec.role[siblings] = SIBLING


def _concat(parts: list[Records]) -> Records:
    return Records(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Records.__dataclass_fields__)
    )


def draw_records(
    family: Family,
    overlap: np.ndarray,
    duplicates: float,
    r: HouseholdRegistration,
    rng: np.random.Generator,
) -> tuple[Records, np.ndarray]:
    """Every registration of every person (``duplicates``: share with a second one in the
    same agency, in the same group and role), and which agencies hold each household
    (``(n_households, k)``)."""
    h = family.size.size
    held = reg.assign_agencies(h, overlap, rng)
    present = _present(family, held, r, rng)
    apart = _apart(family, present, held, r, rng)
    person, agency = np.nonzero(present)
    within = Records(
        person.astype(np.int64),
        agency.astype(np.int64),
        family.household[person].astype(np.int64),
        family.role[person].copy(),
        np.zeros(person.size, dtype=bool),
    )
    rec = _concat([within, apart])
    _promote_heads(rec, family, h)
    extra = np.flatnonzero(rng.random(rec.person.size) < duplicates)
    twice = Records(*(getattr(rec, f)[extra] for f in Records.__dataclass_fields__))
    return _concat([rec, twice]), held


def relationship_text(
    role: np.ndarray,
    sex: np.ndarray,
    agency: np.ndarray,
    r: HouseholdRegistration,
    rng: np.random.Generator,
) -> np.ndarray:
    """The relationship as each register writes it: the agency's style, sometimes another
    style or case, sometimes a wrong role or none (``None``)."""
    m = role.size
    table = np.array(
        [
            [[case(style[name][s]) for case in _CASES] for name in ROLES for s in (0, 1)]
            for style in _STYLES
        ],
        dtype=object,
    ).reshape(len(_STYLES), len(ROLES), 2, len(_CASES))
    written = role.astype(np.int64).copy()
    wrong = np.flatnonzero(rng.random(m) < r.relationship_error)
    written[wrong] = (written[wrong] + rng.integers(1, len(ROLES), wrong.size)) % len(ROLES)
    style = agency % len(_STYLES)
    other = rng.random(m) < r.relationship_variety
    style = np.where(other, rng.integers(0, len(_STYLES), m), style)
    case = np.where(other, rng.integers(0, len(_CASES), m), 0)
    text = table[style, written, np.minimum(sex, 1), case]
    text[rng.random(m) < r.relationship_missing] = None
    return text


def consent_text(m: int, consent: Mapping[str, float], rng: np.random.Generator) -> np.ndarray:
    """Per registration the scopes its consent covers, each drawn with its share: codes
    sorted and separated by one space, ``""`` for none."""
    scopes = sorted(consent)
    bits = np.zeros(m, dtype=np.int64)
    for b, scope in enumerate(scopes):
        bits |= (rng.random(m) < consent[scope]).astype(np.int64) << b
    table = np.array(
        [" ".join(s for b, s in enumerate(scopes) if v >> b & 1) for v in range(1 << len(scopes))],
        dtype=object,
    )
    return table[bits]


def household_ids(
    agency: np.ndarray, group: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Each agency's own household id of each registration: its groups numbered in a random
    order, in a format of its own; equal numbers at two agencies mean nothing."""
    out = np.empty(agency.size, dtype=object)
    for a in range(k):
        rows = np.flatnonzero(agency == a)
        groups, inverse = np.unique(group[rows], return_inverse=True)
        number = rng.permutation(groups.size) + 1
        width = max(5, len(str(groups.size)))
        fmt = _HOUSEHOLD_ID[a % len(_HOUSEHOLD_ID)]
        text = np.array([fmt.format(int(x), w=width) for x in number], dtype=object)
        out[rows] = text[inverse.reshape(-1)]
    return out
