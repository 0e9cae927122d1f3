"""The people of the household generator: names by family rules, places and dates by role.

Everything is drawn per household or per person as whole arrays; the only loops are over the
eight traditions, the six roles and a few rounds of redrawing a child's given name that a
sibling already bears.

Family rules (names follow :mod:`evaluation._names`):

* A household is patronymic with the tradition's ``PATRONYMIC_SHARE``: its family-name slots
  hold each person's grandfather's given name. Otherwise they hold an inherited surname.
* The children's father is the male head, else the male spouse, else a man absent from the
  household (a female head alone). Children bear his given name as their father's name and,
  in a patronymic household, his father's name in the family-name slot; otherwise his
  surname (his first surname and their mother's first one in a Spanish family with two).
  Without a father in the household, the children bear the head's surname.
* A wife takes her husband's surname with :data:`WIFE_TAKES_NAME` of her tradition.
* The head's father bears the head's father's name as given name; the head's parents and
  siblings bear the head's surname by birth (sibling: also the head's father's name).
* Children of one household bear distinct given names, as far as the lists allow.

Dates (:func:`_ages`): two births of one mother are :data:`MIN_BIRTH_INTERVAL` apart or more
(twins excepted), so the children of one household are, and so are the head and the head's
siblings. Drawn independently, 17% of the pairs of non-twin children of one household were
born under 270 days apart, which no family does: two siblings of one family name, father's
name and birth date but another given name are an ambiguity real registers hardly hold.
Half-siblings of two mothers (polygamous households) are not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluation import _registrations as reg
from evaluation._household_shape import (
    CHILD,
    PARENT,
    ROLES,
    SIBLING,
    SPOUSE,
    HouseholdShape,
    draw_sexes,
    draw_structure,
)
from evaluation._names import COMPOUND_SHARE, LISTS, PATRONYMIC_SHARE, TRADITIONS

__all__ = ["ROLES", "Family", "HouseholdShape", "draw_families"]

# Assumptions, not measured figures.
WIFE_TAKES_NAME = {"ukrainian": 0.8, "french_africa": 0.4}
CHILD_BORN_WHERE_HEAD = 0.5  # a child's place of birth is the head's
MIN_BIRTH_INTERVAL = 0.8  # years between two births of one mother: pregnancy and a little more
SIBLING_SPREAD = 12.0  # years between the head and a sibling of the head, at most
_YEAR = 365.2425
_REDRAWS = 20
_SHIFT = np.int64(1) << 32


@dataclass
class Family:
    """The people (as :class:`evaluation._registrations.People`) and their households."""

    people: reg.People
    household: np.ndarray  # int32: the true household of each person
    role: np.ndarray  # int8: index into ROLES, the person's place in the true household
    twin: np.ndarray  # int32: the household of a twin pair, -1 for everyone else
    start: np.ndarray  # int64: first person of each household (the head)
    size: np.ndarray  # int64: people in each household
    patronymic: np.ndarray  # bool per household: its family-name slots hold grandfathers' names


def _by_tradition(
    kind: str,
    rows: np.ndarray,
    tradition: np.ndarray,
    rng: np.random.Generator,
    vocab: reg.Vocab,
    pool: int | None,
) -> np.ndarray:
    """Codes of one name of ``kind`` per row, drawn from each row's tradition's list."""
    out = np.full(rows.size, -1, dtype=np.int32)
    for t, name in enumerate(TRADITIONS):
        where = np.flatnonzero(tradition[rows] == t)
        if where.size and (kind != "surname" or LISTS[name]["family"].strip()):
            out[where] = reg.draw_names(name, kind, where.size, rng, vocab, pool)
    return out


def _given(
    rows: np.ndarray,
    tradition: np.ndarray,
    sex: np.ndarray,
    rng: np.random.Generator,
    vocab: reg.Vocab,
    pool: int | None,
) -> np.ndarray:
    out = np.empty(rows.size, dtype=np.int32)
    for s, kind in ((0, "given_female"), (1, "given_male")):
        where = np.flatnonzero(sex[rows] == s)
        out[where] = _by_tradition(kind, rows[where], tradition, rng, vocab, pool)
    return out


def _first_part(codes: np.ndarray, vocab: reg.Vocab) -> np.ndarray:
    """Codes of the first word of each (present) name: ``García López`` -> ``García``."""
    uniq, inverse = np.unique(codes, return_inverse=True)
    firsts = vocab.codes([vocab.strings[c].split(" ")[0] for c in uniq.tolist()])
    return firsts[inverse.reshape(-1)]


def _fresh_names(
    tradition: np.ndarray,
    sex: np.ndarray,
    patronymic: np.ndarray,
    rng: np.random.Generator,
    vocab: reg.Vocab,
    pool: int | None,
) -> dict[str, np.ndarray]:
    """Names drawn for everyone as if unrelated: ``given``, ``father``, ``family`` (a
    grandfather's given name where ``patronymic``, else a surname; two Spanish surnames with
    ``COMPOUND_SHARE``) and ``place``."""
    rows = np.arange(tradition.size)
    given = _given(rows, tradition, sex, rng, vocab, pool)
    father = _by_tradition("given_male", rows, tradition, rng, vocab, pool)
    grandfather = _by_tradition("given_male", rows, tradition, rng, vocab, pool)
    surname = _by_tradition("surname", rows, tradition, rng, vocab, pool)
    for name, share in COMPOUND_SHARE.items():
        two = np.flatnonzero(
            (tradition == TRADITIONS.index(name)) & (rng.random(rows.size) < share)
        )
        second = reg.draw_names(name, "surname", two.size, rng, vocab, pool)
        surname[two] = reg.compound(surname[two], second, vocab)
    place = _by_tradition("place", rows, tradition, rng, vocab, None)
    family = np.where(patronymic, grandfather, surname).astype(np.int32)
    return {"given": given, "father": father, "family": family, "place": place}


@dataclass
class _Couple:
    """Per household: the rows of the head, the spouse, the husband and the wife (-1: none)."""

    head: np.ndarray
    spouse: np.ndarray
    husband: np.ndarray
    wife: np.ndarray

    @classmethod
    def of(cls, start: np.ndarray, size: np.ndarray, role: np.ndarray, sex: np.ndarray) -> _Couple:
        second = np.minimum(start + 1, role.size - 1)
        spouse = np.where((size >= 2) & (role[second] == SPOUSE), second, -1)
        head_male = sex[start] == 1
        other = np.where(spouse >= 0, spouse, -1)
        husband = np.where(head_male, start, other)
        wife = np.where(head_male, other, start)
        return cls(start, spouse, husband, wife)


def _take(values: np.ndarray, rows: np.ndarray, default: np.ndarray | int) -> np.ndarray:
    """``values[rows]`` where ``rows >= 0``, else ``default``."""
    return np.where(rows >= 0, values[np.maximum(rows, 0)], default)


def _marry(
    names: dict[str, np.ndarray],
    c: _Couple,
    tradition_h: np.ndarray,
    patronymic_h: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """In place: a wife takes her husband's surname with her tradition's WIFE_TAKES_NAME."""
    takes = np.zeros(c.head.size, dtype=np.float64)
    for name, p in WIFE_TAKES_NAME.items():
        takes[tradition_h == TRADITIONS.index(name)] = p
    ok = (c.husband >= 0) & (c.wife >= 0) & ~patronymic_h & (rng.random(c.head.size) < takes)
    names["family"][c.wife[ok]] = names["family"][c.husband[ok]]


def _children_names(
    names: dict[str, np.ndarray],
    birth: np.ndarray,
    c: _Couple,
    kids: np.ndarray,
    household: np.ndarray,
    patronymic_h: np.ndarray,
    spanish_h: np.ndarray,
    compound_h: np.ndarray,
    absent: dict[str, np.ndarray],
    vocab: reg.Vocab,
) -> None:
    """In place: the children's father's name and family-name slot from their father (in a
    Spanish family his first surname, and their mother's first one with ``compound_h``;
    without a father in the household, their mother's first surname)."""
    father_given = _take(names["given"], c.husband, absent["given"])
    father_father = _take(names["father"], c.husband, absent["father"])
    father_family = _take(names["family"], c.husband, names["family"][c.head])
    h = household[kids]
    family = np.where(patronymic_h[h], father_father[h], father_family[h])
    mother_birth = _take(birth, c.wife, -1)[h]
    spanish = spanish_h[h] & ~patronymic_h[h]
    two = spanish & compound_h[h] & (mother_birth >= 0) & (c.husband[h] >= 0)
    one = spanish & ~two
    family[two] = reg.compound(
        _first_part(family[two], vocab), _first_part(mother_birth[two], vocab), vocab
    )
    family[one] = _first_part(family[one], vocab)
    names["father"][kids] = father_given[h]
    names["family"][kids] = family


def _relatives_names(
    names: dict[str, np.ndarray],
    birth: np.ndarray,
    role: np.ndarray,
    household: np.ndarray,
    start: np.ndarray,
    sex: np.ndarray,
    patronymic_h: np.ndarray,
    tradition_h: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """In place: the head's father is named after the head's father's name, the head's
    parents and siblings bear the head's family name by birth (a mother with her tradition's
    WIFE_TAKES_NAME), a sibling also the head's father's name."""
    given, father, family = names["given"], names["father"], names["family"]
    par = np.flatnonzero(role == PARENT)
    head = start[household[par]]
    pat = patronymic_h[household[par]]
    male = sex[par] == 1
    given[par[male]] = father[head[male]]
    father[par[male & pat]] = birth[head[male & pat]]
    family[par[male & ~pat]] = birth[head[male & ~pat]]
    takes = np.zeros(par.size, dtype=np.float64)
    for name, p in WIFE_TAKES_NAME.items():
        takes[tradition_h[household[par]] == TRADITIONS.index(name)] = p
    mother = ~male & ~pat & (rng.random(par.size) < takes)
    family[par[mother]] = birth[head[mother]]
    sib = np.flatnonzero(role == SIBLING)
    father[sib] = father[start[household[sib]]]
    family[sib] = birth[start[household[sib]]]


def _distinct_children(
    given: np.ndarray,
    kids: np.ndarray,
    household: np.ndarray,
    tradition: np.ndarray,
    sex: np.ndarray,
    rng: np.random.Generator,
    vocab: reg.Vocab,
    pool: int | None,
) -> None:
    """In place: a child whose given name an elder sibling bears gets another, for a few
    rounds (a list cut to a few names may not have enough)."""
    for _ in range(_REDRAWS):
        key = household[kids].astype(np.int64) * _SHIFT + given[kids]
        order = np.argsort(key, kind="stable")
        dup = np.zeros(kids.size, dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not dup.any():
            return
        rows = kids[dup]
        given[rows] = _given(rows, tradition, sex, rng, vocab, pool)


def _spaced(
    lo: np.ndarray, hi: np.ndarray, family: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Per row an age in ``[lo, hi]`` (its family's window), the rows of one family (sorted
    or not) :data:`MIN_BIRTH_INTERVAL` apart or more: uniform over such sets of ages, as the
    order statistics of uniform draws over the window less the gaps, each moved up by its rank
    times the gap. Where the window is too short for every birth the gap shrinks to fit."""
    n = family.size
    births = np.bincount(family)[family]
    span = np.maximum(hi - lo, 0.0)
    gap = np.minimum(MIN_BIRTH_INTERVAL, span / np.maximum(births - 1, 1))
    v = rng.random(n) * (span - (births - 1) * gap)
    order = np.lexsort((v, family))
    ranked = family[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.searchsorted(ranked, ranked)
    return lo + v + rank * gap


def _ages(
    role: np.ndarray,
    household: np.ndarray,
    c: _Couple,
    kids_h: np.ndarray,
    twin_b: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Age in years of everyone: heads adult, spouses within 15 years of them (both old
    enough for their children's births: :data:`MIN_BIRTH_INTERVAL`), children 16 to 44 years
    younger than each parent in the household and :data:`MIN_BIRTH_INTERVAL`
    apart (``twin_b``, the second of each twin pair, takes its twin's date afterwards), a
    head's parent 16 to 44 years older than the head (at most 95), siblings
    :data:`MIN_BIRTH_INTERVAL` to :data:`SIBLING_SPREAD` years from the head."""
    h, n = c.head.size, role.size
    has_parent = np.bincount(household[role == PARENT], minlength=h) > 0
    births = np.flatnonzero(role == CHILD)
    births = births[~np.isin(births, twin_b)]
    # parents old enough for their children's births: the eldest at 16 or later, then spaced
    parent_min = 17 + MIN_BIRTH_INTERVAL * np.maximum(
        np.bincount(household[births], minlength=h) - 1, 0
    )
    head = np.where(kids_h > 0, 20 + rng.gamma(2.0, 7.0, h), 18 + rng.gamma(2.0, 12.0, h))
    head = np.maximum(np.minimum(head, np.where(has_parent, 75.0, 85.0)), parent_min)
    older = np.where(c.husband == c.head, -1.0, 1.0)
    spouse = head + older * rng.normal(4.0, 4.0, h)
    spouse = np.clip(spouse, np.maximum(np.maximum(head - 15, 17.0), parent_min), head + 15)
    low = np.where(c.spouse >= 0, np.minimum(head, spouse), head)
    high = np.where(c.spouse >= 0, np.maximum(head, spouse), head)
    hh, u = household, rng.random(n)
    lo, hi = np.maximum(0.0, high - 44), low - 16
    child = np.zeros(n)
    child[births] = _spaced(lo[hh[births]], hi[hh[births]], hh[births], rng)
    up = np.minimum(44.0, 95.0 - head)[hh]
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    apart = MIN_BIRTH_INTERVAL + u * (SIBLING_SPREAD - MIN_BIRTH_INTERVAL)
    by_role = [
        head[hh],
        spouse[hh],
        child,
        head[hh] + 16 + u * (up - 16),
        np.clip(head[hh] + side * apart, 0, 95),
        np.minimum(rng.exponential(28.0, n), 90.0),
    ]
    return np.choose(role, by_role)


def _traditions(
    h: int, mix: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per household: tradition, patronymic naming, Spanish, two surnames for the children."""
    tradition = rng.choice(len(TRADITIONS), size=h, p=mix).astype(np.int8)
    share = np.array([PATRONYMIC_SHARE[t] for t in TRADITIONS])[tradition]
    patronymic = rng.random(h) < share
    two = np.array([COMPOUND_SHARE.get(t, 0.0) for t in TRADITIONS])[tradition]
    spanish = tradition == TRADITIONS.index("spanish")
    return tradition, patronymic, spanish, rng.random(h) < two


def draw_families(
    n: int,
    shape: HouseholdShape,
    mix: np.ndarray,
    rng: np.random.Generator,
    vocab: reg.Vocab,
    pool: int | None = None,
) -> Family:
    """``n`` people in households of ``shape``, traditions by ``mix`` (one per household);
    ``pool``: every name list cut to its ``pool`` most frequent names."""
    size, start, household, role, twin_a = draw_structure(n, shape, rng)
    tradition_h, patronymic_h, spanish_h, compound_h = _traditions(size.size, mix, rng)
    tradition, patronymic = tradition_h[household], patronymic_h[household]
    spouse_h = (size >= 2) & (role[np.minimum(start + 1, n - 1)] == SPOUSE)
    sex = draw_sexes(role, household, spouse_h, twin_a, shape, rng)
    names = _fresh_names(tradition, sex, patronymic, rng, vocab, pool)
    c = _Couple.of(start, size, role, sex)
    birth = names["family"].copy()
    _marry(names, c, tradition_h, patronymic_h, rng)
    absent = {
        k: _by_tradition("given_male", np.arange(size.size), tradition_h, rng, vocab, pool)
        for k in ("given", "father")
    }
    kids = np.flatnonzero(role == CHILD)
    _children_names(
        names, birth, c, kids, household, patronymic_h, spanish_h, compound_h, absent, vocab
    )
    _relatives_names(names, birth, role, household, start, sex, patronymic_h, tradition_h, rng)
    _distinct_children(names["given"], kids, household, tradition, sex, rng, vocab, pool)
    here = rng.random(kids.size) < CHILD_BORN_WHERE_HEAD
    names["place"][kids[here]] = names["place"][start[household[kids[here]]]]
    kids_h = np.bincount(household[kids], minlength=size.size)
    days = np.floor(_ages(role, household, c, kids_h, twin_a + 1, rng) * _YEAR)
    days[twin_a + 1] = days[twin_a]
    year, month, day = reg.dates_from_ages(days)
    estimated = (rng.random(size.size) < shape.estimated_dates)[household]
    month[estimated], day[estimated] = 1, 1
    twin = np.full(n, -1, dtype=np.int32)
    twin[twin_a], twin[twin_a + 1] = household[twin_a], household[twin_a]
    people = reg.People(tradition, sex, **names, year=year, month=month, day=day)
    return Family(people, household, role, twin, start, size, patronymic_h)
