"""The frequency attack's decoder: names from token evidence, token positions from names.

Given the bit positions the attacker believes each token hashes to, every record gets a
log-likelihood ratio per token (:func:`token_scores`); a candidate name scores the sum over
its tokens. The best (given, family) pair of a record maximises the score of the *union* of
the two names' tokens (they share one segment, so a token both hold is counted once) plus
the log prior of the pair, traditions coupling the two names. Conversely, from the names
decoded for every record, :func:`relearn_positions` re-estimates where each token hashes.

The two compiled kernels (:func:`best_pairs`, :func:`top_k_columns`) have plain-numpy
oracles beside them for the tests.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from bloom._jit import njit
from evaluation._attack_names import PublicNames

__all__ = [
    "best_pairs",
    "best_pairs_reference",
    "decode_batch",
    "decode_names",
    "decoded_tokens",
    "explained_share",
    "relearn_positions",
    "token_scores",
    "top_k_columns",
    "top_k_columns_reference",
]

_PRESENT = 0.999  # P(a token of the decoded names shows in the filter) beyond bit noise
_CHUNK = 8192  # records decoded at once: bounds the (records, tokens) and (names, records) arrays


def token_scores(
    bits: np.ndarray, positions: np.ndarray, p_set: np.ndarray, density: np.ndarray
) -> np.ndarray:
    """``(n, tokens)`` float32: per record, the log-likelihood ratio that its names hold the
    token, ``log(P(bits | token) / P(bits | no token))`` allowing a small chance that a held
    token does not show. ``positions``/``p_set``: ``(tokens, m)`` believed positions and
    P(bit set | token held); ``density``: P(bit set) when the token is not held -- ``(m,)``, the
    same for every token (the base rate over all records), or ``(tokens, m)``. Unknown tokens: 0."""
    q = np.clip(p_set, 1e-3, 1 - 1e-3)
    r = np.clip(density, 1e-3, 1 - 1e-3)
    r = r[None, :] if r.ndim == 1 else r
    on = np.where(positions, np.log(q / r), 0).astype(np.float32)
    off = np.where(positions, np.log((1 - q) / (1 - r)), 0).astype(np.float32)
    known = np.flatnonzero(positions.any(axis=1))
    x = bits.astype(np.float32)
    out = np.zeros((bits.shape[0], positions.shape[0]), dtype=np.float32)
    llr = x @ on[known].T + (1 - x) @ off[known].T
    out[:, known] = np.logaddexp(np.log(_PRESENT) + llr, np.log(1 - _PRESENT))
    return out


@njit(nogil=True)
def best_pairs(
    scores, given, family, g_ind, g_ptr, f_ind, f_ptr, g_score, f_score, pair_prior
):  # pragma: no cover - compiled
    """Per record ``r``, the pair (``given[r, a]``, ``family[r, b]``) maximising
    ``g_score[r, a] + f_score[r, b] - (scores[r] of the tokens both names hold)
    + pair_prior[r, a, b]``. Token lists are CSR (``*_ind``, ``*_ptr``), sorted per name."""
    n, k = given.shape
    best_g = np.zeros(n, dtype=np.int64)
    best_f = np.zeros(n, dtype=np.int64)
    for r in range(n):
        best = -np.inf
        for a in range(k):
            g = given[r, a]
            for b in range(k):
                f = family[r, b]
                i, j, shared = g_ptr[g], f_ptr[f], 0.0
                while i < g_ptr[g + 1] and j < f_ptr[f + 1]:
                    if g_ind[i] == f_ind[j]:
                        shared += scores[r, g_ind[i]]
                        i += 1
                        j += 1
                    elif g_ind[i] < f_ind[j]:
                        i += 1
                    else:
                        j += 1
                v = g_score[r, a] + f_score[r, b] - shared + pair_prior[r, a, b]
                if v > best:
                    best, best_g[r], best_f[r] = v, g, f
    return best_g, best_f


def best_pairs_reference(
    scores, given, family, g_ind, g_ptr, f_ind, f_ptr, g_score, f_score, pair_prior
) -> tuple[np.ndarray, np.ndarray]:
    """Plain-numpy oracle of :func:`best_pairs`, one record at a time."""
    n = given.shape[0]
    out_g, out_f = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for r in range(n):
        total = g_score[r][:, None] + f_score[r][None, :] + pair_prior[r]
        for a, g in enumerate(given[r]):
            for b, f in enumerate(family[r]):
                both = np.intersect1d(
                    g_ind[g_ptr[g] : g_ptr[g + 1]], f_ind[f_ptr[f] : f_ptr[f + 1]]
                )
                total[a, b] -= scores[r, both].sum(dtype=np.float64)
        a, b = np.unravel_index(np.argmax(total), total.shape)
        out_g[r], out_f[r] = given[r, a], family[r, b]
    return out_g, out_f


@njit(nogil=True)
def top_k_columns(values, k):  # pragma: no cover - compiled
    """``(columns, k)``: row indices of the ``k`` largest values of each column of
    ``values``, in no particular order (rows outer, columns inner: memory order)."""
    rows, cols = values.shape
    top_val = np.full((cols, k), -np.inf, dtype=values.dtype)
    top_idx = np.zeros((cols, k), dtype=np.int64)
    low = np.zeros(cols, dtype=np.int64)  # slot holding the smallest kept value
    for i in range(rows):
        for c in range(cols):
            v = values[i, c]
            if v > top_val[c, low[c]]:
                top_val[c, low[c]] = v
                top_idx[c, low[c]] = i
                m = 0
                for j in range(1, k):
                    if top_val[c, j] < top_val[c, m]:
                        m = j
                low[c] = m
    return top_idx


def top_k_columns_reference(values: np.ndarray, k: int) -> np.ndarray:
    """Plain-numpy oracle of :func:`top_k_columns` (same sets of rows, any order)."""
    return np.argpartition(-values.T, k - 1, axis=1)[:, :k]


def _shortlist(
    side_tokens: sparse.csr_matrix, scores: np.ndarray, log_prior: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per record, the ``top_k`` names by score and the ``top_k`` by consistency (absent
    tokens only, so short names that fit are not crowded out by long ones), and their scores."""
    k = min(top_k, len(log_prior))
    own = np.asarray(side_tokens @ scores.T, dtype=np.float32)  # (names, records)
    consistent = np.asarray(side_tokens @ np.minimum(scores, 0).T, dtype=np.float32)
    pick = np.concatenate(
        [
            top_k_columns(own + log_prior[:, None], k),
            top_k_columns(consistent + log_prior[:, None], k),
        ],
        axis=1,
    )
    return pick, np.take_along_axis(own.T, pick, axis=1)


def decode_names(
    scores: np.ndarray, names: PublicNames, top_k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the best given and family name of every record (``scores``: see
    :func:`token_scores`), under the prior of the pair: sum over traditions of
    ``mix * P(given | tradition) * P(family | tradition)``."""
    g, f = names.given, names.family
    gi, gs = _shortlist(g.tokens, scores, np.log(np.maximum(g.prior(names.mix), 1e-300)), top_k)
    fi, fs = _shortlist(f.tokens, scores, np.log(np.maximum(f.prior(names.mix), 1e-300)), top_k)
    joint = np.einsum("rat,rbt->rab", g.by_tradition[gi] * names.mix, f.by_tradition[fi])
    return best_pairs(
        scores,
        gi,
        fi,
        g.tokens.indices.astype(np.int64),
        g.tokens.indptr.astype(np.int64),
        f.tokens.indices.astype(np.int64),
        f.tokens.indptr.astype(np.int64),
        gs,
        fs,
        np.log(np.maximum(joint, 1e-300)),
    )


def decoded_tokens(names: PublicNames, given: np.ndarray, family: np.ndarray) -> sparse.csr_matrix:
    """``(records, tokens)`` 0/1: the tokens of each record's decoded names."""
    held = names.given.tokens[given] + names.family.tokens[family]
    held.data[:] = 1.0
    return held.tocsr()


def relearn_positions(
    bits: np.ndarray,
    decoded: sparse.csr_matrix,
    positions: np.ndarray,
    weights: np.ndarray,
    flip: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each token's positions and P(bit set | token) from the records decoded to hold it.

    A token's bits are those set in its holders that no *other* known token of the decoded
    names covers -- at most ``weight`` of them, each 4 standard errors and 0.3 (less under
    blip) above the base rate. Tokens held by fewer than 5 records, or with fewer than half
    their weight of such bits, keep their old positions.
    """
    x = bits.astype(np.float32)
    cover = np.asarray(decoded @ positions.astype(np.float32))  # known tokens covering a bit
    holders = np.asarray(decoded.sum(axis=0)).ravel()
    per = np.maximum(holders, 1)[:, None]
    alone = np.asarray(decoded.T @ (x * ((cover > 0.5) & (cover < 1.5)))) / per
    unexplained = np.asarray(decoded.T @ (x * (cover < 0.5))) / per
    residual = np.where(positions, alone, unexplained)
    base = (x * (cover < 0.5)).mean(axis=0)[None, :]
    z = (residual - base) / np.sqrt(base * (1 - base) / per + 1e-9)
    score = np.where((z >= 4) & (residual >= base + 0.3 * (1 - 2 * flip)), residual, -1.0)
    top = np.argsort(-score, axis=1, kind="stable")[:, : int(weights.max())]
    rows = np.broadcast_to(np.arange(len(score))[:, None], top.shape)
    take = (score[rows, top] > 0) & (np.arange(top.shape[1])[None, :] < weights[:, None])
    learned = np.zeros_like(positions)
    learned[rows[take], top[take]] = True
    enough = (holders >= 5) & (learned.sum(axis=1) >= np.ceil(weights / 2))
    new = np.where(enough[:, None], learned, positions)
    p_set = np.asarray(decoded.T @ x) / per
    p_set = np.where(enough[:, None], np.clip(p_set, 0.5, 0.99), 1 - flip)
    return new, np.where(new, p_set, 0.0)


def explained_share(decoded: sparse.csr_matrix, scores: np.ndarray, known: np.ndarray) -> float:
    """Share of records whose decoded names hold 3+ tokens of known positions, all showing:
    the attacker's own measure of how well its model explains the batch."""
    held = decoded.multiply(known[None, :].astype(np.float32)).tocsr()
    shown = held.multiply(scores > 0)
    count = np.asarray(held.sum(axis=1)).ravel()
    return float(np.mean((count >= 3) & (np.asarray(shown.sum(axis=1)).ravel() == count)))


def decode_batch(
    bits: np.ndarray,
    names: PublicNames,
    positions: np.ndarray,
    p_set: np.ndarray,
    density: np.ndarray,
    top_k: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`token_scores` and :func:`decode_names` a chunk of records at a time (memory stays
    bounded at any batch size); also the :func:`explained_share` of the whole batch."""
    n = bits.shape[0]
    given, family = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    known = positions.any(axis=1)
    explained = 0.0
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        scores = token_scores(bits[lo:hi], positions, p_set, density)
        given[lo:hi], family[lo:hi] = decode_names(scores, names, top_k)
        held = decoded_tokens(names, given[lo:hi], family[lo:hi])
        explained += explained_share(held, scores, known) * (hi - lo)
    return given, family, explained / max(n, 1)
