"""Frequency attack: re-identify the names in keyed Bloom filters by pattern mining.

After Christen et al., *Pattern-mining based cryptanalysis of Bloom filters for PPRL* (PAKDD
2017, and the 2018 follow-up) and Kuzu et al. (2011). The adversary knows the schema and the
public name lists (:mod:`evaluation._attack_names`), not the secret, and holds one agency's
batch. On the segment the given and family names share:

1. **Mine** frequent bit sets (:func:`mine_itemsets`): from bit pairs of high lift or
   correlation, grow each set by the bit most often set among the records holding it, then
   close it; a set of at most ``k`` bits (the q-gram tokeniser's weight) that records hold
   all-or-nothing is taken for one q-gram's hash positions.
2. **Align** the sets with the public q-grams (:func:`align_itemsets`): seed-and-extend on
   conditional co-occurrence profiles (``P(set b | set a)`` against ``P(gram b | gram a)``
   under the public name model), each round a Hungarian assignment, restarted from the most
   frequent sets; alignments far costlier than the best quarter are dropped (and all of them
   if fewer than ten remain: too few to decode with).
3. **Decode and re-learn** (a hard EM, :mod:`evaluation._attack_decode`): name every record
   from the token evidence, re-learn each token's positions from the records decoded to hold
   it, repeat.

Mining and alignment run on a random sample of at most 20,000 records (more add time, not
strength); decoding and re-learning cover every record, a chunk at a time, so memory stays
bounded at 200,000 records.

:func:`frequency_attack` first undoes the schema's hardening (:mod:`evaluation._attack_adaptive`:
salt groups, balance's complement pairs, soft mining for XOR hardenings); with
``adaptive=False`` it mines the filters as they are -- blip's flip rate loosens every "all bits
set" test and nothing else is undone, so salt, xor-fold and diffusion leave it with the prior
(the most likely name pair for everyone). That plain attack is kept as the baseline the
adaptive one is measured against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import binom

from bloom import Schema, blip_flip_probability
from evaluation._attack_decode import decode_batch, decoded_tokens, relearn_positions
from evaluation._attack_names import (
    PublicNames,
    expected_cooccurrence,
    filters_fit,
    public_names,
)

__all__ = [
    "Alignment",
    "Decoded",
    "FrequencyAttack",
    "align_itemsets",
    "align_sets",
    "as_attack",
    "decode_from",
    "frequency_attack",
    "mine_and_decode",
    "mine_and_decode_best",
    "mine_itemsets",
    "mining_sample",
    "qgram_width",
    "segment_bits",
]

_EXCESS = 0.5  # a bit joins a mined set only if its holders close this share of the gap to 1
_FALSE_HOLDERS = 0.01  # tolerated share of records holding a set by chance, under blip
_FREE_STEPS = 3  # growth steps taken before a bit must be set among 90% of the holders
_MIN_ALIGNED = 10  # fewer aligned q-grams than this: too little to decode with, use the prior


@dataclass(frozen=True)
class FrequencyAttack:
    """Per record, the re-identified given and family name (normalised), and how it went."""

    given: np.ndarray  # object array, one normalised name per record
    family: np.ndarray
    itemsets: int  # frequent bit sets mined
    aligned: int  # of them, aligned with a public q-gram
    tokens_learned: int  # tokens with known positions after the last round
    rounds: int  # decode / re-learn rounds run
    explained: float  # share of records whose decoded names' known tokens (3+) all show
    strategy: str = "mining"  # how the hardening was undone (see evaluation._attack_adaptive)
    groups: np.ndarray | None = None  # salted filters: the partition found, one label a record
    notes: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


def segment_bits(filters: np.ndarray, offset: int, nbits: int) -> np.ndarray:
    """``(n, nbits)`` bool: the bits of one segment (bit p is bit p % 64 of word p // 64)."""
    words = np.ascontiguousarray(filters[:, offset // 64 : (offset + nbits) // 64])
    return np.unpackbits(words.view(np.uint8), axis=1, bitorder="little").astype(bool)


# -- 1. mining ----------------------------------------------------------------------------
def _slack(sizes: np.ndarray, flip: float, density: float) -> np.ndarray:
    """Bits a holder of a set may miss: covers 95% of blip flips, rarely admits chance."""
    sizes = np.asarray(sizes)
    if flip <= 0:
        return np.zeros_like(sizes)
    out = binom.ppf(0.95, sizes, flip).astype(np.int64)
    for s in range(int(out.max()) + 1):
        chance = binom.sf(sizes - s - 1, sizes, density) > _FALSE_HOLDERS
        out = np.where(chance & (out >= s), s - 1, out)
    return np.maximum(out, 0)


def _holders(bits: np.ndarray, sets: np.ndarray, flip: float, density: float) -> np.ndarray:
    """``(n, sets)`` bool: the record holds (nearly) every bit of the set."""
    size = sets.sum(axis=1)
    need = size - _slack(size, flip, density)
    return (bits @ sets.T.astype(np.float32)) >= need[None, :] - 0.5


def _associated(
    cond: np.ndarray, density: np.ndarray, holders: np.ndarray, flip: float
) -> np.ndarray:
    """Bits set among a set's holders well above their base rate: ``P(bit | holder)`` closes at
    least half the gap from the bit's density to 1, and by at least 4 standard errors (keeps
    out the complements of sparse bits that balance adds, which are set almost everywhere)."""
    p = density[None, :]
    excess = cond - p
    error = np.sqrt(p * (1 - p) / np.maximum(holders, 1)[:, None])
    return (excess >= _EXCESS * (1 - p) * (1 - 2 * flip)) & (excess >= 4 * error)


def _seeds(bits: np.ndarray, count: int, min_records: int) -> np.ndarray:
    """Bit pairs set together in enough records: half the ``count`` of highest lift (rare
    q-grams), half of highest correlation (frequent q-grams, whose bits are dense)."""
    n, m = bits.shape
    p = bits.mean(axis=0)
    iu = np.triu_indices(m, 1)
    both = (bits.T @ bits)[iu] / n
    pi, pj = p[iu[0]], p[iu[1]]
    enough = both * n >= min_records
    lift = np.where(enough, both / np.maximum(pi * pj, 1e-9), 0)
    phi = np.where(
        enough, (both - pi * pj) / np.maximum(np.sqrt(pi * (1 - pi) * pj * (1 - pj)), 1e-9), 0
    )
    by_lift = np.argsort(-lift, kind="stable")[: count // 2]
    by_phi = np.argsort(-phi, kind="stable")[: count // 2]
    order = np.union1d(by_lift[lift[by_lift] > 1.2], by_phi[phi[by_phi] > 0.1])
    sets = np.zeros((order.size, m), dtype=bool)
    sets[np.arange(order.size), iu[0][order]] = True
    sets[np.arange(order.size), iu[1][order]] = True
    return sets


def _grow(x: np.ndarray, sets: np.ndarray, width: int, flip: float) -> np.ndarray:
    """Grow each seed pair, one bit at a time, by the bit most often set among its holders; a
    set stops once no bit is set among 90% of them (the first steps always add one)."""
    density, p = float(x.mean()), x.mean(axis=0)
    active = np.ones(len(sets), dtype=bool)
    for step in range(width - 2):
        held = _holders(x, sets, flip, density).T.astype(np.float32)
        count = held.sum(axis=1)
        cond = (held @ x) / np.maximum(count, 1)[:, None]
        cond[sets | ~_associated(cond, p, count, flip)] = -1
        best = cond.argmax(axis=1)
        active &= (cond[np.arange(len(sets)), best] >= 0.9 * (1 - flip)) | (step < _FREE_STEPS)
        active &= sets.sum(axis=1) < width
        sets[np.flatnonzero(active), best[active]] = True
    held = _holders(x, sets, flip, density).T.astype(np.float32)
    count = held.sum(axis=1)
    cond = (held @ x) / np.maximum(count, 1)[:, None]
    return np.unique((cond >= 0.95 * (1 - flip)) & _associated(cond, p, count, flip), axis=0)


def _all_or_nothing(x: np.ndarray, sets: np.ndarray, flip: float, min_records: int):
    """Sets whose holders are numerous and sharply cut: few records hold all but one more bit
    (under blip, holders that missed one more flip count too, so the cut is loosened by
    ``1 - 2 flip``: with a fixed 0.8 blip at epsilon 2 kept 25 sets and the attack failed;
    loosened, 90 sets, and 0.82 of given names re-identified at 3,200 records).
    Near-duplicates (sharing 70% of the smaller set) keep the sharpest, then the largest."""
    size = sets.sum(axis=1)
    counts = x @ sets.T.astype(np.float32)
    need = size - _slack(size, flip, float(x.mean()))
    full = (counts >= need[None, :] - 0.5).sum(axis=0)
    near = (counts >= need[None, :] - 1.5).sum(axis=0)
    sharp = full / np.maximum(near, 1)
    ok = np.flatnonzero((full >= min_records) & (sharp >= 0.8 * (1 - 2 * flip)) & (size >= 3))
    overlap = sets[ok].astype(np.int32) @ sets[ok].T.astype(np.int32)
    smaller = np.minimum(size[ok][:, None], size[ok][None, :])
    kept: list[int] = []
    for i in np.lexsort((-size[ok], -sharp[ok])):
        if all(overlap[i, j] < 0.7 * smaller[i, j] for j in kept):
            kept.append(int(i))
    keep = ok[np.sort(np.asarray(kept, dtype=np.int64))]
    return sets[keep], full[keep] / len(x)


def mine_itemsets(
    bits: np.ndarray,
    width: int,
    flip: float = 0.0,
    *,
    min_support: float = 0.02,
    seeds: int = 4000,
) -> tuple[np.ndarray, np.ndarray]:
    """Frequent bit sets of at most ``width`` bits that records hold all-or-nothing, each held
    by at least ``min_support`` of the records (and 5 of them).

    Returns ``(sets, support)``: ``(k, m)`` bool and the share of records holding each.
    """
    x = bits.astype(np.float32)
    min_records = max(5, int(np.ceil(min_support * len(x))))
    sets = _seeds(x, seeds, min_records)
    if not len(sets):
        return sets, np.zeros(0)
    sets = _grow(x, sets, width, flip)
    return _all_or_nothing(x, sets[sets.sum(axis=1) <= width], flip, min_records)


# -- 2. alignment -------------------------------------------------------------------------
_L1_CELLS = 1 << 16  # (rows, columns, features) cells made at once by _l1: stays in cache


def _l1(a: np.ndarray, b: np.ndarray, cells: int = _L1_CELLS) -> np.ndarray:
    """``(len(a), len(b))``: the L1 distance of every row of ``a`` to every row of ``b`` --
    ``np.abs(a[:, None, :] - b[None, :, :]).sum(2)`` to the last bit, a block of rows at a
    time (the whole difference array at 300 sets is hundreds of MB: 3x slower)."""
    out = np.empty((len(a), len(b)), dtype=np.result_type(a, b))
    step = max(1, cells // max(1, b.size))
    for lo in range(0, len(a), step):
        diff = a[lo : lo + step, None, :] - b[None, :, :]
        np.abs(diff, out=diff)
        diff.sum(2, out=out[lo : lo + step])
    return out


def _extend(
    seen: np.ndarray, expected: np.ndarray, by_support: np.ndarray, seed: int, token: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seed-and-extend from one aligned pair: assign every set by how its co-occurrence with
    the seeds matches each q-gram's with theirs, then take the cheapest 1.5x as new seeds."""
    k = len(seen)
    seeds, pick = np.array([seed]), np.full(k, -1)
    pick[seed] = token
    while True:
        a1, a2 = seen[:, seeds], seen[seeds, :].T
        b1, b2 = expected[:, pick[seeds]], expected[pick[seeds], :].T
        profile = _l1(a1, b1)
        profile += _l1(a2, b2)
        cost = profile / (2 * len(seeds)) + 0.03 * by_support
        rows, cols = linear_sum_assignment(cost)
        pick = cols[np.argsort(rows)]
        if len(seeds) >= k:
            return pick, cost[np.arange(k), pick]
        seeds = np.argsort(cost[np.arange(k), pick], kind="stable")[: int(len(seeds) * 1.5) + 1]


def align_itemsets(
    held: np.ndarray,
    support: np.ndarray,
    names: PublicNames,
    grams: np.ndarray,
    seeds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Token id (from ``grams``) for each mined set, and the cost of that alignment.

    Each of the first seeds (default: the three most frequent sets) is tried with each of the
    three q-grams closest in support; the run with the lowest median cost wins.
    """
    h = held.astype(np.float32)
    seen = (h.T @ h) / len(h) / support[:, None]  # P(set b | set a)
    joint = expected_cooccurrence(names, grams)
    expected = joint / np.diag(joint)[:, None]  # P(gram b | gram a)
    by_support = np.abs(np.log(support)[:, None] - np.log(np.diag(joint))[None, :])
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    first = np.argsort(-support, kind="stable")[:3] if seeds is None else seeds
    for seed in first:
        for token in np.argsort(by_support[seed], kind="stable")[:3]:
            pick, cost = _extend(seen, expected, by_support, int(seed), int(token))
            if best is None or np.median(cost) < best[0]:
                best = (float(np.median(cost)), pick, cost)
    assert best is not None
    return grams[best[1]], best[2]


def _check(
    filters: object,
    schema: Schema,
    names: PublicNames | None,
    rounds: object,
    min_support: object,
    top_k: object,
) -> None:
    problems = []
    if not filters_fit(filters, schema, 1):
        problems.append(f"filters must be a non-empty (n, {schema.filter_words}) uint64 array")
    if names is not None and names.segment not in {s.name for s in schema.segments}:
        problems.append(f"names were built for segment '{names.segment}', not in this schema")
    for param, value, low in (("rounds", rounds, 0), ("top_k", top_k, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            problems.append(f"{param} must be an integer of {low} or more")
    if not (
        isinstance(min_support, float | int)
        and not isinstance(min_support, bool)
        and 0 < min_support < 1
    ):
        problems.append("min_support must be a number between 0 and 1 (exclusive)")
    if problems:
        raise ValueError("bad parameters for frequency_attack: " + "; ".join(problems))


@dataclass(frozen=True)
class Alignment:
    """Token positions from mined bit sets aligned with one public name model."""

    positions: np.ndarray  # (tokens, m) bool
    mined: int  # bit sets mined
    aligned: int  # of them, kept as aligned with a q-gram (0: too few, use the prior)
    cost: float  # median cost of the kept alignments: lower when the model fits the batch


def qgram_width(names: PublicNames) -> int:
    """Hash positions of a q-gram: the weight most q-gram tokens have."""
    return int(np.bincount(names.weights[names.qgram]).argmax())


def align_sets(
    bits: np.ndarray, sets: np.ndarray, support: np.ndarray, names: PublicNames, flip: float
) -> Alignment:
    """Align mined bit sets with the q-grams of ``names``; the well-aligned ones give tokens'
    positions (alignments far costlier than the best quarter are dropped, and all of them if
    fewer than ten remain)."""
    width = qgram_width(names)
    positions = np.zeros((len(names.tokens), bits.shape[1]), dtype=bool)
    if not len(sets):
        return Alignment(positions, 0, 0, np.inf)
    grams = np.flatnonzero(names.qgram & (names.weights == width))
    grams = grams[np.argsort(-names.token_support()[grams], kind="stable")]
    grams = grams[: int(1.5 * len(sets)) + 1]
    held = _holders(bits.astype(np.float32), sets, flip, float(bits.mean()))
    token, cost = align_itemsets(held, support, names, grams)
    good = cost <= 2.5 * np.percentile(cost, 25)
    if good.sum() < _MIN_ALIGNED:
        return Alignment(positions, len(sets), 0, np.inf)
    positions[token[good]] = sets[good]
    return Alignment(positions, len(sets), int(good.sum()), float(np.median(cost[good])))


@dataclass(frozen=True)
class Decoded:
    """What mining, alignment and decoding made of one bit matrix (name indices per record)."""

    given: np.ndarray  # index into names.given.names, one per record
    family: np.ndarray  # index into names.family.names
    itemsets: int
    aligned: int
    tokens_learned: int
    rounds: int
    explained: float


def mining_sample(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` records, drawn at random: mining and
    alignment need a few thousand records; more only cost time and memory."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def decode_from(
    bits: np.ndarray,
    names: PublicNames,
    start: Alignment,
    flip: float,
    *,
    rounds: int,
    top_k: int,
    learn_records: int = 30_000,
) -> Decoded:
    """Decode the records from the aligned positions, then re-learn the positions from them and
    decode again, up to ``rounds`` times, stopping once fewer than 0.5% of the records change
    their names. The re-learning runs on a sample of ``learn_records`` records; every record
    is then decoded once with the positions learned."""
    learn = mining_sample(len(bits), learn_records, seed=2)
    x = bits[learn]
    positions = start.positions
    density = x.mean(axis=0)
    p_set = np.where(positions, 1 - flip, 0.0)
    g, f, explained = decode_batch(x, names, positions, p_set, density, top_k)
    done = 0
    while start.aligned and done < rounds:
        held = decoded_tokens(names, g, f)
        positions, p_set = relearn_positions(x, held, positions, names.weights, flip)
        g2, f2, explained = decode_batch(x, names, positions, p_set, density, top_k)
        done += 1
        changed = float(np.mean((g2 != g) | (f2 != f)))
        g, f = g2, f2
        if changed < 0.005:
            break
    if len(learn) < len(bits):
        density = bits.mean(axis=0)
        g, f, explained = decode_batch(bits, names, positions, p_set, density, top_k)
    return Decoded(
        given=g,
        family=f,
        itemsets=start.mined,
        aligned=start.aligned,
        tokens_learned=int(positions.any(axis=1).sum()),
        rounds=done,
        explained=explained,
    )


def mine_and_decode_best(
    bits: np.ndarray,
    models: Sequence[PublicNames],
    flip: float = 0.0,
    *,
    rounds: int = 4,
    min_support: float = 0.02,
    top_k: int = 12,
    mine_records: int = 20_000,
) -> tuple[Decoded, PublicNames]:
    """Mine once on (a sample of ``mine_records`` of) the records, align the sets with each
    public name model in turn, and decode with the model that aligns at the lowest cost.
    ``bits``: ``(n, m)`` bool, one segment; ``flip``: the chance any bit was flipped (blip)."""
    sample = mining_sample(len(bits), mine_records)
    x = bits[sample]
    sets, support = mine_itemsets(x, qgram_width(models[0]), flip, min_support=min_support)
    starts = [align_sets(x, sets, support, model, flip) for model in models]
    best = int(np.argmin([start.cost for start in starts]))
    model = models[best]
    return decode_from(bits, model, starts[best], flip, rounds=rounds, top_k=top_k), model


def mine_and_decode(
    bits: np.ndarray,
    names: PublicNames,
    flip: float = 0.0,
    *,
    rounds: int = 4,
    min_support: float = 0.02,
    top_k: int = 12,
    mine_records: int = 20_000,
) -> Decoded:
    """:func:`mine_and_decode_best` with one name model."""
    decoded, _ = mine_and_decode_best(
        bits,
        [names],
        flip,
        rounds=rounds,
        min_support=min_support,
        top_k=top_k,
        mine_records=mine_records,
    )
    return decoded


def frequency_attack(
    filters: np.ndarray,
    schema: Schema,
    names: PublicNames | None = None,
    *,
    rounds: int = 4,
    min_support: float = 0.02,
    top_k: int = 12,
    adaptive: bool = True,
) -> FrequencyAttack:
    """Re-identify the given and family name of every record of an encoded batch.

    ``filters``: ``(n, schema.filter_words)`` uint64, one agency's batch. ``names``: the
    attacker's public knowledge (default :func:`public_names` of ``schema``). ``rounds``:
    decode / re-learn rounds after the first decode (it stops early once stable).
    ``min_support``: share of records holding the rarest bit set mined. ``top_k``: names per
    field (by score, and again by consistency) kept for the pair search of each record.
    ``adaptive``: undo the schema's hardening first (:mod:`evaluation._attack_adaptive`); with
    ``False`` the plain mining runs on the filters as they are (blip only loosens its tests),
    the attack of the first privacy table, kept as the baseline the adaptive one must beat.
    """
    _check(filters, schema, names, rounds, min_support, top_k)
    names = names if names is not None else public_names(schema)
    if adaptive:
        from evaluation._attack_adaptive import adaptive_attack  # it builds on this module

        return adaptive_attack(
            filters, schema, names, rounds=rounds, min_support=min_support, top_k=top_k
        )
    seg = schema.segment(names.segment)
    bits = segment_bits(filters, seg.out_offset, seg.out_bits)
    h = schema.hardening
    flip = blip_flip_probability(h.blip_epsilon) if h.blip_epsilon is not None else 0.0
    decoded = mine_and_decode(
        bits, names, flip, rounds=rounds, min_support=float(min_support), top_k=top_k
    )
    return as_attack(decoded, names, "mining")


def as_attack(
    decoded: Decoded,
    names: PublicNames,
    strategy: str,
    groups: np.ndarray | None = None,
    notes: Mapping[str, float] | None = None,
) -> FrequencyAttack:
    """The public result of one decoded batch: names instead of indices."""
    return FrequencyAttack(
        given=names.given.names[decoded.given],
        family=names.family.names[decoded.family],
        itemsets=decoded.itemsets,
        aligned=decoded.aligned,
        tokens_learned=decoded.tokens_learned,
        rounds=decoded.rounds,
        explained=decoded.explained,
        strategy=strategy,
        groups=groups,
        notes=MappingProxyType(dict(notes or {})),
    )
