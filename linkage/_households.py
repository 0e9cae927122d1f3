"""Collective linkage: what a pair's two households say about it.

People are registered in households (:mod:`bloom._households`: a per-agency group pseudonym
and a relationship per record). When a mother and a child of one household at agency A are
linked to a mother and a child of one household at agency B, a third pair of those two
households -- the father at A and a man at B -- is likelier a match than a pair of two
strangers that looks the same. And a pair whose roles disagree (a "parent" at A, a "child"
at B) is less likely one. A fixed bonus would break the calibration; here EM learns what the
household evidence is worth, without labels, as it learns the identifiers' weights
(:mod:`linkage._fellegi`).

**Household support** of a candidate pair ``(a, b)``: missing (``-1``) when either record
has no group, or its group has no other member in the run's pool (old records included);
otherwise the number of *other* pairs between the same two households that a first pass
linked (probability at least :data:`LINKED_AT`, this run's candidates and the registry's
stored links), leaving out every pair that shares a record with ``(a, b)`` -- its own
competitors are no evidence for it -- cut into levels: 0 none, 1 one, 2 two or more.

**Role consistency**, only where the support is 1 or more (else missing): 0 when the two
relationships are of different generations (parent; head, spouse or sibling; child), 1 of
one generation but different roles, 2 the same role; missing when either record gives no
relationship, or ``other``.

**The stratified model** (:func:`fit_stratum`). Weighing the two as comparison columns
independent of the identifiers, as the first design did (:func:`fit_household_columns`),
counts one thing twice: among the candidate non-matches, "the two households are linked" is
not independent of the names -- the non-matches inside two linked households are relatives,
whose family and father's names agree (twins' birth dates too), so the support's bonus was
paid again by every name they share. So the candidate pairs are split by support, after the
first calibrated pass. The pairs of support 1 or more (inside linked households) get their
own identifier model: ``m`` and ``u`` fitted on them alone, each anchored by the first
pass's with the weight of :data:`STRATUM_PRIOR_PAIRS` pairs (a person's two records look
alike whether or not the household is known, so the first pass's ``m`` is the prior; their
non-matches are relatives, whose names agree where the first pass's strangers' do not), the
role column with them. Each support level (0, 1, 2) gets its own share of matches; a pair of
support 0 keeps the first pass's likelihood ratio, and one whose support is missing its
weight. A pair's weight is then its likelihood ratio under its stratum's model plus
``logit2`` of its level's share less ``logit2`` of the first pass's share, so that the same
one-to-one calibration, whose prior was made for the first pass's share, starts from the
level's. With fewer than :data:`MIN_STRATUM_PAIRS` supported pairs (per agency pair, the
small ones together) the household columns weigh them instead: on the tests' households at
heavy noise (eight seeds each) the stratified model's F1 was 0.2 points below the columns'
at 120 households (some 360 supported pairs), level with them at 250 (700) but with half as
many false sibling links again, and 0.3 points above at 500 (1,300).

The stratum's ``m`` is fitted, not held: the first pass may have it wrong, and 35% to 60% of
the stratum's pairs are matches. On the tests' households (tests/linkage/households_data.py,
1,200 households, seed 3) the first pass had taken matches with a mistyped given name for a
class of non-matches -- its ``m`` put 1% of matches at the name level where 17% of them were
-- and kept its pairwise F1 at 0.874; with the stratum's ``m`` held it reached 0.915, fitted
0.970. Refitting every column on every pair at once (no strata) was tried before and let the
match class drift towards two members of one household.

Measured, against the household columns (the first design) and without households:

* ``caselink bench --only families`` at 5,000 people (three agencies), seeds 0-2, totals:
  on the ``hard`` set pairwise F1 0.941 (columns 0.936, without 0.871), false links between
  two children of one household 37 in 4,902 linked such pairs (45 in 4,874; 15 in 4,479),
  between twins 12 in 120 (12 in 114; 8 in 102), ECE at most 0.014; on the ``default`` set
  F1 0.9927 (0.9924; 0.9885), siblings 8 in 5,689 (10 in 5,692; 4 in 5,658), twins 1 in 167.
  A third set not tuned on (30 names per list, noise 1.5 times, 20% of members missing,
  15% registered apart; seeds 1-2): F1 0.978 (0.977; 0.964), siblings 16 in 4,797 (20 in
  4,803; 8 in 4,707), twins 2 in 83 (2 in 85; 2 in 80). At 20,000 people (seed 0): hard
  F1 0.840 (0.826; 0.727), siblings 44 in 5,993 (39 in 5,767; 3 in 4,862), twins 9 in 157
  (6 in 149; 1 in 123); default F1 0.9926 (0.9918; 0.9820), siblings 1 in 11,010. There the
  hard set is a register of namesakes (ten names per list): its first pass was
  overconfident at support 0, and its ECE 0.08 with or without households -- EM's match
  class was "same names and year". With the within-agency pairs as known non-matches
  (:mod:`linkage._fellegi`; 2026-12-05, the columns not measured again): hard F1 0.901
  (without households 0.793), siblings 49 in 6,199 (9 in 5,222), twins 10 in 162 (5 in
  135), ECE 0.009 (0.012); default F1 0.993 (0.982), siblings 1 in 11,008, ECE 0.006
  (0.012).
* The tests' households, 1,200 per seed, six seeds, mean F1 0.988 at the default noise
  (columns 0.977, without 0.958) and 0.972 at the heavy one (0.941; 0.910); at the heavy
  noise false links between children of one family (twins among them) 53 in 5,316 (37 in
  4,930; 32 in 4,611), between twins 41 in 829 (24 in 773; 21 in 733): that generator makes
  twins of a quarter of its families of two children or more, and twins, who differ by the
  given name alone, are linked like matches whose given name was mistyped, as noisy here.

Tried and left: two or three non-match classes in the stratum (the first pass's way with
namesakes): F1 0.1 to 8 points lower and ECE up to 0.10, fewer links of every kind. With the
stratum's ``m`` held: a ``u`` per support level, or one fitted for support 0 too, did no
better; the stratum's posterior odds as the calibration's prior odds, instead of its share's
odds over the first pass's, gave as few false sibling links as without households but F1
1.2 points lower and ECE 0.06 on the hard set -- the stratum's share already counts the
siblings that compete, and the calibration counted them again. A one-to-one step within each
pair of linked households is the calibration's own: a record's probabilities over its
candidates sum to 1 or less. A second pass, counting the links of the first household
pass, moved F1 by 0.002 at most, so there is one.

All of it is counting over integer keys (``np.unique`` and ``searchsorted``) and EM over the
distinct comparison patterns, never a loop per pair or per household.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias, cast

import numpy as np

from linkage._facts import RecordFacts
from linkage._fellegi import FSModel, _distinct, _log_likelihood, level_shares, m_start
from linkage._fellegi import _monotone as monotone
from linkage._pool import Pool

__all__ = [
    "GENERATION",
    "HOUSEHOLD_PASSES",
    "LINKED_AT",
    "HouseholdLinks",
    "HouseholdModel",
    "StratumModel",
    "collective_pass",
    "fit_household_columns",
    "fit_stratum",
    "household_codes",
    "household_levels",
    "role_levels",
    "support_levels",
]

LINKED_AT = 0.5  # a first-pass link at or above this probability supports its households
HOUSEHOLD_PASSES = 1  # household passes after the first
SUPPORT_CAP = 2  # support levels: 0, 1, and 2 for two or more
MIN_STRATUM_PAIRS = 1000  # fewer supported candidate pairs: the household columns instead
STRATUM_PRIOR_PAIRS = 200.0  # the first pass's m and u weigh as many pairs in the stratum's
# generation of each relationship (bloom._households.RELATIONSHIPS order): parent above the
# head's, head, spouse and sibling, child below; 'other' has none
GENERATION = np.array([0, 0, -1, 1, 0, 99], dtype=np.int64)
_NO_GENERATION = 99


def household_codes(agency_codes: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per record a dense household code, ordered by (agency, group); ``-1`` for a record in
    no group, or alone in its group among these records (no other member to learn from)."""
    out = np.full(len(groups), -1, np.int64)
    held = np.flatnonzero(groups != 0)
    if held.size == 0:
        return out
    agency, group = agency_codes[held], groups[held]
    order = np.lexsort((group, agency))
    agency, group, held = agency[order], group[order], held[order]
    first = np.ones(len(held), bool)
    first[1:] = (agency[1:] != agency[:-1]) | (group[1:] != group[:-1])
    number = np.cumsum(first) - 1
    shared = np.bincount(number)[number] >= 2
    dense = np.cumsum(first & shared) - 1  # households of two or more, numbered in order
    out[held[shared]] = dense[shared]
    return out


def _count(keys: np.ndarray, counts: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """How often each of ``wanted`` occurs, from sorted distinct ``keys`` and their counts."""
    if keys.size == 0:
        return np.zeros(len(wanted), np.int64)
    at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    return np.where(keys[at] == wanted, counts[at], 0)


@dataclass(frozen=True)
class HouseholdLinks:
    """The first pass's links between two households, counted three ways (keys sorted)."""

    household: np.ndarray  # household code of each pool record (household_codes)
    households: int
    records: int
    pair_keys: np.ndarray  # the links themselves: low record * records + high record
    between: tuple[np.ndarray, np.ndarray]  # (household pair key, links)
    first_into: tuple[np.ndarray, np.ndarray]  # (low record, high household), links
    into_second: tuple[np.ndarray, np.ndarray]  # (low household, high record), links

    @classmethod
    def count(
        cls, household: np.ndarray, a: np.ndarray, b: np.ndarray, p: np.ndarray
    ) -> HouseholdLinks:
        """The links ``(a[t], b[t])`` at probability ``p[t] >= LINKED_AT`` between records of
        two different households (a link given twice, in either order, counts once)."""
        n_h, n = int(household.max(initial=-1)) + 1, len(household)
        keep = (p >= LINKED_AT) & (household[a] >= 0) & (household[b] >= 0)
        keep &= household[a] != household[b]
        lo, hi = _ordered(household, a[keep], b[keep])
        pair_keys, first = np.unique(lo * n + hi, return_index=True)  # each link once
        lo, hi = lo[first], hi[first]
        hl, hh = household[lo], household[hi]

        def counted(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            keys, counts = np.unique(k, return_counts=True)
            return keys, counts.astype(np.int64)

        return cls(
            household=household,
            households=n_h,
            records=n,
            pair_keys=pair_keys,
            between=counted(hl * n_h + hh),
            first_into=counted(lo * n_h + hh),
            into_second=counted(hl * n + hi),
        )

    def support(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per pair ``(a[t], b[t])``: links between its two households other than those that
        share a record with it; ``-1`` where either record has no household (or both the
        same)."""
        h = self.household
        valid = np.flatnonzero((h[a] >= 0) & (h[b] >= 0) & (h[a] != h[b]))
        lo, hi = _ordered(h, a[valid], b[valid])
        hl, hh, n, n_h = h[lo], h[hi], self.records, self.households
        itself = _count(self.pair_keys, np.ones(len(self.pair_keys), np.int64), lo * n + hi)
        total = _count(*self.between, hl * n_h + hh)
        with_lo = _count(*self.first_into, lo * n_h + hh)  # links of lo into hi's household
        with_hi = _count(*self.into_second, hl * n + hi)  # links of hi from lo's household
        out = np.full(len(a), -1, np.int64)
        out[valid] = total - with_lo - with_hi + itself
        return out


def _ordered(household: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each pair's two records, the one of the lower household code first."""
    swap = household[a] > household[b]
    return np.where(swap, b, a).astype(np.int64), np.where(swap, a, b).astype(np.int64)


def support_levels(count: np.ndarray) -> np.ndarray:
    """Support counts as comparison levels: ``-1`` stays missing, then 0, 1, 2 (two or more)."""
    return np.where(count < 0, -1, np.minimum(count, SUPPORT_CAP)).astype(np.int8)


def role_levels(relationships: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair: 2 the same role, 1 the same generation, 0 different generations; ``-1``
    where either relationship is not given or ``other``."""
    ra, rb = relationships[a].astype(np.int64), relationships[b].astype(np.int64)
    ga = np.where(ra >= 0, GENERATION[np.maximum(ra, 0)], _NO_GENERATION)
    gb = np.where(rb >= 0, GENERATION[np.maximum(rb, 0)], _NO_GENERATION)
    level = np.where(ra == rb, 2, np.where(ga == gb, 1, 0))
    return np.where((ga == _NO_GENERATION) | (gb == _NO_GENERATION), -1, level).astype(np.int8)


def household_levels(
    links: HouseholdLinks, facts: RecordFacts, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """``(pairs, 2)`` levels of the pairs ``(a[t], b[t])``: household support, and role
    consistency where the support is 1 or more (module docstring)."""
    support = support_levels(links.support(a, b))
    roles = role_levels(facts.relationships, a, b)
    return np.stack([support, np.where(support >= 1, roles, -1).astype(np.int8)], axis=1)


Key: TypeAlias = tuple[int, int]  # an agency pair
Calibrate = Callable[[dict[Key, np.ndarray]], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class HouseholdModel:
    """Per household column and level, the share among matches (``m``) and non-matches
    (``u``); ``log2(m / u)`` is what a level adds to a pair's match weight."""

    m: np.ndarray  # (2, levels)
    u: np.ndarray

    @property
    def level_weights(self) -> np.ndarray:
        return cast(np.ndarray, np.log2(self.m / self.u))

    def weights(self, levels: np.ndarray) -> np.ndarray:
        """Per pair, the weight its household levels add (a missing level adds nothing)."""
        w = self.level_weights
        cols = np.arange(levels.shape[1])
        return cast(np.ndarray, np.where(levels >= 0, w[cols, np.maximum(levels, 0)], 0.0).sum(1))

    def pair_weights(
        self, first: np.ndarray, identifiers: np.ndarray, levels: np.ndarray
    ) -> np.ndarray:
        """The pairs' first-pass weights ``first`` with their household levels' added."""
        return cast(np.ndarray, first + self.weights(levels))

    def described(self, levels: np.ndarray) -> dict[str, float]:
        """What the columns say: the weight of each level of the two, and how many of the
        pairs of household ``levels`` had a support of 1 or more."""
        w = self.level_weights
        out: dict[str, float] = {
            "household_supported_pairs": int((levels[:, 0] >= 1).sum()),
            "household_stratified": 0,
        }
        for level in range(SUPPORT_CAP + 1):
            out[f"household_support_weight_{level}"] = round(float(w[0, level]), 4)
            out[f"household_role_weight_{level}"] = round(float(w[1, level]), 4)
        return out


def fit_household_columns(
    first: np.ndarray,
    levels: np.ndarray,
    u_random: np.ndarray,
    *,
    prior_pairs: float = 200.0,
    max_iter: int = 200,
    tol: float = 1e-7,
) -> HouseholdModel:
    """EM of the household columns' ``m`` and ``u``, the rest of the model held as the first
    pass fitted it: each pair's first-pass probability ``first`` is its prior, so the match
    class stays the one its identifiers define (refitting every column at once let the
    "matches" drift towards pairs of one household: twins of different given names were
    linked). ``u_random`` anchors ``u`` as in :func:`linkage._fellegi.fit_fellegi_sunter`,
    with the weight of ``prior_pairs`` pairs; levels are kept monotone (a higher level is never
    weaker evidence)."""
    n_levels = u_random.shape[1]
    cols = levels.shape[1]
    m_prior = m_start(cols, n_levels) * 2.0
    u_prior = u_random * prior_pairs
    logit = np.log(np.clip(first, 1e-9, 1 - 1e-9)) - np.log1p(-np.clip(first, 1e-9, 1 - 1e-9))
    ok = levels >= 0
    at = np.maximum(levels, 0).astype(np.int64)
    m, u = m_prior / m_prior.sum(1, keepdims=True), u_random.copy()
    for _ in range(max_iter):
        ratio = np.where(ok, np.log(m[np.arange(cols), at]) - np.log(u[np.arange(cols), at]), 0)
        post = 1.0 / (1.0 + np.exp(-np.clip(logit + ratio.sum(1), -700, 700)))
        new_m, new_u = m_prior + 1e-6, u_prior + 1e-6
        for c in range(cols):
            new_m[c] += np.bincount(at[ok[:, c], c], post[ok[:, c]], n_levels)
            new_u[c] += np.bincount(at[ok[:, c], c], 1 - post[ok[:, c]], n_levels)
        new_m, new_u = monotone(
            new_m / new_m.sum(1, keepdims=True), new_u / new_u.sum(1, keepdims=True)
        )
        moved = max(np.abs(new_m - m).max(), np.abs(new_u - u).max())
        m, u = new_m, new_u
        if moved < tol:
            break
    return HouseholdModel(m, u)


@dataclass(frozen=True)
class StratumModel:
    """The stratified household model of one agency pair (module docstring).

    ``shares``: per support level (0, 1, 2), the share of matches among the candidate pairs
    at that level; ``prior``: the first pass's share among all its candidate pairs; ``m``,
    ``u``: the identifiers' level shares among the matches and the non-matches (relatives,
    mostly) of the supported pairs; ``role_m``, ``role_u``: the role consistency's.
    """

    shares: np.ndarray
    prior: float
    m: np.ndarray
    u: np.ndarray
    role_m: np.ndarray
    role_u: np.ndarray

    @property
    def support_weights(self) -> np.ndarray:
        """Per support level, what it adds to a pair's weight: ``log2`` of its odds of a
        match over the first pass's, so that the calibration's prior becomes the level's."""
        return cast(np.ndarray, _logit2(self.shares) - _logit2(np.array(self.prior)))

    @property
    def role_weights(self) -> np.ndarray:
        return cast(np.ndarray, np.log2(self.role_m / self.role_u))

    def pair_weights(
        self, first: np.ndarray, identifiers: np.ndarray, levels: np.ndarray
    ) -> np.ndarray:
        """The pairs' weights from their first-pass weights ``first``, identifier levels and
        household levels: unchanged where the support is missing, shifted by level 0's weight
        at support 0, and ``log2 m/u`` of the identifiers under the stratum's model, with the
        role's and the support level's weights, where it is 1 or more."""
        support, role = levels[:, 0].astype(np.int64), levels[:, 1].astype(np.int64)
        out = first + np.where(support >= 0, self.support_weights[np.maximum(support, 0)], 0.0)
        inside = np.flatnonzero(support >= 1)
        x, r = identifiers[inside], role[inside]
        ratio = (_log_likelihood(x, self.m) - _log_likelihood(x, self.u)) / np.log(2.0)
        ratio += np.where(r >= 0, self.role_weights[np.maximum(r, 0)], 0.0)
        out[inside] = ratio + self.support_weights[support[inside]]
        return out

    def described(self, levels: np.ndarray) -> dict[str, float]:
        """What the model says: the weight of each support level and role level, and how
        many of the pairs of household ``levels`` had a support of 1 or more."""
        out: dict[str, float] = {
            "household_supported_pairs": int((levels[:, 0] >= 1).sum()),
            "household_stratified": 1,
        }
        for level in range(SUPPORT_CAP + 1):
            out[f"household_support_weight_{level}"] = round(float(self.support_weights[level]), 4)
            out[f"household_role_weight_{level}"] = round(float(self.role_weights[level]), 4)
        return out


def _logit2(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return cast(np.ndarray, np.log2(p) - np.log2(1 - p))


def fit_stratum(
    model: FSModel,
    identifiers: np.ndarray,
    levels: np.ndarray,
    *,
    prior_pairs: float = STRATUM_PRIOR_PAIRS,
    max_iter: int = 300,
    tol: float = 1e-8,
) -> StratumModel:
    """EM of the stratified model over the candidate pairs with a support (``levels[:, 0]``
    0 or more; ``identifiers``: their identifier levels, as the first pass's ``model`` saw
    them). A pair at support 0 keeps the first pass's likelihood ratio; the supported pairs
    fit the identifiers' ``m`` and ``u``, each anchored by the first pass's with the weight
    of ``prior_pairs`` pairs, and the role column's; each support level its share of
    matches. Levels are kept monotone; the fit runs over the distinct rows, weighted by their
    counts."""
    keep = levels[:, 0] >= 0
    patterns, counts = _distinct(np.concatenate([identifiers[keep], levels[keep]], axis=1))
    counts = counts.astype(np.float64)
    x, support, role = patterns[:, :-2], patterns[:, -2].astype(np.int64), patterns[:, -1]
    first_ratio = model.weights(x) * np.log(2.0)  # log m/u of the first pass (classes mixed)
    inside, has_role = support >= 1, (support >= 1) & (role >= 0)
    at, ok, r_at = np.maximum(x, 0), x >= 0, np.maximum(role, 0).astype(np.int64)
    per_level = np.bincount(support, counts, SUPPORT_CAP + 1)
    n_levels = model.m.shape[1]
    shares, m, u = np.full(SUPPORT_CAP + 1, 0.5), model.m.copy(), model.u.copy()
    role_m, role_u = np.full((1, 3), 1 / 3), np.full((1, 3), 1 / 3)
    for _ in range(max_iter):
        ratio = np.where(inside, _log_likelihood(x, m) - _log_likelihood(x, u), first_ratio)
        ratio += np.where(has_role, np.log(role_m[0, r_at] / role_u[0, r_at]), 0.0)
        odds = np.log(shares[support]) - np.log1p(-shares[support])
        post = 1.0 / (1.0 + np.exp(-np.clip(odds + ratio, -700, 700)))
        matched, other = counts * post, counts * (1 - post)
        new_shares = np.bincount(support, matched, SUPPORT_CAP + 1) / np.maximum(per_level, 1)
        new_shares = np.where(per_level > 0, np.clip(new_shares, 1e-6, 1 - 1e-6), 0.5)
        new_m, new_u = model.m * prior_pairs + 1e-6, model.u * prior_pairs + 1e-6
        for c in range(x.shape[1]):
            rows = inside & ok[:, c]
            new_m[c] += np.bincount(at[rows, c], matched[rows], n_levels)
            new_u[c] += np.bincount(at[rows, c], other[rows], n_levels)
        new_m, new_u = monotone(
            new_m / new_m.sum(1, keepdims=True), new_u / new_u.sum(1, keepdims=True)
        )
        new_rm = 1.0 + np.bincount(r_at[has_role], matched[has_role], 3)[None]
        new_ru = 1.0 + np.bincount(r_at[has_role], other[has_role], 3)[None]
        new_rm, new_ru = monotone(new_rm / new_rm.sum(), new_ru / new_ru.sum())
        moved = max(
            np.abs(new_shares - shares).max(), np.abs(new_m - m).max(), np.abs(new_u - u).max()
        )
        shares, m, u, role_m, role_u = new_shares, new_m, new_u, new_rm, new_ru
        if moved < tol:
            break
    return StratumModel(shares, float(model.prior), m, u, role_m[0], role_u[0])


def collective_pass(
    pool: Pool,
    pairs: dict[Key, tuple[np.ndarray, np.ndarray, np.ndarray]],
    random_pairs: dict[Key, tuple[np.ndarray, np.ndarray]],
    weights: dict[Key, np.ndarray],
    first: tuple[np.ndarray, ...],
    *,
    calibrate: Calibrate,
    min_pairs: int,
    identifiers: dict[Key, np.ndarray],
    fitted: dict[Key, FSModel],
    passes: int = HOUSEHOLD_PASSES,
) -> tuple[tuple[np.ndarray, ...], dict[Key, dict[str, float]]] | None:
    """The run's candidates scored again with their household evidence: ``(g1, g2, weight,
    probability)`` of every candidate pair as ``calibrate`` gives them from the weights, and
    per agency pair what the household evidence weighs; ``None`` when no candidate pair has a
    household support (the first pass then stands as it is).

    ``first``: the first pass's ``(g1, g2, weight, probability)`` of the agency pairs of
    ``pairs`` in order; ``weights`` its weights per agency pair, ``identifiers`` the
    comparison levels they came from and ``fitted`` the Fellegi-Sunter model that weighed
    them. An agency pair with fewer than ``min_pairs`` candidates shares one household model
    with the other small ones (as it shares the first pass's). Each of ``passes`` counts the
    links of the pass before it.
    """
    household = household_codes(pool.agency_codes, pool.facts.groups)
    if (household < 0).all():
        return None
    oa, ob, op = pool.old_links
    stored = (oa >= 0) & (ob >= 0)
    bounds = np.cumsum([0] + [len(g1) for g1, _, _ in pairs.values()])
    prior = {k: first[3][lo:hi] for k, lo, hi in zip(pairs, bounds[:-1], bounds[1:], strict=True)}
    result, described = first, dict[Key, dict[str, float]]()
    for _ in range(passes):
        g1, g2, _, p = result
        links = HouseholdLinks.count(
            household,
            np.concatenate([oa[stored], g1]),
            np.concatenate([ob[stored], g2]),
            np.concatenate([op[stored], p]),
        )
        found = {}
        for key, (k1, k2, _) in pairs.items():
            levels = household_levels(links, pool.facts, k1, k2)
            if (levels[:, 0] >= 0).any():
                found[key] = levels
        if not found:
            return None
        more: dict[Key, np.ndarray] = {}
        described = {}
        for keys in _groups(found, min_pairs):
            stratum = _fit_group(keys, found, identifiers, fitted.get(keys[0]))
            model = stratum or _fit_columns(keys, found, prior, links, pool, random_pairs)
            for k in keys:
                more[k] = model.pair_weights(weights[k], identifiers[k], found[k])
                described[k] = model.described(found[k])
        result = calibrate({**weights, **more})
    return result, described


def _groups(found: dict[Key, np.ndarray], min_pairs: int) -> list[list[Key]]:
    """The agency pairs fitted together: each with ``min_pairs`` candidates or more alone,
    the smaller ones together (their first pass shared one model too)."""
    small = [k for k, lv in found.items() if len(lv) < min_pairs]
    return [[k] for k, lv in found.items() if len(lv) >= min_pairs] + ([small] if small else [])


def _fit_group(
    keys: list[Key],
    found: dict[Key, np.ndarray],
    identifiers: dict[Key, np.ndarray],
    model: FSModel | None,
) -> StratumModel | None:
    """The stratified model of agency pairs ``keys``; ``None`` with fewer than
    :data:`MIN_STRATUM_PAIRS` supported pairs (or no first-pass model)."""
    levels = np.concatenate([found[k] for k in keys])
    if model is None or (levels[:, 0] >= 1).sum() < MIN_STRATUM_PAIRS:
        return None
    return fit_stratum(model, np.concatenate([identifiers[k] for k in keys]), levels)


def _fit_columns(
    keys: list[Key],
    found: dict[Key, np.ndarray],
    prior: dict[Key, np.ndarray],
    links: HouseholdLinks,
    pool: Pool,
    random_pairs: dict[Key, tuple[np.ndarray, np.ndarray]],
) -> HouseholdModel:
    """The household columns of agency pairs ``keys``, anchored by their random pairs."""
    anchors = [level_shares(household_levels(links, pool.facts, *random_pairs[k])) for k in keys]
    return fit_household_columns(
        np.concatenate([prior[k] for k in keys]),
        np.concatenate([found[k] for k in keys]),
        np.mean(anchors, axis=0),
    )
