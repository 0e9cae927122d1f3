"""Fellegi–Sunter scoring with weights learned by EM, without labels.

Each candidate pair is described by its per-segment Dice, cut into levels; a segment missing on
either side is simply left out of the pair's evidence. EM fits the share of matches among the
candidates (``lambda``) and, per segment and level, the probability of that level among matches
(``m``) and among non-matches (``u``), on the distinct comparison patterns weighted by their
counts. The match weight of a pair is ``log2(lambda m / ((1 - lambda) u))`` summed over its
segments; its posterior probability follows.

Non-matches come in kinds: strangers who share nothing, and namesakes who share the names
(and, through segments salted by the year, the year) but not the rest. Within the
non-matches the segments are then far from independent, and a two-class model takes the
namesakes for matches -- more of them the larger the register (at 60,000 records per agency
drawn from a few hundred names, a quarter of what it called matches disagreed on day and
month of birth). So, as in latent-class linkage with several non-match classes (Larsen and
Rubin, 2001), the non-matches are a mixture of ``non_match_classes`` classes, each with
independent segments; the match weight is ``log2 m(x) / u(x)`` with ``u(x)`` the mixture.

**Known non-matches** (``non_matches``). Where the namesakes outnumber the matches the
mixture can still settle on the wrong split: on a register drawn from ten names per list
(20,000 people, three agencies, ``evaluation.family_set('hard')``) the match class was "same
names and year", 26% of its "matches" disagreeing on the day of birth (0.7% of the true ones
do), the father's name weighed nothing, and ECE was 0.081. The same levels with ``m`` and
``u`` counted from the truth gave ECE 0.018: the model's form was right, its fit was not. A
run has non-matches of the very kind it must tell apart, labelled by the linkage's own
assumption (one record per person per agency): the candidate pairs within an agency --
namesakes, siblings, twins -- found by the same search at the agency pair's floor, each hit
kept with the crowd of its search as a hit across agencies is
(:func:`linkage._link.known_non_matches`). The mixture counts them in its non-match tables
and not in the classes' shares, which stay the candidates'. The two-class fit it starts from
is made without them, and a mixture they made larger than that fit (by more than
:data:`MAX_MATCH_GROWTH`) is refitted without them -- they are to take namesakes out of the
matches, and a larger match class is what sets them apart from the candidates' non-matches
taken for matches: on two halves of one FEBRL register with nobody in common, within-agency
pairs counted once (mutual hits, the closest, were half as many) made 8.9% of the candidates
a match class, counted per hit still 0.6%, where the fit without them has 0.02%. Held out of
the match class but not held to the matches, that class can drift off them while a
non-match class takes them; EM then goes on with the class that agrees most as the match
class (:func:`_fit_classes`): on a 1,000,000-people common-name register (6.0 million
candidate pairs) F1 0.813 -> 0.850 and ECE 0.080 -> 0.057 against the fit without them,
where the match class as first fitted gave F1 0.06. EM settles in a local optimum, and which
one depends on where it starts: the mixture is fitted from the two-class fit and from the
mixture without them, and the one under which the candidates and the known non-matches are
likelier (:func:`_objective`) is kept. On the 1,000,000-people pairs with each known
non-match counted twice, the first start settled with 9.2% of the candidates as matches (F1
0.61), the second explains them better (F1 0.82). Against the first start alone
(``python -m evaluation._calibration_check``, F1 and ECE from 0.1): hard moderate 0.9220 ->
0.9227 (0.035 -> 0.033), hard heavy 0.802 -> 0.800 (0.044 -> 0.048), synthetic 10,000 0.9902
-> 0.9904, FEBRL3 0.9996 (ECE 0.0017 -> 0.0022), the rest unchanged; 100,000 common-name
people 0.9215 -> 0.9191, 1,000,000 0.850 either way. Measured
(``caselink bench --only families``, 2026-12-05): on the hard set F1 0.727 -> 0.793 and ECE
0.081 -> 0.012 record by record, 0.840 -> 0.901 and 0.086 -> 0.009 with households; on the
default set F1 0.982 -> 0.982 and 0.993 -> 0.993, ECE 0.011 -> 0.012 and 0.005 -> 0.006;
FEBRL4 F1 0.9997 either way. ``python -m evaluation._calibration_check`` (F1; ECE from
0.1): hard moderate 0.912 -> 0.922 (0.041 -> 0.035), hard heavy 0.765 -> 0.802 (0.066 ->
0.044), namesakes 0.918 -> 0.923 (0.025 -> 0.020), FEBRL3 0.9996 (0.0028 -> 0.0017),
synthetic 5,000 0.9940 -> 0.9938 (0.0020 -> 0.0021), FEBRL4 and FEBRL3 with duplicates
(none known) unchanged. The two-class model (``non_match_classes=1``) never uses them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from linkage._em_kernel import add_weights, class_log_likelihoods

__all__ = ["LEVEL_EDGES", "FSModel", "comparison_levels", "fit_fellegi_sunter", "level_shares"]

# Dice cut points shared by every segment; EM decides what each level is worth, so the same
# cut points serve denser and sparser segments alike.
LEVEL_EDGES = np.array([0.4, 0.55, 0.65, 0.75, 0.85, 0.92, 0.97])
_EPS = 1e-6
NON_MATCH_CLASSES = 4  # kinds of non-match told apart (module docstring)
MIN_PAIRS_FOR_CLASSES = 1000  # fewer candidate pairs: the two-class model
MAX_MATCH_GROWTH = 1.5  # a mixture may not make the share of matches larger than this


def comparison_levels(dice: np.ndarray) -> np.ndarray:
    """Level per (pair, segment): 0 (lowest) .. len(LEVEL_EDGES); -1 where Dice is NaN."""
    levels = np.searchsorted(LEVEL_EDGES, np.nan_to_num(dice, nan=0.0), side="right")
    return np.where(np.isnan(dice), -1, levels).astype(np.int8)


@dataclass(frozen=True)
class FSModel:
    """A fitted Fellegi–Sunter model: prior share of matches, m and u per segment level."""

    prior: float
    m: np.ndarray  # (segments, levels)
    u: np.ndarray  # (segments, levels): per segment, all non-match classes together
    iterations: int
    u_classes: np.ndarray | None = None  # (classes, segments, levels), when more than one
    class_shares: np.ndarray | None = None  # (classes,): each one's share of the non-matches

    @property
    def level_weights(self) -> np.ndarray:
        """Per segment and level, ``log2(m / u)`` with the non-match classes taken together."""
        return cast(np.ndarray, np.log2(self.m / self.u))

    def weights(self, levels: np.ndarray) -> np.ndarray:
        """Match weight (log2 Bayes factor, prior excluded) of each pair."""
        if len(levels) == 0:
            return np.zeros(0)
        patterns, inverse, _ = _distinct(levels, inverse=True)  # a few thousand at most
        non = self.log_non_match(patterns)
        return cast(
            np.ndarray, ((_log_likelihood(patterns, self.m) - non) / np.log(2.0))[inverse.ravel()]
        )

    def log_non_match(self, patterns: np.ndarray) -> np.ndarray:
        """Natural log of each pattern's likelihood among non-matches (the mixture of the
        non-match classes, when there are several)."""
        if self.u_classes is None:
            return _log_likelihood(patterns, self.u)
        log_u = np.stack([_log_likelihood(patterns, u) for u in self.u_classes], axis=1)
        return cast(
            np.ndarray,
            np.logaddexp.reduce(log_u + np.log(cast(np.ndarray, self.class_shares)), axis=1),
        )

    def probability(self, levels: np.ndarray) -> np.ndarray:
        logit2 = self.weights(levels) + np.log2(self.prior / (1 - self.prior))
        return cast(np.ndarray, 1.0 / (1.0 + np.exp2(-np.clip(logit2, -60, 60))))


def _distinct(levels: np.ndarray, *, inverse: bool = False) -> tuple[np.ndarray, ...]:
    """``np.unique(levels, axis=0, return_counts=True)`` (and the inverse), in the same order.

    Each row is read as one number in base ``levels + 1`` (missing = digit 0, first segment
    most significant), so sorting numbers sorts rows as ``axis=0`` does: a one-dimensional
    unique over integers, about 20 times faster on millions of pairs than the row-wise one.
    """
    base, segs = len(LEVEL_EDGES) + 2, levels.shape[1]
    if segs > 18:  # the number would not fit in 63 bits
        # numpy's stub has overloads for literal flags only, none for a bool
        return cast(
            tuple[np.ndarray, ...],
            np.unique(levels, axis=0, return_counts=True, return_inverse=inverse),  # type: ignore[call-overload]
        )
    place = base ** np.arange(segs - 1, -1, -1, dtype=np.int64)
    code = (levels.astype(np.int64) + 1) @ place
    found = np.unique(code, return_counts=True, return_inverse=inverse)  # type: ignore[call-overload]
    patterns = (found[0][:, None] // place % base - 1).astype(levels.dtype)
    return (patterns, *found[1:])


def _patterns(
    levels: np.ndarray, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Distinct patterns and their counts (float), the unlabelled ones first; how many those
    are; the fixed posterior (1 or 0) of the labelled ones after them."""
    if labels is None or not (labels >= 0).any():
        patterns, counts = _distinct(levels)
        return patterns, counts.astype(np.float64), len(patterns), np.zeros(0)
    found = []
    for value in (-1, 1, 0):
        rows = levels[labels == value]
        found.append(_distinct(rows) if len(rows) else (levels[:0], np.zeros(0, np.int64)))
    patterns = np.concatenate([p for p, _ in found])
    counts = np.concatenate([c for _, c in found]).astype(np.float64)
    fixed = np.r_[np.ones(len(found[1][0])), np.zeros(len(found[2][0]))]
    return patterns, counts, len(found[0][0]), fixed


def _log_likelihood(levels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Natural log of ``prod_s table[s, level_s]`` per row, missing segments left out."""
    segs = np.arange(levels.shape[1])
    ok = levels >= 0
    return cast(
        np.ndarray, np.where(ok, np.log(table[segs, np.maximum(levels, 0)]), 0.0).sum(axis=1)
    )


def _e_step(patterns: np.ndarray, prior: float, m: np.ndarray, u: np.ndarray) -> np.ndarray:
    lm = _log_likelihood(patterns, m) + np.log(prior)
    lu = _log_likelihood(patterns, u) + np.log(1 - prior)
    return cast(np.ndarray, 1.0 / (1.0 + np.exp(np.clip(lu - lm, -700, 700))))


def _m_step(
    patterns: np.ndarray,
    counts: np.ndarray,
    post: np.ndarray,
    m0: np.ndarray,
    u0: np.ndarray,
    shared: int,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Maximum a posteriori update: the pseudo-counts ``m0`` and ``u0`` act as Dirichlet priors.
    The share of matches is counted over the first ``shared`` patterns, ``m`` and ``u`` over
    all of them."""
    wm, wu = counts * post, counts * (1 - post)
    prior = float(np.clip(wm[:shared].sum() / counts[:shared].sum(), _EPS, 1 - _EPS))
    segs = patterns.shape[1]
    m = m0 + _EPS
    u = u0 + _EPS
    for s in range(segs):
        ok = patterns[:, s] >= 0
        np.add.at(m[s], patterns[ok, s], wm[ok])
        np.add.at(u[s], patterns[ok, s], wu[ok])
    return prior, m / m.sum(axis=1, keepdims=True), u / u.sum(axis=1, keepdims=True)


def _monotone(m: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool adjacent levels until log(m/u) never falls as Dice rises (per segment).

    Higher similarity must never count as weaker evidence of a match; levels with few pairs
    otherwise get erratic weights. Pooling keeps each block's m and u mass and splits it over
    the block's levels in proportion to its u, so the block shares one weight.
    """
    m, u = m.copy(), u.copy()
    for s in range(m.shape[0]):
        blocks: list[list[int]] = []
        for lvl in range(m.shape[1]):
            blocks.append([lvl])
            while len(blocks) > 1:
                prev, last = blocks[-2], blocks[-1]
                if m[s, prev].sum() / u[s, prev].sum() <= m[s, last].sum() / u[s, last].sum():
                    break
                blocks[-2:] = [prev + last]
        for block in blocks:
            mass_m, mass_u = m[s, block].sum(), u[s, block].sum()
            m[s, block] = mass_m * u[s, block] / mass_u
    return m, u


def level_shares(levels: np.ndarray) -> np.ndarray:
    """Per segment, the share of each level among non-missing values (smoothed)."""
    n_levels = len(LEVEL_EDGES) + 1
    out = np.ones((levels.shape[1], n_levels))
    for s in range(levels.shape[1]):
        ok = levels[:, s] >= 0
        out[s] += np.bincount(levels[ok, s], minlength=n_levels)
    return cast(np.ndarray, out / out.sum(axis=1, keepdims=True))


def m_start(columns: int, n_levels: int) -> np.ndarray:
    """Where EM starts ``m`` (and how its prior leans): per column, shares rising steeply with
    the level, so that the match class begins as the agreeing pairs."""
    ramp = np.exp(4 * np.linspace(0.0, 1.0, n_levels))
    return np.tile(ramp / ramp.sum(), (columns, 1))


def fit_fellegi_sunter(
    levels: np.ndarray,
    *,
    u_random: np.ndarray | None = None,
    prior_pairs: float = 200.0,
    max_iter: int = 500,
    tol: float = 1e-7,
    non_match_classes: int = NON_MATCH_CLASSES,
    labels: np.ndarray | None = None,
    labels_in_shares: bool = True,
    non_matches: np.ndarray | None = None,
) -> FSModel:
    """EM over the distinct rows of ``levels`` (pairs × segments); deterministic.

    ``u_random`` (segments × levels), the level shares among random pairs — almost all
    non-matches — anchors ``u`` with the weight of ``prior_pairs`` pairs, so a candidate set
    made (almost) only of matches, or only of non-matches, cannot swap the two classes.
    ``non_match_classes``: how many kinds of non-match the model tells apart (module
    docstring); it starts from the two-class fit, and keeps that fit below
    :data:`MIN_PAIRS_FOR_CLASSES` pairs, where a mixture would be fitted on too little.
    ``labels`` (one per row: 1 a match, 0 a non-match, -1 unlabelled; checked by
    :func:`linkage._em_labels.fit_with_labels`) fix the posterior of the labelled pairs in
    every iteration: a match belongs to the match class alone, a non-match shares itself among
    the non-match classes only. Without a labelled pair the fit is the unlabelled one.
    ``labels_in_shares``: whether the labelled pairs count in the share of matches (and of
    each non-match class) — yes when they are a sample of the pairs fitted; no when they come
    from elsewhere (a run's candidates with reviewed pairs of older records beside them:
    :mod:`linkage._review_labels`), so that they shape ``m`` and ``u`` only and the shares
    stay those of the unlabelled pairs.
    ``non_matches`` (pairs × the same segments): pairs known to be non-matches, which the
    mixture of non-match classes counts in its non-match tables and not in the classes'
    shares; the two-class fit it starts from, and must not outgrow, is made without them
    (module docstring).
    """
    if non_match_classes < 1:
        raise ValueError("non_match_classes must be 1 or more")
    n_levels = len(LEVEL_EDGES) + 1
    segs = levels.shape[1]
    patterns, counts, free, fixed = _patterns(levels, labels)
    shared = len(patterns) if labels_in_shares else free
    if not shared and not labels_in_shares:
        raise ValueError("labelled pairs kept out of the shares need unlabelled pairs beside them")
    m0 = m_start(segs, n_levels)
    u0 = u_random if u_random is not None else np.tile(m0[0][::-1], (segs, 1))
    m, u = m0.copy(), u0.copy()
    m_prior, u_prior = m0 * 2.0, u0 * prior_pairs
    prior, it = 0.1, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        post = _e_step(patterns[:free], prior, m, u)
        if fixed.size:
            post = np.r_[post, fixed]
        new_prior, m, u = _m_step(patterns, counts, post, m_prior, u_prior, shared)
        m, u = _monotone(m, u)
        if abs(new_prior - prior) < tol:
            prior = new_prior
            break
        prior = new_prior
    two = FSModel(prior=prior, m=m, u=u, iterations=it)
    if non_match_classes == 1 or counts[:shared].sum() < MIN_PAIRS_FOR_CLASSES:
        return two
    mixture = functools.partial(
        _fit_classes,
        two=two,
        priors=(m_prior, u_prior),
        classes=non_match_classes,
        limits=(max_iter, tol),
    )
    plain = cast(FSModel, mixture(patterns, counts, labelled=(fixed, shared)))  # without them
    mixed = plain
    if non_matches is not None and len(non_matches):
        known, known_counts = _distinct(np.asarray(non_matches, dtype=levels.dtype))
        rows = np.concatenate([patterns, known])
        weights = np.r_[counts, known_counts.astype(np.float64)]
        held = np.r_[fixed, np.zeros(len(known))]
        # EM finds a local optimum, and which one depends on where it starts: from the
        # two-class fit and from the mixture without them, the fit that explains the pairs
        # and the known non-matches best is kept (module docstring)
        fits = [
            mixture(rows, weights, labelled=(held, shared), agrees_most=True, start=begin)
            for begin in (None, plain)
        ]
        # they are there to take namesakes out of the matches: a mixture whose match class
        # they made larger than the two-class fit's took what sets them apart from the
        # candidates' non-matches for a match (module docstring), and one whose match class
        # did not end as the class that agrees most, even chosen again (_fit_classes), lost
        # the matches; neither is kept
        kept = [f for f in fits if f is not None and f.prior <= MAX_MATCH_GROWTH * two.prior]
        if kept:
            mixed = max(kept, key=lambda f: _objective(f, rows, weights, held))
    # the classes exist to take namesakes out of the matches; a mixture whose match class is
    # larger has made close strangers a class of "matches" (two registers with no person in
    # common do this: 0.02% matches became 7%), so the two-class fit stands
    return mixed if mixed.prior <= MAX_MATCH_GROWTH * two.prior else two


def most_agreeing(tables: Sequence[np.ndarray] | np.ndarray) -> int:
    """The class whose level shares lean most to agreement (the mean level, per segment,
    summed): the match class, whatever order EM left the classes in. ``tables``: one
    segments x levels table per class (a list, or stacked classes x segments x levels)."""
    ramp = np.linspace(0.0, 1.0, tables[0].shape[1])
    return int(np.argmax([float((t * ramp).sum()) for t in tables]))


def _fit_classes(
    patterns: np.ndarray,
    counts: np.ndarray,
    two: FSModel,
    priors: tuple[np.ndarray, np.ndarray],
    classes: int,
    limits: tuple[int, float],
    labelled: tuple[np.ndarray, int],
    agrees_most: bool = False,
    start: FSModel | None = None,
) -> FSModel | None:
    """EM of one match class and ``classes`` non-match classes, from the two-class fit (or
    from the classes of the mixture ``start``, its match class first).

    Class 0 starts as the two-class ``m``; the non-match classes start as its ``u`` tilted
    towards higher levels by steps, so that they can part into strangers and namesakes. Each
    non-match class carries an equal part of the random-pair anchor. The last ``len(fixed)``
    patterns are labelled: their responsibilities are held to their label, and class 0 stays
    the match class. The classes' shares are counted over the first ``shared`` patterns.
    ``agrees_most``: class 0, held as the match class by labels that are all non-matches,
    is held out of their pairs but not to the matches, and can drift away from them while a
    non-match class takes the matches (a 1,000,000-people common-name register: class 0
    ended agreeing less than the non-matches, F1 0.06, while the last class held 3% of the
    candidates, as many as the matches among them). Then the class that agrees most
    (:func:`most_agreeing`) becomes class 0, the labels are held out of it, and EM goes on
    from there; None if class 0 is still not the one that agrees most.
    """
    (m_prior, u_prior), fixed = priors, labelled[0]
    if start is not None and start.u_classes is not None and start.class_shares is not None:
        tables = np.concatenate([start.m[None], start.u_classes])
        shares = np.r_[start.prior, (1 - start.prior) * start.class_shares]
    else:
        ramp = np.linspace(0.0, 1.0, two.m.shape[1])
        tilted = [two.u * np.exp(3.0 * k / max(classes - 1, 1) * ramp) for k in range(classes)]
        tables = np.stack([two.m, *(t / t.sum(axis=1, keepdims=True) for t in tilted)])
        shares = np.array([two.prior] + [(1 - two.prior) / classes] * classes)
    em = functools.partial(
        _em_classes,
        patterns,
        counts,
        pseudo=[m_prior] + [u_prior / classes] * classes,
        labelled=labelled,
        limits=limits,
    )
    tables, shares, it = em(tables, shares)
    # the match class is the one whose pairs agree most, whatever EM did to the order
    most = most_agreeing(tables)
    if fixed.size and agrees_most and most != 0:
        order = [most, *(k for k in range(len(tables)) if k != most)]
        tables, shares, more = em(tables[order], shares[order])
        it, most = it + more, most_agreeing(tables)
        if most != 0:
            return None
    match = 0 if fixed.size else most
    rest = [k for k in range(len(tables)) if k != match]
    u_classes = tables[rest]
    class_shares = shares[rest] / shares[rest].sum()
    u = np.tensordot(class_shares, u_classes, axes=1)
    return FSModel(
        prior=float(shares[match]),
        m=tables[match],
        u=u,
        iterations=two.iterations + it,
        u_classes=u_classes,
        class_shares=class_shares,
    )


def _objective(
    model: FSModel, patterns: np.ndarray, counts: np.ndarray, fixed: np.ndarray
) -> float:
    """Log-likelihood of the patterns (``counts`` each) under a mixture: the unlabelled ones
    (all but the last ``len(fixed)``) under the whole mixture, a labelled match under the
    match class, a labelled non-match under the non-match classes."""
    match, non = _log_likelihood(patterns, model.m), model.log_non_match(patterns)
    free = len(patterns) - len(fixed)
    either = np.logaddexp(np.log(model.prior) + match[:free], np.log1p(-model.prior) + non[:free])
    held = np.where(fixed == 1, match[free:], non[free:])
    return float(counts @ np.r_[either, held])


def _em_classes(
    patterns: np.ndarray,
    counts: np.ndarray,
    tables: np.ndarray,
    shares: np.ndarray,
    *,
    pseudo: list[np.ndarray],
    labelled: tuple[np.ndarray, int],
    limits: tuple[int, float],
) -> tuple[np.ndarray, np.ndarray, int]:
    """EM of the classes' ``tables`` (classes x segments x levels) from their ``shares``;
    returns the fitted tables, their shares and the iterations made (:func:`_fit_classes`)."""
    (fixed, shared), (max_iter, tol) = labelled, limits
    free = len(patterns) - len(fixed)
    levels = np.ascontiguousarray(patterns, dtype=np.int64)
    held = np.r_[np.full(free, -1), fixed].astype(np.int64)  # -1 free, else its label
    start = np.stack(pseudo) + _EPS  # each class's pseudo-counts, where its counts begin
    resp = np.empty((len(levels), len(tables)))
    total = counts[:shared].sum()
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        class_log_likelihoods(levels, np.log(tables), np.log(shares), resp)
        np.exp(resp, out=resp)
        fresh, summed = start.copy(), np.zeros(len(tables))
        add_weights(levels, resp, counts, held, fresh, summed, shared)
        new_shares = np.clip(summed / total, _EPS, None)
        tables = fresh / fresh.sum(axis=2, keepdims=True)
        done = np.abs(new_shares - shares).max() < tol
        shares = new_shares / new_shares.sum()
        if done:
            break
    return tables, shares, it
