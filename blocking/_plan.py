"""Planning LSH: choose rows per band and bands from a Dice threshold and a target recall.

For each candidate ``r`` the planner takes the fewest bands ``b`` that find a pair exactly at
the threshold with probability >= recall (see :mod:`blocking._params`), then predicts

* false candidates: ``n_a * n_b * mean(1 - (1 - q ** r) ** b)`` over the per-hash collision
  probabilities ``q`` of non-matching pairs (the *background*: by default random filters at
  40% density; :func:`background_collisions` samples it from the data), and
* seconds: ``b * (n_a + n_b) * (row cost + r * hash cost) + candidates * candidate cost``,
  with costs measured on a 2-core machine (hashing runs on both cores, sorting bands on
  one each),

and keeps the cheapest plan whose predicted candidates fit ``max_candidates`` (the candidate
set costs 8 bytes a pair while it is built, 16 as the returned ``(i, j)`` arrays).
Longer bands mean fewer false candidates but more bands, so the optimum moves to longer
bands as the inputs grow.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from blocking._errors import raise_problems
from blocking._lsh import check_filters
from blocking._params import (
    MAX_ROWS_PER_BAND,
    SCHEMES,
    LshParams,
    bands_for_recall,
    collision_candidate_probability,
    hash_collision_probability,
)
from blocking._types import Filters

__all__ = [
    "DEFAULT_MAX_CANDIDATES",
    "background_collisions",
    "default_background",
    "expected_candidates",
    "lsh_params",
    "plan_lsh",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_CANDIDATES = 100_000_000
# Costs measured at 1M x 1M on 2 idle cores (numpy 2.4, numba 0.68): per band, hashing 2M
# rows took 3.7 ns a minhash and 0.5 ns a sampled bit (both cores), sorting and joining 33 ns
# a row (one core per band, two bands at a time), deduplicating 60 ns a band collision
# (~3 collisions per candidate).
_ROW_SECONDS = 3.5e-8  # sort + join, per row of either side, per band
_HASH_SECONDS = {"minhash": 4e-9, "hamming": 5e-10}  # per row, per hash, per band
_CANDIDATE_SECONDS = 2e-7  # deduplicating and scoring one candidate
_BACKGROUND_DENSITY = 0.4


def default_background(scheme: str) -> float:
    """Per-hash collision probability of two independent random filters at 40% density."""
    rho = _BACKGROUND_DENSITY
    if scheme == "hamming":
        return rho * rho + (1 - rho) * (1 - rho)
    return float(hash_collision_probability(rho, scheme))


def expected_candidates(
    params: LshParams, n_a: int, n_b: int, background: float | npt.ArrayLike
) -> float:
    """Predicted candidates among ``n_a * n_b`` pairs with per-hash collisions ``background``."""
    q = np.atleast_1d(np.asarray(background, dtype=np.float64))
    p = collision_candidate_probability(q, params.rows_per_band, params.bands)
    return float(n_a) * float(n_b) * float(np.mean(p))


def _predicted_seconds(
    params: LshParams,
    n_a: int,
    n_b: int,
    candidates: float,
    candidate_seconds: float = _CANDIDATE_SECONDS,
) -> float:
    per_row = _ROW_SECONDS + params.rows_per_band * _HASH_SECONDS[params.scheme]
    return params.bands * (n_a + n_b) * per_row + candidates * candidate_seconds


def _is_whole(value: object, low: int = 1) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.floating) and not isinstance(value, bool)


def _scheme_problems(scheme: object) -> dict[str, str]:
    return {} if scheme in SCHEMES else {"scheme": f"must be one of {', '.join(SCHEMES)}"}


def _check_plan_args(
    threshold: float, recall: float, scheme: str, max_density: float, **whole: object
) -> None:
    """Raise one error naming every bad planning argument."""
    problems: dict[str, str] = {}
    if not (_is_real(threshold) and 0.0 < threshold <= 1.0):
        problems["threshold"] = "must be a Dice coefficient in (0, 1]"
    if not (_is_real(recall) and 0.0 < recall < 1.0):
        problems["recall"] = "must be a probability in (0, 1); 1 would need infinitely many bands"
    problems |= _scheme_problems(scheme)
    if not (_is_real(max_density) and 0.0 < max_density <= 1.0):
        problems["max_density"] = "must be a fraction of bits set, in (0, 1]"
    for name, value in whole.items():
        if value is None and name == "rows_per_band":
            continue
        if not _is_whole(value, 0 if name == "seed" else 1):
            problems[name] = "must be a whole number >= " + ("0" if name == "seed" else "1")
    rows = whole.get("rows_per_band")
    if "rows_per_band" not in problems and rows is not None and rows > MAX_ROWS_PER_BAND:
        problems["rows_per_band"] = f"must be at most {MAX_ROWS_PER_BAND}"
    raise_problems(problems)


def lsh_params(
    threshold: float,
    recall: float = 0.99,
    *,
    scheme: str = "minhash",
    words: int = 16,
    n_a: int = 1_000_000,
    n_b: int = 1_000_000,
    background: float | npt.ArrayLike | None = None,
    max_density: float = 0.5,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    max_bands: int = 4096,
    rows_per_band: int | None = None,
    seed: int = 0,
    candidate_seconds: float | None = None,
) -> LshParams:
    """Plan LSH for ``n_a`` x ``n_b`` filters: pairs at Dice >= ``threshold`` become
    candidates with probability >= ``recall``.

    ``max_density`` bounds the mean density of a matching pair (``hamming`` only: its
    collisions depend on density; ``minhash`` needs no bound). ``background`` is the per-hash
    collision probability of non-matching pairs, one value or a sample of them
    (:func:`background_collisions`); it only steers the cost trade-off, never the recall.
    Fix ``rows_per_band`` to skip the search over band lengths. ``candidate_seconds``: what a
    candidate costs against a band's rows (None: the planner's own price, measured for a search
    that keeps every colliding pair); a cheaper candidate moves the optimum to shorter bands.
    """
    if candidate_seconds is None:
        candidate_seconds = _CANDIDATE_SECONDS
    elif not (_is_real(candidate_seconds) and candidate_seconds > 0):
        raise_problems({"candidate_seconds": "must be a positive number of seconds"})
    _check_plan_args(
        threshold,
        recall,
        scheme,
        max_density,
        words=words,
        n_a=n_a,
        n_b=n_b,
        max_candidates=max_candidates,
        max_bands=max_bands,
        rows_per_band=rows_per_band,
        seed=seed,
    )
    p_hit = float(hash_collision_probability(threshold, scheme, density=max_density))
    q = default_background(scheme) if background is None else background
    best: tuple[float, float, LshParams] | None = None  # (over cap, seconds, params)
    choices = range(1, MAX_ROWS_PER_BAND + 1) if rows_per_band is None else [rows_per_band]
    for r in choices:
        bands = bands_for_recall(p_hit, r, recall)
        if not 1 <= bands <= max_bands:
            continue
        params = LshParams(scheme, bands, r, seed, words)
        found = expected_candidates(params, n_a, n_b, q)
        seconds = _predicted_seconds(params, n_a, n_b, found, candidate_seconds)
        key = (max(0.0, found - max_candidates), seconds)
        if best is None or key < best[:2]:
            best = (*key, params)
    if best is None:
        raise_problems({"threshold": _unreachable(threshold, recall, p_hit, max_bands)})
    assert best is not None
    over, seconds, params = best
    _log_plan(params, threshold, recall, seconds, over, max_candidates)
    return params


def _unreachable(threshold: float, recall: float, p_hit: float, max_bands: int) -> str:
    one = bands_for_recall(p_hit, 1, recall) if p_hit > 0 else 0
    needed = f"{one} bands of one hash" if one else "more bands than any plan can have"
    return (
        f"finding pairs at Dice {threshold:g} with recall {recall:g} needs {needed}, over "
        f"max_bands={max_bands}; compare all pairs instead (choose_method), raise max_bands "
        "or shorten rows_per_band"
    )


def _log_plan(
    params: LshParams,
    threshold: float,
    recall: float,
    seconds: float,
    over: float,
    max_candidates: int,
) -> None:
    logger.info(
        "LSH plan %s: r=%d b=%d for Dice >= %g at recall %g (predicted %.0f s)",
        params.scheme,
        params.rows_per_band,
        params.bands,
        threshold,
        recall,
        seconds,
    )
    if over > 0:
        logger.warning(
            "LSH plan predicts %.3g candidates, over max_candidates=%d: every band length "
            "within max_bands gives more; memory will grow accordingly",
            over + max_candidates,
            max_candidates,
        )


def background_collisions(
    a: Filters, b: Filters, scheme: str = "minhash", *, samples: int = 100_000, seed: int = 0
) -> npt.NDArray[np.float64]:
    """Per-hash collision probabilities of ``samples`` random pairs of ``a`` x ``b``.

    minhash: the pairs' Jaccard index; hamming: their fraction of agreeing bits. Random pairs
    are almost all non-matches, so this is the background :func:`lsh_params` plans against.
    """
    problems = _scheme_problems(scheme)
    if not _is_whole(samples):
        problems["samples"] = "must be a whole number >= 1"
    raise_problems(problems)
    check_filters(a, b)
    rng = np.random.default_rng(np.random.SeedSequence((seed, 0x6B67)))
    x = a[rng.integers(0, a.shape[0], samples)]
    y = b[rng.integers(0, b.shape[0], samples)]
    if scheme == "hamming":
        differ = np.bitwise_count(x ^ y).sum(axis=1, dtype=np.int64)
        return 1.0 - differ / (64.0 * a.shape[1])
    both = np.bitwise_count(x & y).sum(axis=1, dtype=np.int64)
    either = np.bitwise_count(x | y).sum(axis=1, dtype=np.int64)
    return both / np.maximum(either, 1)


def max_row_density(*sides: Filters) -> float:
    """Largest fraction of bits set in any row of ``sides``."""
    return max(
        float(np.bitwise_count(x).sum(axis=1, dtype=np.int64).max()) / (64.0 * x.shape[1])
        for x in sides
    )


def plan_lsh(
    a: Filters,
    b: Filters,
    threshold: float,
    recall: float = 0.99,
    *,
    scheme: str = "minhash",
    seed: int = 0,
    samples: int = 100_000,
    **options: float | None,
) -> LshParams:
    """:func:`lsh_params` for these two sides: sizes and background sampled from the data.

    For ``hamming`` the density bound is the densest row present, so the recall guarantee
    holds for these filters without assuming a density.
    """
    check_filters(a, b)
    background = background_collisions(a, b, scheme, samples=samples, seed=seed)
    if scheme == "hamming":
        options.setdefault("max_density", max_row_density(a, b))
    return lsh_params(
        threshold,
        recall,
        scheme=scheme,
        words=a.shape[1],
        n_a=a.shape[0],
        n_b=b.shape[0],
        background=background,
        seed=seed,
        **options,
    )
