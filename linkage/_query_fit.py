"""How sure a tracing query may be: the engine's calibration, fitted once per index build.

A linking run turns the candidates of one record into probabilities (``linkage._link``):
per-segment Dice cut into levels, Fellegi–Sunter ``m``/``u`` fitted by EM with ``u`` anchored
by the level shares of random pairs, and the model of :mod:`linkage._calibration` — with
probability ``lam`` the record's match is among its candidates, equally likely any of them a
priori, and each candidate's likelihood ratio ``2 ** w`` weighs the evidence. A query gets the
same treatment, with two differences:

* the candidates of a query are **cases**, not records: a case's evidence is its best
  record's weight (its other records are registrations of the same person, not independent
  witnesses, so they are not multiplied in);
* ``lam`` cannot be fitted from one query. It is fitted at build time on *pseudo-queries* —
  a sample of the registry's own records, each searched like a query with itself left out —
  which is the share of registered people that another registration of theirs would find.
  But a sought person may not be registered at all, and a tracing team asks precisely when
  it does not know. So a query uses ``min(lam, QUERY_PRIOR)``: at most even odds that the
  sought person is among the candidates. Measured on synthetic registers where every person
  is held twice (``lam`` 0.94) and half the queries are of absent people, the registry's
  ``lam`` put 156 candidates between 0.1 and 0.9 at a mean 0.39 of which 10% were right;
  capped at one half, 95 candidates at a mean 0.47, 57% right (and 98.9% right at >= 0.5).

The candidate floor and the ``u`` anchor are a linking run's own
(:func:`linkage._link.pair_baseline` on random pairs of two people), so they follow the
density of the agreement's filters; the probabilities are :mod:`linkage._calibration`'s at a
fixed ``lam`` (:func:`~linkage._calibration.probabilities_at`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from linkage._calibration import probabilities_at, side_probabilities
from linkage._features import segment_dice
from linkage._fellegi import FSModel, comparison_levels, fit_fellegi_sunter
from linkage._link import pair_baseline
from linkage._query_kernel import SortedFilters

__all__ = ["QueryModel", "case_probabilities", "fit_query_model"]

RANDOM_PAIRS = 20_000
PSEUDO_QUERIES = 2000  # at most; fewer on large registries (PSEUDO_COMPARISONS / n)
PSEUDO_COMPARISONS = 400_000_000
QUERY_PRIOR = 0.5  # at most even odds that a sought person is among the candidates

Search = Callable[[np.ndarray, float, int], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True, eq=False)
class QueryModel:
    """What turns a query's candidates into calibrated probabilities."""

    floor: float  # least Dice of a candidate record
    fs: FSModel
    matched_share: float  # lam of queries: min(share fitted on pseudo-queries, QUERY_PRIOR)
    registry_share: float  # the share fitted on pseudo-queries
    per_query: int  # candidate records kept per query row
    pseudo_queries: int


def _floor_and_u(
    index: SortedFilters, case_code: np.ndarray, bounds: np.ndarray, rng: np.random.Generator
) -> tuple[float, np.ndarray]:
    n = index.rows
    a, b = rng.integers(0, n, RANDOM_PAIRS), rng.integers(0, n, RANDOM_PAIRS)
    keep = case_code[a] != case_code[b]  # pairs of two people: non-matches
    return pair_baseline(index.filters, index.popcounts, a[keep], b[keep], bounds)


def best_per_case(
    rows: np.ndarray, cases: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One entry per (row, case): the largest weight of the case's candidate records."""
    o = np.lexsort((-weights, cases, rows))
    rows, cases, weights = rows[o], cases[o], weights[o]
    first = np.ones(rows.size, bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cases[1:] != cases[:-1])
    return rows[first], cases[first], weights[first]


def case_probabilities(
    rows: np.ndarray, cases: np.ndarray, weights: np.ndarray, lam: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(case is the query row's person): the calibration's model at a fixed ``lam``, each
    case weighed by its best record. Returns ``(rows, cases, p)``, one entry per (row, case).
    """
    rows, cases, w = best_per_case(rows, cases, weights)
    return rows, cases, probabilities_at(rows, w, lam)


def fit_query_model(
    index: SortedFilters,
    case_code: np.ndarray,
    bounds: np.ndarray,
    search: Search,
    per_query: int,
    *,
    seed: int = 0,
) -> QueryModel | None:
    """Fit floor, Fellegi–Sunter weights and ``lam`` on the registry; None below 2 records.

    ``index`` is the registry's filters sorted by popcount, with the popcounts the sort
    computed; ``search(q, floor, k)`` is the index's own candidate search (sorted positions),
    so pseudo-queries find exactly what queries will.
    """
    filters, n = index.filters, index.rows
    if n < 2 or len(np.unique(case_code)) < 2:
        return None
    rng = np.random.default_rng(seed)
    floor, u_random = _floor_and_u(index, case_code, bounds, rng)
    size = int(min(n, PSEUDO_QUERIES, max(200, PSEUDO_COMPARISONS // n)))
    sample = np.sort(rng.choice(n, size=size, replace=False))
    i, j, _ = search(filters[sample], floor, per_query + 1)
    other = j != sample[i]  # a pseudo-query does not find itself
    i, j = i[other], j[other]
    if i.size == 0:
        fs = fit_fellegi_sunter(np.full((1, len(bounds)), -1, np.int8), u_random=u_random)
        return QueryModel(floor, fs, 1e-6, 1e-6, per_query, size)
    levels = comparison_levels(segment_dice(filters[sample], filters, i, j, bounds))
    fs = fit_fellegi_sunter(levels, u_random=u_random)
    rows, _, w = best_per_case(i, case_code[j], fs.weights(levels))
    _, lam = side_probabilities(rows, w)
    lam = float(np.clip(lam, 1e-6, 1 - 1e-6))
    return QueryModel(floor, fs, min(lam, QUERY_PRIOR), lam, per_query, size)
