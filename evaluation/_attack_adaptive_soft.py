"""Soft pattern mining: for filters whose bits are XORs of hashed bits (xor-fold, diffusion).

After balancing and folding, every output bit is the XOR of two hashed bits (one of them maybe
complemented); after diffusion, of ``t``. A q-gram's hash positions then no longer switch on
all-or-nothing, but the q-gram still *shifts* the outputs its positions feed: among its holders
an output that XORs one of its positions is flipped relative to the other records. For the
fold, each position feeds two outputs and the shift is large (the other input is a Bloom bit,
mostly clear); for diffusion it is ``prod(1 - 2 p)`` over the ``t - 1`` other inputs, which
only a large batch can see. So the attack looks for *latent binary factors* (Kuzu et al.'s
frequent sets, made soft):

1. **Factors** (:func:`soft_factors`): from pairs of strongly correlated outputs, a hard-EM
   one-factor Bernoulli mixture alternates between the outputs the factor's holders shift
   (a z-test against the other records; at most ``expansion * k`` outputs, ``k`` positions a
   q-gram, ``expansion`` outputs a position) and who holds it (naive Bayes over those
   outputs). Factors that split the records sharply are kept, once each, sharpest first.
2. **Align** the factors' holder sets with the public q-grams, as for plain mining, from the
   sharpest factors -- on each half of the records apart: an alignment the two halves do not
   reproduce (they name the same records alike less than one time in ten) is noise, and the
   attack keeps the prior.
3. **Decode and re-learn** in output space: each token's evidence is the outputs it shifts,
   with their rates among its holders and among the other records (:func:`relearn_shifts`).

Measured at 3,200 records: on unhardened filters 0.82 / 0.71 of given / family names (plain
mining 0.82 / 0.78); on balance + xor-fold the factors hold only about eight q-grams' co-sets
and no alignment reproduces; on diffusion(t=5) no factor splits the records at all.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from evaluation._attack_adaptive_balance import correlation
from evaluation._attack_decode import decode_batch, decoded_tokens
from evaluation._attack_freq import Decoded, align_itemsets, mining_sample
from evaluation._attack_names import PublicNames

__all__ = ["relearn_shifts", "soft_factors", "soft_mine_and_decode"]

_SEEDS = 600  # seed pairs of outputs, by absolute correlation
_ITERATIONS = 6
_MIN_Z = 5.0  # an output joins a factor when its shift is this many standard errors
_MIN_SHIFT = 0.08  # ... and at least this large
_SAME = 0.7  # factors whose holder sets overlap this much (Jaccard) are one factor
_MIN_ALIGNED = 10
_MAX_FACTORS = 150  # the sharpest factors aligned (alignment costs grow with the cube)
_PROBE = 4000  # records both halves' alignments decode, to compare
_STABLE = 0.1  # agreement below which an alignment is noise (measured: 0.0 then; 0.33 when real)


def _shifts(
    x: np.ndarray, with_factor: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per factor and output: the rate among the factor's holders, among the other records, and
    the z of their difference. ``with_factor``: ``(f, m)`` set bits summed over the holders;
    ``count``: ``(f,)`` holders."""
    n = len(x)
    on = with_factor / np.maximum(count, 1)[:, None]
    off = (x.sum(axis=0)[None, :] - with_factor) / np.maximum(n - count, 1)[:, None]
    p = x.mean(axis=0)[None, :]
    inverse = 1 / np.maximum(count, 1) + 1 / np.maximum(n - count, 1)
    se = np.sqrt(np.maximum(p * (1 - p), 1e-6) * inverse[:, None])
    return on, off, (on - off) / se


def _strongest(on: np.ndarray, off: np.ndarray, z: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """``(f, m)`` bool: per factor, its at most ``caps`` outputs of clear shift, strongest first."""
    strong = (np.abs(z) >= _MIN_Z) & (np.abs(on - off) >= _MIN_SHIFT)
    rank = np.argsort(np.argsort(-np.abs(z) * strong, axis=1, kind="stable"), axis=1)
    return strong & (rank < np.broadcast_to(caps, (len(z),))[:, None])


def _seed_holders(bits: np.ndarray, corr: np.ndarray, count: int) -> np.ndarray:
    """``(n, seeds)`` bool: per seed pair of outputs (highest absolute correlation first), the
    records in the pair's rarer agreeing state -- both set or both clear when the pair is
    positively correlated, one of each when negatively."""
    m = corr.shape[0]
    iu = np.triu_indices(m, 1)
    strength = np.abs(corr[iu])
    top = np.argsort(-strength, kind="stable")[:count]
    top = top[strength[top] > 0.05]
    a, b = bits[:, iu[0][top]], bits[:, iu[1][top]]
    b = b ^ (corr[iu][top] < 0)[None, :]
    both_set, both_clear = a & b, ~a & ~b
    rarer = both_set.mean(axis=0) <= both_clear.mean(axis=0)
    return np.where(rarer[None, :], both_set, both_clear)


def _holder_odds(
    x: np.ndarray, on: np.ndarray, off: np.ndarray, chosen: np.ndarray, prior: np.ndarray
) -> np.ndarray:
    """``(n, f)``: log odds that each record holds each factor, naive Bayes over its outputs."""
    q, r = np.clip(on, 0.01, 0.99), np.clip(off, 0.01, 0.99)
    w1 = np.where(chosen, np.log(q / r), 0).T.astype(np.float32)
    w0 = np.where(chosen, np.log((1 - q) / (1 - r)), 0).T.astype(np.float32)
    odds = np.log(np.clip(prior, 1e-4, 1 - 1e-4) / np.clip(1 - prior, 1e-4, 1))
    return x @ w1 + (1 - x) @ w0 + odds[None, :].astype(np.float32)


def soft_factors(bits: np.ndarray, cap: int, min_support: float) -> tuple[np.ndarray, np.ndarray]:
    """Latent binary factors of the outputs: ``(held, support)`` with ``held`` ``(n, f)`` bool
    (the records holding each factor) and ``support`` the share of records holding it.

    Each factor is a one-factor Bernoulli mixture fitted by hard EM from a seed pair: the
    holders' outputs of clear shift (at most ``cap``) decide, by naive Bayes, who holds it.
    Kept: factors held by ``min_support`` to half of the records that split the records
    sharply (four in five records at odds beyond e^2 either way), each once.
    """
    x = bits.astype(np.float32)
    held = _seed_holders(bits, correlation(bits), _SEEDS)
    odds = np.zeros(held.shape, dtype=np.float32)
    chosen = np.zeros((held.shape[1], bits.shape[1]), dtype=bool)
    for _ in range(_ITERATIONS):
        h = held.astype(np.float32)
        count = h.sum(axis=0)
        on, off, z = _shifts(x, h.T @ x, count)
        chosen = _strongest(on, off, z, np.asarray(cap))
        odds = _holder_odds(x, on, off, chosen, count / len(x))
        held = odds > 0
    support = held.mean(axis=0)
    sharp = (np.abs(odds) > 2).mean(axis=0)
    keep = (
        (support >= max(min_support, 5 / len(x)))
        & (support <= 0.5)
        & (chosen.sum(axis=1) >= 3)
        & (sharp >= 0.8)
    )
    order = _distinct(held[:, keep], sharp[keep])
    return held[:, keep][:, order], support[keep][order], sharp[keep][order]


def _distinct(held: np.ndarray, sharpness: np.ndarray) -> np.ndarray:
    """Indices of the factors kept, sharpest first: a factor is dropped when its holders overlap
    a sharper factor's by ``_SAME`` (Jaccard) -- the same q-gram found from another seed."""
    if held.shape[1] == 0:
        return np.zeros(0, dtype=np.int64)
    h = held.astype(np.float32)
    both = h.T @ h
    size = h.sum(axis=0)
    jac = both / np.maximum(size[:, None] + size[None, :] - both, 1)
    kept: list[int] = []
    for i in np.argsort(-sharpness, kind="stable"):
        if all(jac[i, j] < _SAME for j in kept):
            kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def relearn_shifts(
    bits: np.ndarray,
    decoded: sparse.csr_matrix,
    positions: np.ndarray,
    p_set: np.ndarray,
    rates: np.ndarray,
    caps: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each token's outputs and their rates, from the records decoded to hold it.

    An output belongs to a token when its rate among the token's holders differs from its rate
    among the other records by ``_MIN_Z`` standard errors and ``_MIN_SHIFT``; at most
    ``caps[token]`` outputs, the strongest. Tokens held by fewer than 5 records, or with fewer
    than a third of their cap of such outputs, keep what they had. Returns ``(positions,
    p_set, rates)``: outputs, rate among holders, rate among the others (``(tokens, m)``).
    """
    x = bits.astype(np.float32)
    count = np.asarray(decoded.sum(axis=0)).ravel()
    on, off, z = _shifts(x, np.asarray(decoded.T @ x), count)
    learned = _strongest(on, off, z, caps)
    enough = (count >= 5) & (learned.sum(axis=1) >= np.ceil(caps / 3))
    new = np.where(enough[:, None], learned, positions)
    return (
        new,
        np.where(enough[:, None], np.clip(on, 0.01, 0.99), p_set),
        np.where(enough[:, None], np.clip(off, 0.01, 0.99), rates),
    )


def _aligned_factors(
    bits: np.ndarray, names: PublicNames, expansion: int, min_support: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Factors mined on a sample, aligned with the public q-grams; their tokens' outputs and
    rates learned from the factor's holders over the sample."""
    width = int(np.bincount(names.weights[names.qgram]).argmax())
    held, support, _ = soft_factors(bits, expansion * width + 2, min_support)
    held, support = held[:, :_MAX_FACTORS], support[:_MAX_FACTORS]
    t, m = len(names.tokens), bits.shape[1]
    positions, p_set, rates = np.zeros((t, m), bool), np.zeros((t, m)), np.full((t, m), 0.5)
    if held.shape[1] < _MIN_ALIGNED:
        return positions, p_set, rates, held.shape[1], 0
    grams = np.flatnonzero(names.qgram & (names.weights == width))
    grams = grams[np.argsort(-names.token_support()[grams], kind="stable")]
    grams = grams[: int(1.5 * held.shape[1]) + 1]
    seeds = np.arange(min(5, len(support)))  # the sharpest factors
    token, cost = align_itemsets(held, support, names, grams, seeds=seeds)
    good = cost <= 2.5 * np.percentile(cost, 25)
    if good.sum() < _MIN_ALIGNED:
        return positions, p_set, rates, held.shape[1], 0
    which = np.flatnonzero(good)
    to_token = sparse.csr_matrix(
        (np.ones(len(which), np.float32), (np.arange(len(which)), token[which])),
        shape=(len(which), t),
    )
    decoded = (sparse.csr_matrix(held[:, which].astype(np.float32)) @ to_token).tocsr()
    caps = np.full(t, expansion * width + 2)
    positions, p_set, rates = relearn_shifts(bits, decoded, positions, p_set, rates, caps)
    return positions, p_set, rates, held.shape[1], int(good.sum())


def _stable_start(
    bits: np.ndarray, names: PublicNames, expansion: int, min_support: float, top_k: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, int, int], float]:
    """Mine and align on each half of the records apart; the attacker's own check of the
    result is how often the two halves' models name the same records alike (a real alignment
    reproduces, factors that are noise align to other q-grams each time). Returns the first
    half's start and that agreement."""
    halves = (bits[0::2], bits[1::2])
    starts = [_aligned_factors(half, names, expansion, min_support) for half in halves]
    if not all(start[4] for start in starts):
        return starts[0], 0.0
    probe = bits[:_PROBE]
    named = [decode_batch(probe, names, *start[:3], top_k)[:2] for start in starts]
    same = (named[0][0] == named[1][0]) & (named[0][1] == named[1][1])
    return starts[0], float(same.mean())


def soft_mine_and_decode(
    bits: np.ndarray,
    names: PublicNames,
    *,
    expansion: int = 2,
    rounds: int = 4,
    min_support: float = 0.02,
    top_k: int = 12,
    mine_records: int = 20_000,
) -> tuple[Decoded, float]:
    """Soft mining, alignment, decoding and re-learning on one segment whose output bits are
    XORs of hashed bits, each hashed bit feeding about ``expansion`` outputs.

    Returns the decoded batch and the agreement of the two halves' alignments (see
    :func:`_stable_start`); below ``_STABLE`` the alignment is taken for noise and every
    record gets the prior's pair -- the attacker does not trust what it cannot reproduce.
    """
    sample = mining_sample(len(bits), mine_records)
    start, agreement = _stable_start(bits[sample], names, expansion, min_support, top_k)
    positions, p_set, rates, mined, aligned = start
    if agreement < _STABLE:
        positions, aligned = np.zeros_like(positions), 0
    caps = expansion * names.weights + 2
    learn = mining_sample(len(bits), mine_records, seed=2)
    x = bits[learn]
    g, f, explained = decode_batch(x, names, positions, p_set, rates, top_k)
    done = 0
    while aligned and done < rounds:
        held = decoded_tokens(names, g, f)
        positions, p_set, rates = relearn_shifts(x, held, positions, p_set, rates, caps)
        g2, f2, explained = decode_batch(x, names, positions, p_set, rates, top_k)
        done += 1
        changed = float(np.mean((g2 != g) | (f2 != f)))
        g, f = g2, f2
        if changed < 0.005:
            break
    if len(learn) < len(bits):
        g, f, explained = decode_batch(bits, names, positions, p_set, rates, top_k)
    decoded = Decoded(
        given=g,
        family=f,
        itemsets=mined,
        aligned=aligned,
        tokens_learned=int(positions.any(axis=1).sum()),
        rounds=done,
        explained=explained,
    )
    return decoded, agreement
