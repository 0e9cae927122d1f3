"""Fellegi–Sunter EM with labelled pairs: :func:`fit_with_labels`.

Clerical review gives labels: pairs people found to be one person (1) or two (0). EM can use
them without leaving the model: the posterior of a labelled pair is fixed at its label
instead of being estimated, in every iteration — the E-step computes posteriors for the
unlabelled pairs only, the M-step counts every pair, labelled ones with their fixed weight.
With several non-match classes (:data:`linkage._fellegi.NON_MATCH_CLASSES`) a pair labelled
1 belongs to the match class alone, and a pair labelled 0 shares itself among the non-match
classes only, in proportion to their likelihoods. The labels are held inside
:func:`linkage._fellegi.fit_fellegi_sunter` (its ``labels``), so without labels the fit is
exactly the unlabelled one.

Two uses. A run's EM (:func:`linkage.plan_link` with ``constraints``) fits its candidate
pairs, each holding a record the run adds, and beside them the reviewed pairs — pairs of
records already in the registry, their comparison levels computed from the registry's
filters by the same code as the candidates' (:mod:`linkage._review_labels`). Those are not
a sample of the candidates, so they count in ``m`` and ``u`` only, never in the share of
matches (``labels_in_shares=False``), and never become links: the constraints they also are
hold them in clustering. And a model fitted again over pairs that include reviewed ones,
as an evaluation that links a register whole with the labels of an earlier review
(``tests/linkage/test_em_labels.py`` measures what they are worth).
"""

from __future__ import annotations

import numpy as np

from linkage._fellegi import NON_MATCH_CLASSES, FSModel, fit_fellegi_sunter
from linkage._types import LinkageError

__all__ = ["fit_with_labels"]


def fit_with_labels(
    levels: np.ndarray,
    labels: np.ndarray,
    *,
    u_random: np.ndarray | None = None,
    prior_pairs: float = 200.0,
    max_iter: int = 500,
    tol: float = 1e-7,
    non_match_classes: int = NON_MATCH_CLASSES,
    labels_in_shares: bool = True,
    non_matches: np.ndarray | None = None,
) -> FSModel:
    """:func:`linkage._fellegi.fit_fellegi_sunter` with ``labels`` (one per row of
    ``levels``: 1 a match, 0 a non-match, -1 unlabelled) fixing the posterior of the
    labelled pairs (module docstring), after checking them. The other parameters are that
    function's."""
    labels = np.asarray(labels)
    if labels.shape != (len(levels),) or not np.isin(labels, (-1, 0, 1)).all():
        raise LinkageError("labels: one of -1, 0, 1 per pair (row of levels)")
    if non_match_classes < 1:
        raise LinkageError("non_match_classes must be 1 or more")
    return fit_fellegi_sunter(
        levels,
        u_random=u_random,
        prior_pairs=prior_pairs,
        max_iter=max_iter,
        tol=tol,
        non_match_classes=non_match_classes,
        labels=labels,
        labels_in_shares=labels_in_shares,
        non_matches=non_matches,
    )
