"""blocking: candidate pairs from encodings only, so linking never compares all pairs.

LSH over filter bits, planned from a Dice threshold and a target recall. Public API::

    params = blocking.lsh_params(0.8, recall=0.99, n_a=len(a), n_b=len(b), seed=7)
    params = blocking.plan_lsh(a, b, 0.8, seed=7)      # same, background sampled from data
    i, j = blocking.lsh_candidates(a, b, params).pairs  # unique pairs, sorted by (i, j)
    plans = blocking.plan_segments(a, b, [(0, 7), (7, 18)], 0.8)  # bands per segment
    top = blocking.lsh_top_k(a, b, plans, k=10, floor=0.5)  # best 10 per row, bounded memory
    part = blocking.walk_bands(a, b, plans, 10, 0.5, units)  # some bands (one Ray task's)
    top = blocking.merge_parts(a, b, plans, 10, 0.5, parts)  # == lsh_top_k over all units
    blocking.candidate_probability(0.8, params)        # >= 0.99: the recall guarantee
    blocking.choose_method(len(a), len(b))             # "exhaustive" for small inputs
    blocking.blocking_report((i, j), true_pairs, len(a), len(b))

``a`` and ``b`` are ``(n, words)`` uint64 filters from :mod:`bloom`. Blocking never sees
plaintext and never scores a pair field by field; :mod:`linkage` does (``lsh_top_k`` ranks
the pairs it proposes by the Dice of their whole filters, to keep memory bounded).
"""

from blocking._errors import BlockingError
from blocking._lsh import LshResult, lsh_candidates
from blocking._params import (
    LshParams,
    candidate_probability,
    hash_collision_probability,
    jaccard_from_dice,
)
from blocking._plan import background_collisions, expected_candidates, lsh_params, plan_lsh
from blocking._report import blocking_report, choose_method
from blocking._topk import (
    DEFAULT_BUCKET_CAP,
    DEFAULT_MEMBER_CAP,
    SegmentPlan,
    TopKPart,
    TopKResult,
    band_work,
    combine_parts,
    lsh_top_k,
    merge_parts,
    plan_segments,
    walk_bands,
)
from blocking._types import PairIndices

__all__ = [
    "BlockingError",
    "DEFAULT_BUCKET_CAP",
    "DEFAULT_MEMBER_CAP",
    "LshParams",
    "LshResult",
    "PairIndices",
    "SegmentPlan",
    "TopKPart",
    "TopKResult",
    "background_collisions",
    "band_work",
    "blocking_report",
    "candidate_probability",
    "choose_method",
    "combine_parts",
    "expected_candidates",
    "hash_collision_probability",
    "jaccard_from_dice",
    "lsh_candidates",
    "lsh_params",
    "lsh_top_k",
    "merge_parts",
    "plan_lsh",
    "plan_segments",
    "walk_bands",
]
