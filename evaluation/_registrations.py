"""The generator's engine: people and registrations as integer codes, corrupted by masks.

Every string (name or place) is a code into a per-run :class:`Vocab`; a corruption replaces
the codes of a random subset of rows by codes of alternative spellings, computed once per
distinct string. Strings are made only at the end, by one ``take`` per column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from evaluation import _spelling as sp
from evaluation._names import COMPOUND_SHARE, TRADITIONS

if TYPE_CHECKING:
    from evaluation._synthetic import Messiness

__all__ = [
    "People",
    "Vocab",
    "assign_agencies",
    "compound",
    "corrupt",
    "dates_from_ages",
    "draw_names",
    "draw_people",
    "format_dates",
    "truth_codes",
]

REFERENCE_DATE = np.datetime64("2025-01-01")  # ages are counted back from this day
_MAX_AGE = 90
_AGE_SCALE = 28.0  # exp(-age/28): about half under 18, 8% over 60, as among the displaced
_SHIFT = np.int64(1) << 32
AltFn = Callable[[str, str], tuple[tuple[str, float], ...]]


class Vocab:
    """Strings by code; code -1 means missing."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._index: dict[str, int] = {}

    def code(self, text: str) -> int:
        """The code of ``text``, added if new."""
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.strings)
            self.strings.append(text)
        return found

    def codes(self, texts: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.code(t) for t in texts), dtype=np.int32, count=len(texts))

    def table(self) -> np.ndarray:
        """Strings as an object array ending in ``None``, so ``table[codes]`` decodes -1."""
        return np.array([*self.strings, None], dtype=object)


@dataclass
class People:
    """The truth about each person, as codes (names, place) and integers (sex, date)."""

    tradition: np.ndarray  # int8 index into TRADITIONS
    sex: np.ndarray  # int8: 0 female, 1 male, 2 missing
    given: np.ndarray
    family: np.ndarray
    father: np.ndarray
    place: np.ndarray
    year: np.ndarray
    month: np.ndarray
    day: np.ndarray


def draw_names(
    tradition: str,
    kind: str,
    size: int,
    rng: np.random.Generator,
    vocab: Vocab,
    pool: int | None = None,
) -> np.ndarray:
    """Codes of ``size`` names drawn from one list by its frequencies; with ``pool``, from its
    ``pool`` most frequent names only (a register where thousands share each name)."""
    names, probs = sp.distribution(tradition, kind)
    if pool is not None and pool < len(names):
        top = np.sort(np.argsort(-probs, kind="stable")[:pool])
        names, probs = tuple(names[t] for t in top), probs[top] / probs[top].sum()
    return vocab.codes(names)[rng.choice(len(names), size=size, p=probs)]


def compound(first: np.ndarray, second: np.ndarray, vocab: Vocab) -> np.ndarray:
    """Codes of ``"<first> <second>"``, joining each distinct pair once."""
    pairs, inverse = np.unique(first.astype(np.int64) * _SHIFT + second, return_inverse=True)
    shift = int(_SHIFT)
    joined = [f"{vocab.strings[p // shift]} {vocab.strings[p % shift]}" for p in pairs.tolist()]
    return vocab.codes(joined)[inverse.reshape(-1)]


def _dates(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ages = np.arange(_MAX_AGE + 1)
    weights = np.exp(-ages / _AGE_SCALE)
    age = rng.choice(ages, size=n, p=weights / weights.sum())
    return dates_from_ages((age + rng.random(n)) * 365.2425)


def dates_from_ages(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``year, month, day`` of birth of people aged ``days`` (whole days counted down) on
    :data:`REFERENCE_DATE`."""
    days = np.floor(days).astype(np.int64)
    born = REFERENCE_DATE - 1 - days.astype("timedelta64[D]")
    years, months = born.astype("datetime64[Y]"), born.astype("datetime64[M]")
    year = years.astype(np.int64) + 1970
    month = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    day = (born - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year.astype(np.int16), month.astype(np.int8), day.astype(np.int8)


def draw_people(
    n: int, mix: np.ndarray, rng: np.random.Generator, vocab: Vocab, pool: int | None = None
) -> People:
    """``n`` people: tradition by ``mix``, then sex, names, place and date of birth; with
    ``pool``, every name list cut to its ``pool`` most frequent names."""
    tradition = rng.choice(len(TRADITIONS), size=n, p=mix).astype(np.int8)
    sex = (rng.random(n) < 0.5).astype(np.int8)
    given, family, father, place = (np.empty(n, dtype=np.int32) for _ in range(4))
    for t, name in enumerate(TRADITIONS):
        rows = np.flatnonzero(tradition == t)
        female = rows[sex[rows] == 0]
        male = rows[sex[rows] == 1]
        given[female] = draw_names(name, "given_female", female.size, rng, vocab, pool)
        given[male] = draw_names(name, "given_male", male.size, rng, vocab, pool)
        family[rows] = draw_names(name, "family", rows.size, rng, vocab, pool)
        if name in COMPOUND_SHARE:
            two = rows[rng.random(rows.size) < COMPOUND_SHARE[name]]
            second = draw_names(name, "family", two.size, rng, vocab, pool)
            family[two] = compound(family[two], second, vocab)
        father[rows] = draw_names(name, "given_male", rows.size, rng, vocab, pool)
        place[rows] = draw_names(name, "place", rows.size, rng, vocab)
    year, month, day = _dates(n, rng)
    return People(tradition, sex, given, family, father, place, year, month, day)


def assign_agencies(n: int, overlap: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(n, k)`` holdings: agency ``j`` holds a person with probability ``overlap[j]``,
    conditioned on at least one agency holding them.

    Exact conditioning without rejection: the first holder is drawn from its conditional
    law, ``P(first = j) ∝ p_j · Π_{i<j} (1 - p_i)``, and later agencies independently.
    """
    k = overlap.size
    before = np.concatenate([[1.0], np.cumprod(1.0 - overlap)[:-1]])
    first_law = before * overlap
    first = rng.choice(k, size=n, p=first_law / first_law.sum())
    held = (rng.random((n, k)) < overlap) & (np.arange(k) > first[:, None])
    held[np.arange(n), first] = True
    return held


def resample(
    codes: np.ndarray,
    tradition: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    vocab: Vocab,
    alternatives: AltFn,
) -> None:
    """In place: each masked, present code becomes an alternative of its string drawn by
    ``alternatives(tradition, string)``; a string without alternatives stays as it is."""
    rows = np.flatnonzero(mask & (codes >= 0))
    u = np.minimum(rng.random(rows.size), 1.0 - 1e-9)
    if rows.size == 0:
        return
    keys, inverse = np.unique(
        tradition[rows].astype(np.int64) * _SHIFT + codes[rows], return_inverse=True
    )
    texts: list[str] = []
    weights: list[float] = []
    counts = np.zeros(keys.size, dtype=np.int64)
    for j, key in enumerate(keys.tolist()):
        options = alternatives(TRADITIONS[key // _SHIFT], vocab.strings[key % _SHIFT])
        if options:
            counts[j] = len(options)
            names, probs = zip(*options, strict=True)
            texts.extend(names)
            weights.extend(probs)
    # segment s (the s-th key with alternatives) holds its cumulative law shifted to s + (0, 1]
    has = counts > 0
    segment = np.cumsum(has) - 1
    sizes = counts[has]
    ends = np.cumsum(sizes)
    cum = np.cumsum(np.asarray(weights))
    before = np.concatenate([[0.0], cum[ends[:-1] - 1]]) if sizes.size else cum[:0]
    totals = cum[ends - 1] - before
    owner = np.repeat(np.arange(sizes.size), sizes)
    bounds = owner + np.minimum((cum - before[owner]) / totals[owner], 1.0)
    bounds[ends - 1] = np.arange(sizes.size) + 1.0
    ok = has[inverse.reshape(-1)]
    seg = segment[inverse.reshape(-1)][ok]
    picked, where = np.unique(
        np.searchsorted(bounds, seg + u[ok], side="right"), return_inverse=True
    )
    codes[rows[ok]] = vocab.codes([texts[i] for i in picked.tolist()])[where.reshape(-1)]


def truth_codes(people: People) -> dict[str, np.ndarray]:
    """The true values in the shape :func:`corrupt` returns."""
    return {
        "given": people.given,
        "family": people.family,
        "father": people.father,
        "place": people.place,
        "sex": people.sex,
        "year": people.year.astype(np.int64),
        "month": people.month.astype(np.int64),
        "day": people.day.astype(np.int64),
        "date_mode": np.zeros(people.sex.size, dtype=np.int64),
    }


def _flip(p: float, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.random(n) < p


def corrupt(
    people: People, person: np.ndarray, m: Messiness, rng: np.random.Generator, vocab: Vocab
) -> dict[str, np.ndarray]:
    """One independently corrupted copy of the truth per entry of ``person``.

    Returns codes ``given, family, father, place``, ``sex`` (0/1/2) and the date as
    ``year, month, day`` with ``date_mode`` (0 full date, 1 bare year, 2 missing).
    """
    n = person.size
    trad = people.tradition[person]
    names = {f: getattr(people, f)[person].copy() for f in ("given", "family", "father")}
    place = people.place[person].copy()
    for codes in (*names.values(), place):
        resample(
            codes,
            trad,
            _flip(m.transliteration, n, rng),
            rng,
            vocab,
            sp.transliteration_alternatives,
        )
    resample(
        names["family"],
        trad,
        _flip(m.second_surname_dropped, n, rng),
        rng,
        vocab,
        sp.surname_alternatives,
    )
    swap = _flip(m.name_swap, n, rng)
    names["given"][swap], names["family"][swap] = names["family"][swap], names["given"][swap]
    for codes in names.values():
        resample(
            codes,
            trad,
            _flip(m.double_letter, n, rng),
            rng,
            vocab,
            lambda _, s: sp.doubling_alternatives(s),
        )
    for codes in names.values():
        resample(
            codes, trad, _flip(m.typo, n, rng), rng, vocab, lambda _, s: sp.typo_alternatives(s)
        )
    names["father"][_flip(m.father_missing, n, rng)] = -1
    place[_flip(m.place_missing, n, rng)] = -1
    sex = people.sex[person].copy()
    sex[_flip(m.sex_missing, n, rng)] = 2
    return {**names, "place": place, "sex": sex, **_corrupt_dates(people, person, m, rng)}


def _corrupt_dates(
    people: People, person: np.ndarray, m: Messiness, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    n = person.size
    year = people.year[person].astype(np.int64)
    month = people.month[person].astype(np.int64)
    day = people.day[person].astype(np.int64)
    shift = _flip(m.age_estimate, n, rng)
    year[shift] += np.where(rng.random(int(shift.sum())) < 0.5, -1, 1)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    day[(month == 2) & (day == 29) & ~leap] = 28
    swap = _flip(m.day_month_swap, n, rng) & (day <= 12) & (day != month)
    month[swap], day[swap] = day[swap], month[swap]
    year_only = _flip(m.year_only, n, rng)
    month[year_only], day[year_only] = 1, 1
    mode = np.where(year_only & _flip(m.bare_year, n, rng), 1, 0)
    mode[_flip(m.date_missing, n, rng)] = 2
    return {"year": year, "month": month, "day": day, "date_mode": mode}


def format_dates(
    year: np.ndarray, month: np.ndarray, day: np.ndarray, mode: np.ndarray
) -> np.ndarray:
    """ISO ``YYYY-MM-DD`` strings (``YYYY`` where mode is 1, ``None`` where 2), formatting
    each distinct date once (a dense key per date, so no sort)."""
    y0 = int(year.min()) if year.size else 0
    years = int(year.max()) - y0 + 1 if year.size else 1
    full = (year - y0) * 372 + (month - 1) * 31 + (day - 1)
    key = np.where(mode == 0, full, np.where(mode == 1, years * 372 + year - y0, years * 373))
    present = np.flatnonzero(np.bincount(key, minlength=years * 373 + 1))
    text = np.empty(years * 373 + 1, dtype=object)
    for k in present.tolist():
        if k < years * 372:
            y, rest = divmod(k, 372)
            text[k] = f"{y + y0:04d}-{rest // 31 + 1:02d}-{rest % 31 + 1:02d}"
        elif k < years * 373:
            text[k] = f"{k - years * 372 + y0:04d}"
    return text[key]
