"""`linkage.link`: encoded batches in, a case id and a calibrated confidence per record out.

The stages, each a plain function of arrays:

1. pool the batches with the registry's records (new records only are compared);
2. candidates per agency pair: Dice at or above a floor (auto: the 99th percentile of the
   Dice of random pairs, so it follows the filters' density), best ``top_k`` per record;
3. field-aware scores: per-segment Dice cut into levels, and each pair's crowd (how many
   candidates its records have: ``_features``), Fellegi–Sunter weights by EM (one match
   class, several non-match classes: ``_fellegi``), with clerical review's agreed pairs (the
   ``constraints``) as labelled rows beside the candidates (``_review_labels``), and with
   one record per person per agency the candidate pairs within each agency as known
   non-matches (:func:`known_non_matches`);
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
from linkage._em_labels import fit_with_labels
from linkage._features import crowd_levels, segment_dice
from linkage._fellegi import FSModel, comparison_levels, fit_fellegi_sunter, level_shares
from linkage._households import collective_pass
from linkage._pool import Pool, build_pool
from linkage._registry import Registry, RegistryState, RegistryUpdate
from linkage._review_labels import Labelled, review_labels
from linkage._search import SearchExecutor, search
from linkage._types import CandidatePairs, LinkageError

__all__ = ["LinkReport", "link", "plan_link"]

logger = logging.getLogger(__name__)

MIN_PAIRS_PER_MODEL = 2000  # fewer candidate pairs than this: use the model of all pairs
STORE_LINKS_ABOVE = 0.01
# known non-matches: at most this many new records of an agency are searched among its own
# records (a seeded sample above it: EM needs their shape, not all of them, and the search
# stays a small share of a large run's)
WITHIN_SAMPLE = 20_000
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
    labelled_pairs: int = 0  # reviewed pairs (constraints) EM fitted as labels


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
        lv = pool.levels(g1, g2)
        levels[key], anchors[key] = lv, u_random[key]
        if not several:
            crowd = crowd_levels(g1, g2)[:, None]
            levels[key] = np.concatenate([lv, crowd], axis=1)
            anchors[key] = np.concatenate([u_random[key], level_shares(crowd)])
    return levels, anchors


@dataclass(frozen=True)
class WithinPairs:
    """The candidate pairs within one agency (:func:`within_pairs`): every hit of a search of
    its new records among its records, at the lowest floor of its agency pairs."""

    g1: np.ndarray  # the searching record
    g2: np.ndarray  # the record it found
    score: np.ndarray  # their Dice
    levels: np.ndarray  # their segments' comparison levels
    searched_share: float = 1.0  # the share of the agency's new records that searched

    def at(self, floor: float) -> np.ndarray:
        """Comparison levels (with the crowd) of the hits at or above ``floor``: a search at
        that floor finds them, the best ``top_k + 1`` being the best ``top_k + 1`` above it."""
        keep = self.score >= floor
        crowd = crowd_levels(self.g1[keep], self.g2[keep], self.searched_share)
        return np.concatenate([self.levels[keep], crowd[:, None]], axis=1)


def within_pairs(
    pool: Pool, x: int, floor: float, top_k: int, find: Finder, sample: int = WITHIN_SAMPLE
) -> WithinPairs:
    """Agency ``x``'s new records (a seeded ``sample`` of them when there are more;
    the found records' crowds scaled to all of them) each searched among the records of ``x``
    as a run searches another agency's: the best ``top_k`` other than the record itself, above
    ``floor``. With
    one record per person per agency these are pairs of two people, the run's known
    non-matches (:mod:`linkage._fellegi`). Each hit is kept as a hit across agencies is -- a
    pair found from both ends twice, each time with the crowd of its search -- so that they
    look as the candidates' non-matches do: counted once, the mutual hits (the closest, with
    the smallest crowds) were half as many, and on two halves of one FEBRL register with
    nobody in common EM made the excess of such pairs among the candidates a match class
    (8.9% of them)."""
    members = pool.members(x)
    query = members[pool.is_new[members]]
    share = 1.0
    if len(query) > sample:  # a seeded sample: the same run gives the same pairs
        pick = np.random.default_rng(x).choice(len(query), sample, replace=False)
        share, query = sample / len(query), query[np.sort(pick)]
    if len(query) == 0:
        none = np.zeros(0, np.int64)
        return WithinPairs(none, none, np.zeros(0), np.zeros((0, len(pool.bounds)), np.int8))
    c = find(pool.filters[query], pool.filters[members], floor, top_k + 1)
    g1, g2 = query[c.i], members[c.j]
    other = g1 != g2  # a record finds itself first
    g1, g2, score = g1[other], g2[other], c.score[other]
    lv = comparison_levels(segment_dice(pool.filters, pool.filters, g1, g2, pool.bounds))
    return WithinPairs(g1, g2, score, lv, share)


def known_non_matches(
    pool: Pool, floors: dict[_Key, float], top_k: int, find: Finder
) -> dict[_Key, np.ndarray]:
    """Per agency pair, the levels of the within-agency pairs of its two agencies at its own
    candidate floor (:func:`within_pairs`; one search per agency)."""
    lowest: dict[int, float] = {}
    for key, floor in floors.items():
        for a in key:
            lowest[a] = min(floor, lowest.get(a, floor))
    within = {a: within_pairs(pool, a, f, top_k, find) for a, f in sorted(lowest.items())}
    return {k: np.concatenate([within[a].at(f) for a in k]) for k, f in floors.items()}


def fit_weights(
    levels: dict[_Key, np.ndarray],
    anchors: dict[_Key, np.ndarray],
    models: dict[_Key, dict[str, float]],
    labelled: Labelled | None = None,
    known: dict[_Key, np.ndarray] | None = None,
) -> tuple[dict[_Key, np.ndarray], dict[_Key, FSModel]]:
    """Per agency pair: match weights of its candidates (its own EM model, or the pooled one
    of every agency pair given) and the model that weighed them. ``labelled``: per agency
    pair, reviewed pairs (levels, labels) its model fits beside its candidates, and the
    pooled model beside all of them (:mod:`linkage._review_labels`); they are not weighed.
    ``known``: per agency pair, the levels of pairs within its agencies
    (:func:`known_non_matches`), the non-matches its model counts with its candidates (the
    pooled model: every agency pair's)."""
    labelled = {k: v for k, v in (labelled or {}).items() if k in levels}
    known = {k: v for k, v in (known or {}).items() if k in levels and len(v)}
    nonempty = [lv for lv in levels.values() if len(lv)]
    pooled = None  # fitted only for the agency pairs too small for a model of their own
    if nonempty and any(len(lv) < MIN_PAIRS_PER_MODEL for lv in levels.values()):
        u_pooled = np.mean(list(anchors.values()), axis=0)
        every = np.concatenate(list(known.values())) if known else None
        pooled = _fit(np.concatenate(nonempty), u_pooled, list(labelled.values()), every)
    weights: dict[_Key, np.ndarray] = {}
    fitted: dict[_Key, FSModel] = {}
    for key, lv in levels.items():
        own = len(lv) >= MIN_PAIRS_PER_MODEL
        mine = [labelled[key]] if key in labelled else []
        model = _fit(lv, anchors[key], mine, known.get(key)) if own else pooled
        weights[key] = (
            cast(FSModel, model).weights(lv) if len(lv) else np.zeros(0)
        )  # None: lv empty
        if model is not None:
            models[key] |= {"pairs": len(lv), "prior": model.prior, "own_model": own}
            if key in labelled:
                models[key]["labelled_pairs"] = len(labelled[key][1])
            fitted[key] = model
    return weights, fitted


def _fit(
    levels: np.ndarray,
    u_random: np.ndarray,
    labelled: list[tuple[np.ndarray, np.ndarray]],
    known: np.ndarray | None = None,
) -> FSModel:
    """EM on candidate ``levels``, with ``labelled`` pairs beside them when there are any
    (they shape ``m`` and ``u``, never the share of matches), and the ``known`` non-matches
    (:func:`known_non_matches`)."""
    if not labelled:
        return fit_fellegi_sunter(levels, u_random=u_random, non_matches=known)
    rows = np.concatenate([levels, *(lv for lv, _ in labelled)])
    labels = np.concatenate([np.full(len(levels), -1, np.int64), *(lb for _, lb in labelled)])
    return fit_with_labels(
        rows, labels, u_random=u_random, labels_in_shares=False, non_matches=known
    )


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
    learn_from_constraints: bool = True,
) -> LinkReport:
    """Link encoded batches (and the registry's records, if given) into cases.

    Returns a row per input record: ``agency, record_ref, case_id, confidence``. With a
    registry, existing case ids are kept, new records join or form cases, and the changes are
    stored in one transaction. ``find`` replaces the candidate search (exhaustive for small
    inputs, LSH blocking for large ones); ``executor`` keeps that search and runs it elsewhere
    (:class:`linkage.RaySearch`: as Ray tasks, with the same result). ``keep_pairs`` returns
    every scored candidate pair (weights and probabilities) for evaluation.
    ``constraints``: must-link and cannot-link pairs of registry records, and
    ``learn_from_constraints`` whether EM learns from them (:func:`plan_link`).
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
        learn_from_constraints=learn_from_constraints,
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
    learn_from_constraints: bool = True,
) -> LinkReport:
    """What :func:`link` computes, on a registry's ``state``, storing nothing.

    With a ``state`` (an empty registry has one too), ``report.update`` holds the changes
    :meth:`Registry.apply` stores; it must be applied to the registry the state was read
    from, unchanged since. A pure function of its arguments: it may run in another process.

    ``constraints`` (registry ids, as :func:`linkage.read_constraints` reads them): a
    cannot-link pair never ends in one case, a must-link pair does unless that would put two
    records of one agency in one case; ``report.constraints`` says what was done
    (:mod:`linkage._constrained`). They are clerical review's agreed decisions, so they are
    labels too: with ``learn_from_constraints`` EM fits each agency pair's reviewed pairs
    beside its candidates (must-link a match, cannot-link a non-match), which shapes the
    weights of every candidate and is never a link itself; ``report.labelled_pairs`` says
    how many were fitted (:mod:`linkage._review_labels`).
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
    labelled = review_labels(pool, constraints, keys, several) if learn_from_constraints else {}
    within = {} if several else known_non_matches(pool, floors, top_k, find)
    weights, fitted = fit_weights(levels, anchors, models, labelled, within)
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
    report.labelled_pairs = sum(int(v.get("labelled_pairs", 0)) for v in models.values())
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
