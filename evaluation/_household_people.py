"""The people of the household generator: sizes, roles, sexes, names by family rules, dates.

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
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from evaluation import _registrations as reg
from evaluation._names import COMPOUND_SHARE, LISTS, PATRONYMIC_SHARE, TRADITIONS

__all__ = ["ROLES", "Family", "HouseholdShape", "draw_families"]

ROLES: tuple[str, ...] = ("head", "spouse", "child", "parent", "sibling", "other")
HEAD, SPOUSE, CHILD, PARENT, SIBLING, OTHER = range(len(ROLES))
# Assumptions, not measured figures: who heads a household, who marries whose name.
HEAD_MALE_WITH_SPOUSE = 0.9
HEAD_MALE_ALONE = 0.4  # female-headed households are common among the displaced
PARENT_MALE = 0.35  # a head's parent in the household is more often a widowed mother
WIFE_TAKES_NAME = {"ukrainian": 0.8, "french_africa": 0.4}
CHILD_BORN_WHERE_HEAD = 0.5  # a child's place of birth is the head's
_YEAR = 365.2425
_REDRAWS = 20
_SHIFT = np.int64(1) << 32


def _is_probability(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value <= 1


@dataclass(frozen=True)
class HouseholdShape:
    """How households are composed. Every figure is an assumption chosen to look like the
    registers of displaced populations, not a measured statistic.

    ``sizes``: relative weight of each household size from 1 (default: 1 to 9 people, mean
    about 4.5, in the 4-5 range usually reported for displaced households). Then per
    household of size 2 or more, the probability that it holds a ``spouse`` of the head, a
    ``parent`` of the head, a ``sibling`` of the head and an ``other`` member (in this order
    of precedence where the size leaves no room); the remaining members are children.
    ``twins``: probability that a household with two children or more has twins (its two
    eldest children), of the same sex with ``same_sex_twins``. ``estimated_dates``:
    probability that a household's dates of birth are all estimated as 1 January of the year,
    the true (documented) date everyone then writes.
    """

    sizes: tuple[float, ...] = (0.10, 0.12, 0.14, 0.16, 0.15, 0.12, 0.09, 0.07, 0.05)
    spouse: float = 0.75
    parent: float = 0.08
    sibling: float = 0.08
    other: float = 0.04
    twins: float = 0.05
    same_sex_twins: float = 0.6
    estimated_dates: float = 0.15

    def problems(self) -> list[str]:
        """What is wrong with the shape, one sentence each."""
        out = []
        names = ("spouse", "parent", "sibling", "other", "twins", "same_sex_twins")
        bad = [n for n in (*names, "estimated_dates") if not _is_probability(getattr(self, n))]
        if bad:
            out.append("HouseholdShape: " + ", ".join(bad) + " must be probabilities")
        try:
            weights = np.asarray(self.sizes, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            weights = np.zeros(0)
        if not (weights.size and np.isfinite(weights).all() and (weights >= 0).all()):
            out.append("HouseholdShape: sizes must be weights of 0 or more, one per size from 1")
        elif weights.sum() <= 0:
            out.append("HouseholdShape: sizes must not all be 0")
        return out

    @property
    def mean_size(self) -> float:
        w = np.asarray(self.sizes, dtype=np.float64)
        return float((np.arange(1, w.size + 1) * w).sum() / w.sum())


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


def _sizes(n: int, shape: HouseholdShape, rng: np.random.Generator) -> np.ndarray:
    """Household sizes drawn by ``shape.sizes`` until ``n`` people, the last one cut."""
    p = np.asarray(shape.sizes, dtype=np.float64)
    p = p / p.sum()
    sizes = np.zeros(0, dtype=np.int64)
    while sizes.sum() < n:
        more = int((n - sizes.sum()) / shape.mean_size * 1.1) + 16
        sizes = np.concatenate([sizes, rng.choice(p.size, size=more, p=p) + 1])
    total = np.cumsum(sizes)
    last = int(np.searchsorted(total, n))
    sizes = sizes[: last + 1].copy()
    sizes[-1] -= int(total[last]) - n
    return sizes


def _roles(
    size: np.ndarray,
    household: np.ndarray,
    slot: np.ndarray,
    shape: HouseholdShape,
    rng: np.random.Generator,
) -> np.ndarray:
    """Slot 0 is the head; then spouse, parent, sibling and other where drawn; then children."""
    h = size.size
    bound = np.ones(h, dtype=np.int64)
    bounds = []
    for p in (shape.spouse, shape.parent, shape.sibling, shape.other):
        bound = bound + (rng.random(h) < p)
        bounds.append(bound[household])
    return np.select(
        [slot == 0, *(slot < b for b in bounds)], [HEAD, SPOUSE, PARENT, SIBLING, OTHER], CHILD
    ).astype(np.int8)


def _sexes(
    role: np.ndarray,
    household: np.ndarray,
    spouse_h: np.ndarray,
    twin_a: np.ndarray,
    shape: HouseholdShape,
    rng: np.random.Generator,
) -> np.ndarray:
    """0 female, 1 male: heads by whether they have a spouse, spouses the other sex."""
    n = role.size
    head_male = rng.random(spouse_h.size) < np.where(
        spouse_h, HEAD_MALE_WITH_SPOUSE, HEAD_MALE_ALONE
    )
    male = rng.random(n) < 0.5
    male = np.where(role == HEAD, head_male[household], male)
    male = np.where(role == SPOUSE, ~head_male[household], male)
    male = np.where(role == PARENT, rng.random(n) < PARENT_MALE, male)
    same = rng.random(twin_a.size) < shape.same_sex_twins
    male[twin_a[same] + 1] = male[twin_a[same]]
    return male.astype(np.int8)


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


def _ages(
    role: np.ndarray,
    household: np.ndarray,
    c: _Couple,
    kids_h: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Age in years of everyone: heads adult, spouses within 15 years of them, children
    16 to 44 years younger than each parent in the household, a head's parent 16 to 44
    years older than the head (at most 95), siblings within 12 years of the head."""
    h, n = c.head.size, role.size
    has_parent = np.bincount(household[role == PARENT], minlength=h) > 0
    head = np.where(kids_h > 0, 20 + rng.gamma(2.0, 7.0, h), 18 + rng.gamma(2.0, 12.0, h))
    head = np.minimum(head, np.where(has_parent, 75.0, 85.0))
    older = np.where(c.husband == c.head, -1.0, 1.0)
    spouse = head + older * rng.normal(4.0, 4.0, h)
    spouse = np.clip(spouse, np.maximum(head - 15, 17.0), head + 15)
    low = np.where(c.spouse >= 0, np.minimum(head, spouse), head)
    high = np.where(c.spouse >= 0, np.maximum(head, spouse), head)
    hh, u = household, rng.random(n)
    lo, hi = np.maximum(0.0, high - 44)[hh], (low - 16)[hh]
    up = np.minimum(44.0, 95.0 - head)[hh]
    by_role = [
        head[hh],
        spouse[hh],
        lo + u * (hi - lo),
        head[hh] + 16 + u * (up - 16),
        np.clip(head[hh] + rng.uniform(-12, 12, n), 0, 95),
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


def _structure(
    n: int, shape: HouseholdShape, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sizes, first rows, household of each person, roles, first row of each twin pair."""
    size = _sizes(n, shape, rng)
    start = np.cumsum(size) - size
    household = np.repeat(np.arange(size.size, dtype=np.int32), size)
    role = _roles(size, household, np.arange(n) - start[household], shape, rng)
    count = np.bincount(household[role == CHILD], minlength=size.size)
    first = start + size - count  # children fill the last slots
    twin_a = first[(count >= 2) & (rng.random(size.size) < shape.twins)]
    return size, start, household, role, twin_a


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
    size, start, household, role, twin_a = _structure(n, shape, rng)
    tradition_h, patronymic_h, spanish_h, compound_h = _traditions(size.size, mix, rng)
    tradition, patronymic = tradition_h[household], patronymic_h[household]
    spouse_h = (size >= 2) & (role[np.minimum(start + 1, n - 1)] == SPOUSE)
    sex = _sexes(role, household, spouse_h, twin_a, shape, rng)
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
    days = np.floor(_ages(role, household, c, kids_h, rng) * _YEAR)
    days[twin_a + 1] = days[twin_a]
    year, month, day = reg.dates_from_ages(days)
    estimated = (rng.random(size.size) < shape.estimated_dates)[household]
    month[estimated], day[estimated] = 1, 1
    twin = np.full(n, -1, dtype=np.int32)
    twin[twin_a], twin[twin_a + 1] = household[twin_a], household[twin_a]
    people = reg.People(tradition, sex, **names, year=year, month=month, day=day)
    return Family(people, household, role, twin, start, size, patronymic_h)
