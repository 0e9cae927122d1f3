"""The structure of the household generator's households: sizes, roles, sexes.

Slot 0 of a household is its head; then, where drawn and where its size leaves room, a
spouse, a parent of the head, a sibling of the head and another member; the other slots are
children (the first two of them twins in some households).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CHILD",
    "HEAD",
    "OTHER",
    "PARENT",
    "ROLES",
    "SIBLING",
    "SPOUSE",
    "HouseholdShape",
    "draw_sexes",
    "draw_structure",
]

ROLES: tuple[str, ...] = ("head", "spouse", "child", "parent", "sibling", "other")
HEAD, SPOUSE, CHILD, PARENT, SIBLING, OTHER = range(len(ROLES))
# Assumptions, not measured figures: who heads a household.
HEAD_MALE_WITH_SPOUSE = 0.9
HEAD_MALE_ALONE = 0.4  # female-headed households are common among the displaced
PARENT_MALE = 0.35  # a head's parent in the household is more often a widowed mother


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
    ``twins``: probability that a household with two children or more has twins (two of its
    children), of the same sex with ``same_sex_twins``. ``estimated_dates``:
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


def draw_sexes(
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


def draw_structure(
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
