"""Fellegi–Sunter EM with labelled pairs: :func:`fit_with_labels`.

Clerical review gives labels: pairs people found to be one person (1) or two (0). EM can use
them without leaving the model: the posterior of a labelled pair is fixed at its label
instead of being estimated, in every iteration — the E-step computes posteriors for the
unlabelled pairs only, the M-step counts every pair, labelled ones with their fixed weight.
With several non-match classes (:data:`linkage._fellegi.NON_MATCH_CLASSES`) a pair labelled
1 belongs to the match class alone, and a pair labelled 0 shares itself among the non-match
classes only, in proportion to their likelihoods. Without labels the fit is exactly
:func:`linkage._fellegi.fit_fellegi_sunter`'s.

What it is for, and why :func:`linkage.plan_link` does not call it: a run fits EM on its
candidate pairs, and every candidate pair holds a record the run adds; reviewed pairs are
pairs of records already in the registry, so no run's candidates ever hold one. Labels
reach a run's clustering as constraints (``constraints=``) instead. This fit serves a model
fitted again over pairs that include reviewed ones — an evaluation that links a register
whole, with the labels of an earlier review (``tests/linkage/test_em_labels.py`` measures
what they are worth).
"""

from __future__ import annotations

import numpy as np

from linkage._fellegi import (
    LEVEL_EDGES,
    MAX_MATCH_GROWTH,
    MIN_PAIRS_FOR_CLASSES,
    NON_MATCH_CLASSES,
    FSModel,
    _distinct,
    _e_step,
    _log_likelihood,
    _m_step,
    _monotone,
    fit_fellegi_sunter,
)
from linkage._types import LinkageError

__all__ = ["fit_with_labels"]

_EPS = 1e-6


def _parts(
    levels: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Distinct patterns and counts, unlabelled first; how many unlabelled patterns; the
    fixed posterior of the labelled ones."""
    found = []
    for value in (-1, 1, 0):
        rows = levels[labels == value]
        found.append(_distinct(rows) if len(rows) else (levels[:0], np.zeros(0, np.int64)))
    patterns = np.concatenate([p for p, _ in found])
    counts = np.concatenate([c for _, c in found]).astype(np.float64)
    fixed = np.r_[np.ones(len(found[1][0])), np.zeros(len(found[2][0]))]
    return patterns, counts, len(found[0][0]), fixed


def fit_with_labels(
    levels: np.ndarray,
    labels: np.ndarray,
    *,
    u_random: np.ndarray | None = None,
    prior_pairs: float = 200.0,
    max_iter: int = 500,
    tol: float = 1e-7,
    non_match_classes: int = NON_MATCH_CLASSES,
) -> FSModel:
    """:func:`linkage._fellegi.fit_fellegi_sunter` with ``labels`` (one per row of
    ``levels``: 1 a match, 0 a non-match, -1 unlabelled) fixing the posterior of the
    labelled pairs (module docstring). The other parameters are that function's."""
    labels = np.asarray(labels)
    if labels.shape != (len(levels),) or not np.isin(labels, (-1, 0, 1)).all():
        raise LinkageError("labels: one of -1, 0, 1 per pair (row of levels)")
    if non_match_classes < 1:
        raise LinkageError("non_match_classes must be 1 or more")
    if not (labels >= 0).any():  # nothing fixed: the unlabelled fit itself
        return fit_fellegi_sunter(
            levels,
            u_random=u_random,
            prior_pairs=prior_pairs,
            max_iter=max_iter,
            tol=tol,
            non_match_classes=non_match_classes,
        )
    n_levels = len(LEVEL_EDGES) + 1
    segs = levels.shape[1]
    patterns, counts, free, fixed = _parts(levels, labels)
    ramp = np.linspace(0.0, 1.0, n_levels)
    m0 = np.tile(np.exp(4 * ramp) / np.exp(4 * ramp).sum(), (segs, 1))
    u0 = u_random if u_random is not None else np.tile(m0[0][::-1], (segs, 1))
    m, u = m0.copy(), u0.copy()
    m_prior, u_prior = m0 * 2.0, u0 * prior_pairs
    prior, it = 0.1, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        post = np.r_[_e_step(patterns[:free], prior, m, u), fixed]
        new_prior, m, u = _m_step(patterns, counts, post, m_prior, u_prior)
        m, u = _monotone(m, u)
        if abs(new_prior - prior) < tol:
            prior = new_prior
            break
        prior = new_prior
    two = FSModel(prior=prior, m=m, u=u, iterations=it)
    if non_match_classes == 1 or counts.sum() < MIN_PAIRS_FOR_CLASSES:
        return two
    mixed = _classes(
        patterns, counts, free, fixed, two, (m_prior, u_prior), non_match_classes, (max_iter, tol)
    )
    return mixed if mixed.prior <= MAX_MATCH_GROWTH * two.prior else two


def _classes(
    patterns: np.ndarray,
    counts: np.ndarray,
    free: int,
    fixed: np.ndarray,
    two: FSModel,
    priors: tuple[np.ndarray, np.ndarray],
    classes: int,
    limits: tuple[int, float],
) -> FSModel:
    """The mixture of :func:`linkage._fellegi._fit_classes`, started the same way, with the
    labelled rows' responsibilities held to their label: class 0 is the match class."""
    (m_prior, u_prior), (max_iter, tol) = priors, limits
    ramp = np.linspace(0.0, 1.0, two.m.shape[1])
    tables = [two.m.copy()]
    for k in range(classes):
        tilted = two.u * np.exp(3.0 * k / max(classes - 1, 1) * ramp)
        tables.append(tilted / tilted.sum(axis=1, keepdims=True))
    shares = np.array([two.prior] + [(1 - two.prior) / classes] * classes)
    pseudo = [m_prior] + [u_prior / classes] * classes
    segs, ok = np.arange(patterns.shape[1]), patterns >= 0
    is_match, is_non = fixed == 1, fixed == 0
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        ll = np.stack(
            [np.log(c) + _log_likelihood(patterns, t) for c, t in zip(shares, tables, strict=True)],
            axis=1,
        )
        resp = np.exp(ll - ll.max(axis=1, keepdims=True))
        labelled = resp[free:]
        labelled[is_match] = np.eye(1, len(tables))[0]  # the match class alone
        labelled[is_non, 0] = 0.0  # the non-match classes only
        weight = resp / resp.sum(axis=1, keepdims=True) * counts[:, None]
        new_shares = np.clip(weight.sum(axis=0) / counts.sum(), _EPS, None)
        for k, table in enumerate(tables):
            fresh = pseudo[k] + _EPS
            for s in segs:
                np.add.at(fresh[s], patterns[ok[:, s], s], weight[ok[:, s], k])
            table[:] = fresh / fresh.sum(axis=1, keepdims=True)
        done = np.abs(new_shares - shares).max() < tol
        shares = new_shares / new_shares.sum()
        if done:
            break
    rest = np.arange(1, len(tables))
    u_classes = np.stack([tables[k] for k in rest])
    class_shares = shares[rest] / shares[rest].sum()
    return FSModel(
        prior=float(shares[0]),
        m=tables[0],
        u=np.tensordot(class_shares, u_classes, axes=1),
        iterations=two.iterations + it,
        u_classes=u_classes,
        class_shares=class_shares,
    )
