"""How the buckets of the top-k walk grow with the register, on the common-name register of the
scale section: for each size, segment and band length, what one band's buckets hold before
any split.

For ``n`` people in two agencies (the ``common`` mix) and each of the schema's segments, bands
of ``rows_per_band`` MinHashes (``lengths``) are hashed over every record of both agencies, and
for each band:

* ``pairs_met_a_row``: the pairs of its buckets (rows of A x rows of B sharing a key) per row
  of A -- what the walk would visit if it split nothing;
* ``over_cap_share``: the share of A's rows in a bucket of more than ``bucket_cap`` pairs, which
  the walk splits by hashes of the bits its members do not share (a true pair parted there is
  found in another band, or lost);

with the bands a plan of that length needs to find a pair at segment Dice 0.8 with recall 0.99
(``bands``), and the planner's own choice for the segment at that size (``planned``).

Medians over ``sampled_bands`` bands. A figure, not a test: it says why the search grows faster
than the register (pairs met at a fixed length grow with the register's namesakes, and more of
them land in buckets the walk must split), which a planner for the walk must model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from blocking import DEFAULT_BUCKET_CAP, LshParams, hash_collision_probability, plan_segments
from blocking._lsh import band_keys, band_tables
from blocking._params import bands_for_recall
from evaluation._bench_linkscale import scale_register
from linkage import SEGMENT_THRESHOLD, segment_words

__all__ = ["band_signatures", "bench_band_buckets", "bucket_figures"]

DEFAULT_SIZES = (100_000, 300_000, 1_000_000)
DEFAULT_LENGTHS = (4, 6, 8, 10, 12)
_SHIFT = 32  # the keys' low bits carry the row (up to 2**32 rows): shifted out


def band_signatures(x: np.ndarray, params: LshParams, tables: np.ndarray) -> np.ndarray:
    """Each row's bucket in the one band of ``tables`` (``band_keys`` with the row bits they
    carry shifted out): rows with equal signatures share the band's bucket."""
    return band_keys(x, np.arange(len(x)), params, tables, _SHIFT)[0] >> np.uint64(_SHIFT)


def bucket_figures(
    a: np.ndarray, b: np.ndarray, params: LshParams, bands: int, cap: int
) -> tuple[list[float], list[float]]:
    """Per band ``0..bands-1`` of ``params`` over the segment words ``a`` and ``b``: the pairs
    sharing a key per row of ``a``, and the share of ``a``'s rows in a bucket of more than
    ``cap`` pairs."""
    tables = band_tables(params, 0, bands)
    met, over = [], []
    for band in range(bands):
        (ua, ca), (ub, cb) = (
            np.unique(band_signatures(x, params, tables[band : band + 1]), return_counts=True)
            for x in (a, b)
        )
        _, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
        rows_a, rows_b = ca[ia].astype(np.float64), cb[ib].astype(np.float64)
        pairs = rows_a * rows_b
        met.append(float(pairs.sum()) / len(a))
        over.append(float(rows_a[pairs > cap].sum()) / len(a))
    return met, over


def bench_band_buckets(
    sizes: Sequence[int] = DEFAULT_SIZES,
    lengths: Sequence[int] = DEFAULT_LENGTHS,
    *,
    sampled_bands: int = 3,
    cap: int = DEFAULT_BUCKET_CAP,
    seed: int = 0,
) -> dict[str, Any]:
    """The module's figures for each register size of ``sizes``."""
    per_hash = float(hash_collision_probability(SEGMENT_THRESHOLD, "minhash"))
    runs = []
    for n in sizes:
        _, (a_batch, b_batch) = scale_register(n, "common", seed=seed)
        a, b = a_batch.filters, b_batch.filters
        words = [(int(lo), int(hi)) for lo, hi in segment_words(a_batch.metadata)]
        planned = plan_segments(a, b, words, SEGMENT_THRESHOLD, seed=seed)
        chosen = {(p.word_lo, p.word_hi): p.params.rows_per_band for p in planned}
        segments = []
        for number, (lo, hi) in enumerate(words):
            sub_a, sub_b = (np.ascontiguousarray(x[:, lo:hi]) for x in (a, b))
            by_length = []
            for r in lengths:
                params = LshParams("minhash", sampled_bands, r, seed * 1009 + number, hi - lo)
                met, over = bucket_figures(sub_a, sub_b, params, sampled_bands, cap)
                by_length.append(
                    {
                        "rows_per_band": r,
                        "bands": bands_for_recall(per_hash, r, 0.99),
                        "pairs_met_a_row": round(float(np.median(met)), 2),
                        "over_cap_share": round(float(np.median(over)), 4),
                    }
                )
            segments.append(
                {"words": [lo, hi], "planned": chosen.get((lo, hi)), "lengths": by_length}
            )
        runs.append({"people": n, "records": [len(a), len(b)], "segments": segments})
    return {
        "bucket_cap": cap,
        "sampled_bands": sampled_bands,
        "runs": runs,
        "note": (
            "pairs sharing a band key per row of A before any split, and the share of A's rows "
            "in buckets over the cap (split by the walk); medians over the sampled bands"
        ),
    }
