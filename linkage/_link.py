"""`linkage.link`: encoded batches in, a case id and a calibrated confidence per record out.

The stages, each a plain function of arrays:

1. pool the batches with the registry's records (new records only are compared);
2. candidates per agency pair: Dice at or above a floor (auto: the 99th percentile of the
   Dice of random pairs, so it follows the filters' density), best ``top_k`` per record;
3. field-aware scores: per-segment Dice cut into levels, and each pair's crowd (how many
   candidates its records have: ``_features``), Fellegi–Sunter weights by EM (one match
   class, several non-match classes: ``_fellegi``);
4. calibration: P(this pair is a match) from the weights of every candidate pair of the two
   agencies, the records' competing candidates on both sides included (``_calibration``);
   when the batches say which records share a household, the pairs inside two linked
   households (a household support) are weighed by a model of their own, whose non-matches
   are relatives, with their role consistency, and the pairs calibrated again
   (``_households``);
5. threshold (auto: the one that maximises the expected F1 under the calibrated
   probabilities), clustering with at most one record per agency per case, stable case ids.

:func:`plan_link` does all of it on a registry's :class:`RegistryState` and returns the
changes as ``report.update`` without storing them — a caller that must store them in its own
transaction (the service: with the batches' status and the run's outcome) applies them with
:meth:`Registry.apply`. :func:`link` is the two together.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, cast

import numpy as np
import pandas as pd

from bloom import EncodedBatch
from bloom._bitops import dice_array
from linkage._calibration import pair_probabilities
from linkage._caseid import new_case_ids
from linkage._cluster import CaseAssignment, assign_cases, cluster
from linkage._constrained import ConstraintOutcome, hold
from linkage._constraints import Constraints
from linkage._features import crowd_levels, segment_dice
from linkage._fellegi import FSModel, comparison_levels, fit_fellegi_sunter, level_shares
from linkage._households import collective_pass
from linkage._pool import Pool, build_pool
from linkage._registry import Registry, RegistryState, RegistryUpdate
from linkage._search import SearchExecutor, search
from linkage._types import CandidatePairs, LinkageError

__all__ = ["LinkReport", "link", "plan_link"]

logger = logging.getLogger(__name__)

MIN_PAIRS_PER_MODEL = 2000  # fewer candidate pairs than this: use the model of all pairs
STORE_LINKS_ABOVE = 0.01
FLOOR_QUANTILE = 0.99  # candidates: Dice above 99% of random pairs (then the best top_k)
Finder = Callable[[np.ndarray, np.ndarray, float, int | None], CandidatePairs]
_Key: TypeAlias = tuple[int, int]  # an agency pair (codes x <= y)
_Triple: TypeAlias = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class LinkReport:
    """The result of a linking run: one row per input record, and how it was reached."""

    assignments: pd.DataFrame  # agency, record_ref, case_id, confidence
    threshold: float
    candidate_threshold: float  # the lowest Dice floor used for any agency pair
    pairs_scored: int
    links_accepted: int
    merges: dict[str, str] = field(default_factory=dict)
    # per agency pair: candidates, prior, calibration shares and, with households, the
    # household columns' weights (household_support_weight_<level>, household_role_weight_...)
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    pairs: pd.DataFrame | None = None  # every scored candidate pair, when keep_pairs=True
    update: RegistryUpdate | None = None  # the registry's changes (plan_link with a state)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage of the run
    constraints: ConstraintOutcome | None = None  # what the registry's constraints did


def _random_pairs(
    pool: Pool, x: int, y: int, rng: np.random.Generator, samples: int = 20_000
) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs of records of agencies x and y (distinct records): nearly all non-matches."""
    gx, gy = pool.members(x), pool.members(y)
    a, b = gx[rng.integers(0, len(gx), samples)], gy[rng.integers(0, len(gy), samples)]
    keep = a != b
    return a[keep], b[keep]


def candidate_floor(dice: np.ndarray) -> float:
    """The candidate floor from the Dice of random pairs (nearly all non-matches): their
    ``FLOOR_QUANTILE`` quantile, within 0.3-0.95 (0.5 without pairs)."""
    return float(np.clip(np.quantile(dice, FLOOR_QUANTILE), 0.3, 0.95)) if dice.size else 0.5


def pair_baseline(
    filters: np.ndarray, popcounts: np.ndarray, a: np.ndarray, b: np.ndarray, bounds: np.ndarray
) -> tuple[float, np.ndarray]:
    """Candidate floor and level shares of the pairs ``(a[t], b[t])`` of rows of ``filters``,
    pairs of two people (nearly all non-matches): the floor is :func:`candidate_floor` of their
    Dice, the shares anchor ``u`` of the Fellegi–Sunter fit. One rule for a linking run (per
    agency pair) and for a tracing index (:mod:`linkage._query_fit`)."""
    inter = np.bitwise_count(filters[a] & filters[b]).sum(axis=1)
    dice = dice_array(inter, popcounts[a] + popcounts[b])
    levels = comparison_levels(segment_dice(filters, filters, a, b, bounds))
    return candidate_floor(dice), level_shares(levels)


def _baseline(
    pool: Pool, x: int, y: int, rng: np.random.Generator
) -> tuple[float, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Candidate floor (a high percentile of random-pair Dice), level shares of random pairs,
    and the random pairs themselves (household evidence is anchored on them too)."""
    a, b = _random_pairs(pool, x, y, rng)
    return (*pair_baseline(pool.filters, pool.popcounts, a, b, pool.bounds), (a, b))


def _pairs_for(pool: Pool, x: int, y: int, floor: float, top_k: int, find: Finder) -> _Triple:
    """Global (g1, g2, dice) candidate pairs between agencies x and y with a new record."""
    gx, gy = pool.members(x), pool.members(y)
    parts = []
    for query, target in ((gx[pool.is_new[gx]], gy), (gy[pool.is_new[gy]], gx[~pool.is_new[gx]])):
        if x == y and target is gx[~pool.is_new[gx]]:
            continue  # within one agency the first search already covers new x all
        if len(query) and len(target):
            c = find(pool.filters[query], pool.filters[target], floor, top_k)
            parts.append((query[c.i], target[c.j], c.score))
    if not parts:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
    g1, g2, s = (np.concatenate(col) for col in zip(*parts, strict=True))
    if x == y:  # one pair per unordered couple, never a record with itself
        lo, hi = np.minimum(g1, g2), np.maximum(g1, g2)
        _, first = np.unique(lo * len(pool.agency_codes) + hi, return_index=True)
        first = first[lo[first] != hi[first]]
        g1, g2, s = lo[first], hi[first], s[first]
    return g1, g2, s


def _levels(
    pool: Pool, pairs: dict[_Key, _Triple], u_random: dict[_Key, np.ndarray], several: bool
) -> tuple[dict[_Key, np.ndarray], dict[_Key, np.ndarray]]:
    """Per agency pair: comparison levels of its candidates and their random-pair anchors.

    One record per person per agency (not ``several``): each pair's crowd is compared too
    (:func:`crowd_levels`), anchored like the segments by the crowds of the candidates, nearly
    all non-matches; with duplicates a crowd may be one person's records, and is left out.
    """
    levels, anchors = {}, {}
    for key, (g1, g2, _) in pairs.items():
        lv = comparison_levels(segment_dice(pool.filters, pool.filters, g1, g2, pool.bounds))
        levels[key], anchors[key] = lv, u_random[key]
        if not several:
            crowd = crowd_levels(g1, g2)[:, None]
            levels[key] = np.concatenate([lv, crowd], axis=1)
            anchors[key] = np.concatenate([u_random[key], level_shares(crowd)])
    return levels, anchors


def within_levels(
    pool: Pool, x: int, rng: np.random.Generator, floor: float | None, top_k: int, find: Finder
) -> np.ndarray:
    """Comparison levels of the candidate pairs within agency ``x``: each new record of ``x``
    searched among the other records of ``x`` as a run searches another agency's (the floor
    from ``x``'s own random pairs unless ``floor`` is given), with the crowds of that search.
    With one record per person per agency these are pairs of two people, the run's known
    non-matches (:mod:`linkage._fellegi`); a pair found from both ends counts once."""
    own_floor, _, _ = _baseline(pool, x, x, rng)
    members = pool.members(x)
    query = members[pool.is_new[members]]
    if len(query) == 0 or len(members) < 2:
        return np.zeros((0, len(pool.bounds) + 1), np.int8)
    c = find(pool.filters[query], pool.filters[members], floor or own_floor, top_k + 1)
    g1, g2 = query[c.i], members[c.j]
    other = g1 != g2  # a record finds itself first
    g1, g2 = g1[other], g2[other]
    crowd = crowd_levels(g1, g2)
    lo, hi = np.minimum(g1, g2), np.maximum(g1, g2)
    _, first = np.unique(lo * len(pool.agency_codes) + hi, return_index=True)
    g1, g2, crowd = g1[first], g2[first], crowd[first]
    lv = comparison_levels(segment_dice(pool.filters, pool.filters, g1, g2, pool.bounds))
    return np.concatenate([lv, crowd[:, None]], axis=1)


def fit_weights(
    levels: dict[_Key, np.ndarray],
    anchors: dict[_Key, np.ndarray],
    models: dict[_Key, dict[str, float]],
    known: dict[int, np.ndarray] | None = None,
) -> tuple[dict[_Key, np.ndarray], dict[_Key, FSModel]]:
    """Per agency pair: match weights of its candidates (its own EM model, or the pooled one
    of every agency pair given) and the model that weighed them. ``known``: per agency, the
    levels of pairs of two of its records (:func:`within_levels`), the non-matches an agency
    pair's model counts with its candidates (the pooled model: every agency's)."""
    known = known or {}

    def non_matches(agencies: Sequence[int]) -> np.ndarray | None:
        parts = [known[a] for a in dict.fromkeys(agencies) if a in known]
        return np.concatenate(parts) if parts else None

    nonempty = [lv for lv in levels.values() if len(lv)]
    pooled = None  # fitted only for the agency pairs too small for a model of their own
    if nonempty and any(len(lv) < MIN_PAIRS_PER_MODEL for lv in levels.values()):
        u_pooled = np.mean(list(anchors.values()), axis=0)
        pooled = fit_fellegi_sunter(
            np.concatenate(nonempty), u_random=u_pooled, non_matches=non_matches(list(known))
        )
    weights: dict[_Key, np.ndarray] = {}
    fitted: dict[_Key, FSModel] = {}
    for key, lv in levels.items():
        own = len(lv) >= MIN_PAIRS_PER_MODEL
        model = (
            fit_fellegi_sunter(lv, u_random=anchors[key], non_matches=non_matches(key))
            if own
            else pooled
        )
        weights[key] = (
            cast(FSModel, model).weights(lv) if len(lv) else np.zeros(0)
        )  # None: lv empty
        if model is not None:
            models[key] |= {"pairs": len(lv), "prior": model.prior, "own_model": own}
            fitted[key] = model
    return weights, fitted


def _probabilities(
    pairs: dict[_Key, _Triple],
    weights: dict[_Key, np.ndarray],
    models: dict[_Key, dict[str, float]],
    several: bool,
) -> tuple[np.ndarray, ...]:
    """Every candidate pair: (g1, g2, match weight, calibrated probability), all agency pairs."""
    cols: list[list[np.ndarray]] = [[], [], [], []]
    for key, (g1, g2, _) in pairs.items():
        model = models.setdefault(key, {"pairs": 0})
        p, lam1, lam2 = pair_probabilities(
            g1, g2, weights[key], several_matches=several, pair_prior=model.get("prior", 0.5)
        )
        model.update(matched_share_first=lam1, matched_share_second=lam2)
        for col, arr in zip(cols, (g1, g2, weights[key], p), strict=True):
            col.append(arr)
    if not cols[0]:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return tuple(np.concatenate(c) for c in cols)


def auto_threshold(p: np.ndarray) -> float:
    """The probability threshold that maximises expected F1 over the given links."""
    if p.size == 0:
        return 0.5
    ps = np.sort(p)[::-1]
    expected_f1 = 2 * np.cumsum(ps) / (np.arange(1, ps.size + 1) + ps.sum())
    return float(ps[int(np.argmax(expected_f1))])


def link(
    batches: Sequence[EncodedBatch],
    *,
    registry: Registry | None = None,
    threshold: float | str = "auto",
    allow_duplicates_within_agency: bool = False,
    candidate_threshold: float | None = None,
    top_k: int = 10,
    find: Finder | None = None,
    executor: SearchExecutor | None = None,
    seed: int = 0,
    keep_pairs: bool = False,
    constraints: Constraints | None = None,
) -> LinkReport:
    """Link encoded batches (and the registry's records, if given) into cases.

    Returns a row per input record: ``agency, record_ref, case_id, confidence``. With a
    registry, existing case ids are kept, new records join or form cases, and the changes are
    stored in one transaction. ``find`` replaces the candidate search (exhaustive for small
    inputs, LSH blocking for large ones); ``executor`` keeps that search and runs it elsewhere
    (:class:`linkage.RaySearch`: as Ray tasks, with the same result). ``keep_pairs`` returns
    every scored candidate pair (weights and probabilities) for evaluation.
    ``constraints``: must-link and cannot-link pairs of registry records (:func:`plan_link`).
    """
    report = plan_link(
        batches,
        state=registry.state() if registry is not None else None,
        threshold=threshold,
        allow_duplicates_within_agency=allow_duplicates_within_agency,
        candidate_threshold=candidate_threshold,
        top_k=top_k,
        find=find,
        executor=executor,
        seed=seed,
        keep_pairs=keep_pairs,
        constraints=constraints,
    )
    if registry is not None and report.update is not None:
        registry.apply(report.update)
    return report


def plan_link(
    batches: Sequence[EncodedBatch],
    *,
    state: RegistryState | None = None,
    threshold: float | str = "auto",
    allow_duplicates_within_agency: bool = False,
    candidate_threshold: float | None = None,
    top_k: int = 10,
    find: Finder | None = None,
    executor: SearchExecutor | None = None,
    seed: int = 0,
    keep_pairs: bool = False,
    constraints: Constraints | None = None,
) -> LinkReport:
    """What :func:`link` computes, on a registry's ``state``, storing nothing.

    With a ``state`` (an empty registry has one too), ``report.update`` holds the changes
    :meth:`Registry.apply` stores; it must be applied to the registry the state was read
    from, unchanged since. A pure function of its arguments: it may run in another process.

    ``constraints`` (registry ids, as :func:`linkage.read_constraints` reads them): a
    cannot-link pair never ends in one case, a must-link pair does unless that would put two
    records of one agency in one case; ``report.constraints`` says what was done
    (:mod:`linkage._constrained`).
    """
    if threshold != "auto" and not (isinstance(threshold, int | float) and 0 < threshold <= 1):
        raise LinkageError("threshold must be 'auto' or a probability in (0, 1]")
    if find is not None and executor is not None:
        raise LinkageError("find and executor: give one (executor runs the default search)")
    clock = _Stages()
    pool = build_pool(batches, state)
    clock.lap("pool")
    segments = [(int(lo), int(hi)) for lo, hi in pool.bounds]
    find = find or functools.partial(search, segments=segments, executor=executor)
    rng = np.random.default_rng(seed)
    n_ag = len(pool.agency_names)
    keys = [
        (x, y)
        for x in range(n_ag)
        for y in range(x, n_ag)
        if x != y or allow_duplicates_within_agency
    ]
    keys = [k for k in keys if pool.is_new[np.isin(pool.agency_codes, k)].any()]
    base = {k: _baseline(pool, *k, rng) for k in keys}
    clock.lap("baseline")
    floors = {k: candidate_threshold or base[k][0] for k in keys}
    pairs = {k: _pairs_for(pool, *k, floors[k], top_k, find) for k in keys}
    clock.lap("search")
    models: dict[_Key, dict[str, float]] = {k: {"candidate_threshold": floors[k]} for k in keys}
    several = allow_duplicates_within_agency
    levels, anchors = _levels(pool, pairs, {k: base[k][1] for k in keys}, several)
    within = sorted({a for k in keys for a in k})
    known = (
        {}
        if several
        else {a: within_levels(pool, a, rng, candidate_threshold, top_k, find) for a in within}
    )
    weights, fitted = fit_weights(levels, anchors, models, known)
    clock.lap("model")
    g1, g2, w, p = _probabilities(pairs, weights, models, several)
    clock.lap("calibration")
    if pool.facts.has_groups:  # collective linkage: the pairs inside linked households apart
        again = collective_pass(
            pool,
            pairs,
            {k: base[k][2] for k in keys},
            weights,
            (g1, g2, w, p),
            calibrate=lambda wt: _probabilities(pairs, wt, models, several),
            min_pairs=MIN_PAIRS_PER_MODEL,
            identifiers=levels,
            fitted=fitted,
        )
        if again is not None:
            (g1, g2, w, p), described = again
            for key, info in described.items():
                models[key] |= info
        clock.lap("households")
    edge = p >= 1e-3  # links below 0.1% cannot matter to clustering or confidence
    ea, eb, ep = g1[edge], g2[edge], p[edge]
    t = auto_threshold(ep) if threshold == "auto" else float(threshold)
    held = hold(constraints, pool.rec_ids, pool.old_labels, pool.old_links, (ea, eb, ep))
    labels = cluster(
        pool.agency_codes,
        held.existing,
        *held.edges,
        t,
        allow_duplicates_within_agency=allow_duplicates_within_agency,
        constraints=held.cluster,
    )
    clock.lap("clustering")
    known = pool.known_case_ids
    result = assign_cases(
        labels,
        held.old_case_ids(labels, pool.old_case_ids),
        pool.case_seq,
        held.confidence_edges(pool.with_old_links(ea, eb, ep)),
        new_ids=lambda n: new_case_ids(n, avoid=known),
    )
    out = pool.input_rows().assign(
        case_id=result.case_ids[pool.input_index], confidence=result.confidence[pool.input_index]
    )
    clock.lap("cases")
    accepted = int(np.count_nonzero((labels[ea] == labels[eb]) & (ep >= t)))
    named = {f"{pool.agency_names[x]}~{pool.agency_names[y]}": v for (x, y), v in models.items()}
    floor = min(floors.values()) if floors else 0.0
    scored = None
    if keep_pairs:
        scored = pd.DataFrame(
            {
                "agency_a": pool.agencies[g1],
                "record_ref_a": pool.refs[g1],
                "agency_b": pool.agencies[g2],
                "record_ref_b": pool.refs[g2],
                "weight": w,
                "probability": p,
            }
        )
    update = _update(pool, result, ea, eb, ep) if state is not None else None
    clock.lap("update")
    logger.info("linked %d records: %s", len(out), clock)
    report = LinkReport(
        out, t, floor, len(g1), accepted, result.merges, named, scored, update, stages=clock.seconds
    )
    exclusive = not allow_duplicates_within_agency
    report.constraints = held.outcome(labels, pool.agency_codes, exclusive=exclusive)
    return report


class _Stages:
    """Wall seconds per stage of a run, for its log line and its report."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 3)
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())


def _changed(now: dict[str, float], stored: dict[str, float], new: set[str]) -> dict[str, float]:
    """The confidence of existing cases whose value is not the one stored (a run writes only
    those: recomputing every case of a 120,000-record registry gave 53,000 unchanged rows)."""
    return {c: v for c, v in now.items() if c not in new and stored.get(c) != v}


def _update(
    pool: Pool, r: CaseAssignment, ea: np.ndarray, eb: np.ndarray, ep: np.ndarray
) -> RegistryUpdate:
    new = np.flatnonzero(pool.is_new)
    old = np.flatnonzero(~pool.is_new)
    changed = old[
        (r.case_ids[old] != pool.old_case_ids[old]) | (r.confidence[old] != pool.old_conf[old])
    ]
    keep = ep >= STORE_LINKS_ABOVE
    ends_a, ends_b = pool.link_ends(ea[keep]), pool.link_ends(eb[keep])
    links = list(zip(ends_a, ends_b, ep[keep].tolist(), strict=True))
    facts = pool.facts.take(new)
    return RegistryUpdate(
        fingerprint=pool.fingerprint,
        filter_bits=pool.filters.shape[1] * 64,
        new_agencies=pool.agencies[new],
        new_refs=pool.refs[new],
        new_filters=pool.filters[new],
        new_case_ids=r.case_ids[new],
        new_confidence=r.confidence[new],
        changed_ids=pool.rec_ids[changed],
        changed_case_ids=r.case_ids[changed],
        changed_confidence=r.confidence[changed],
        links=links,
        new_cases=[(c, r.case_confidence[c]) for c in r.new_cases],
        merges=r.merges,
        case_confidence=_changed(r.case_confidence, pool.case_confidence, set(r.new_cases)),
        new_groups=facts.groups,
        new_relationships=facts.relationships,
        new_consent=facts.consent,
    )
