"""LSH parameters and the probability model behind them.

Two schemes hash a filter's bits; both give an exact collision probability for any fixed pair
of filters, taken over the seeded random choice of hash functions:

* ``minhash``: a hash is the rank, in a keyed random permutation of the ``L = 64 * words``
  bit positions, of the first set bit. Two filters agree on a hash with probability equal to
  their Jaccard index ``J = D / (2 - D)`` (``D`` the Dice coefficient), whatever their density.
* ``hamming``: a hash is one keyed random bit position (drawn with replacement). Two filters
  agree with probability ``1 - H / L``, ``H`` their Hamming distance. For Dice ``D`` and mean
  density ``rho = (|A| + |B|) / 2L`` that is ``1 - 2 rho (1 - D)``: denser pairs collide less,
  so recall is planned for the highest density expected (``max_density``).

A band is ``r`` independent hashes; a pair collides in a band with probability ``p ** r`` and
becomes a candidate when it collides in at least one of ``b`` independent bands::

    P(candidate) = 1 - (1 - p ** r) ** b

For a threshold ``t`` and a target recall ``R`` the planner picks ``b`` so that a pair exactly
at ``t`` (the least similar pair that must be found) is a candidate with probability >= ``R``;
pairs above ``t`` are found more often.

Why ``minhash`` is the default: its guarantee needs no assumption about density, while
``hamming`` must plan for the densest pair (and "agree" includes both-zero bits, so sparse
segments collide a lot). On random 40%-dense filters the two separate a pair at Dice 0.8
from the background about equally well (per hash 0.67 vs 0.25 for minhash, 0.84 vs 0.52 for
hamming at a known density), but on the FEBRL4 demo encodings, with the density bound taken
from the data, hamming produced 3-4 times more candidates for the same guarantee (Dice 0.7:
6.3M vs 1.5M of 25M pairs). A minhash costs about 8 times a sampled bit to compute, but
hashing is under half of a band's cost; sorting and joining the band is the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from blocking._errors import BlockingError, raise_problems

__all__ = [
    "MAX_ROWS_PER_BAND",
    "SCHEMES",
    "LshParams",
    "bands_for_recall",
    "candidate_probability",
    "collision_candidate_probability",
    "hash_collision_probability",
    "jaccard_from_dice",
]

SCHEMES = ("minhash", "hamming")
MAX_ROWS_PER_BAND = 64
_MAX_BANDS = 2**32  # far beyond any practical plan; keeps band counts exact in floats

FloatLike = float | npt.NDArray[np.float64]


@dataclass(frozen=True)
class LshParams:
    """How to band filters: ``bands`` bands of ``rows_per_band`` hashes each.

    ``seed`` draws the permutations (minhash) or bit positions (hamming); the same params
    give the same candidates on every machine. ``words`` is the filter width in uint64 words.
    """

    scheme: str
    bands: int
    rows_per_band: int
    seed: int
    words: int = 16

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if self.scheme not in SCHEMES:
            problems["scheme"] = f"must be one of {', '.join(SCHEMES)}"
        if not _is_int(self.bands) or self.bands < 1:
            problems["bands"] = "must be a whole number >= 1"
        if not _is_int(self.rows_per_band) or not 1 <= self.rows_per_band <= MAX_ROWS_PER_BAND:
            problems["rows_per_band"] = f"must be a whole number from 1 to {MAX_ROWS_PER_BAND}"
        if not _is_int(self.seed) or not 0 <= self.seed < 2**63:
            problems["seed"] = "must be a whole number from 0 to 2**63 - 1"
        if not _is_int(self.words) or self.words < 1:
            problems["words"] = "must be a whole number >= 1 (uint64 words per filter)"
        raise_problems(problems)

    @property
    def bits(self) -> int:
        """Filter length in bits."""
        return 64 * self.words


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def jaccard_from_dice(dice: FloatLike) -> FloatLike:
    """Jaccard index of two sets with Dice coefficient ``dice``: ``D / (2 - D)``."""
    d = np.asarray(dice, dtype=np.float64)
    out = d / (2.0 - d)
    return float(out) if out.ndim == 0 else out


def hash_collision_probability(dice: FloatLike, scheme: str, *, density: float = 0.5) -> FloatLike:
    """Probability that one hash of ``scheme`` agrees on a pair with Dice ``dice``.

    ``density`` (fraction of bits set, averaged over the pair) matters for ``hamming`` only.
    """
    if scheme == "minhash":
        return jaccard_from_dice(dice)
    if scheme == "hamming":
        d = np.asarray(dice, dtype=np.float64)
        out = np.clip(1.0 - 2.0 * density * (1.0 - d), 0.0, 1.0)
        return float(out) if out.ndim == 0 else out
    raise BlockingError({"scheme": f"must be one of {', '.join(SCHEMES)}"})


def candidate_probability(dice: FloatLike, params: LshParams, *, density: float = 0.5) -> FloatLike:
    """Probability that a pair with Dice ``dice`` becomes a candidate under ``params``."""
    p = hash_collision_probability(dice, params.scheme, density=density)
    return collision_candidate_probability(p, params.rows_per_band, params.bands)


def collision_candidate_probability(per_hash: FloatLike, rows: int, bands: int) -> FloatLike:
    """``1 - (1 - p**rows) ** bands`` computed without cancellation."""
    p = np.asarray(per_hash, dtype=np.float64)
    with np.errstate(divide="ignore"):  # p == 1: log1p(-1) = -inf, found for sure
        out = -np.expm1(bands * np.log1p(-(p**rows)))
    return float(out) if out.ndim == 0 else out


def bands_for_recall(per_hash: float, rows: int, recall: float) -> int:
    """Fewest bands so a pair with per-hash collision ``per_hash`` is found with ``recall``.

    Returns 0 when no practical number does (more than ``2 ** 32`` bands, or
    ``per_hash ** rows`` underflows to 0).
    """
    band = per_hash**rows
    if band >= 1.0:
        return 1
    if band <= 0.0:
        return 0
    needed = math.log1p(-recall) / math.log1p(-band)
    if needed > _MAX_BANDS:
        return 0
    bands = max(1, math.ceil(needed))
    while collision_candidate_probability(per_hash, rows, bands) < recall:
        bands += 1  # guard against rounding at the ceiling
    return bands
