"""Undo salting: split a batch into the groups that share a salt, so each can be mined alone.

A salt (say the year of birth) is mixed into the keyed hash of every token, so the same q-gram
lands on other positions in each salt group: mining the whole batch finds nothing, since no bit
set is common across groups. Within one group, though, the filters are plain Bloom filters. The
attacker knows from the schema which field salts the filters, and the salt leaves two signals:

* **the salt field's own segment** -- a field is never salted by itself, so records with the
  same value of the salt field carry the same bits there (under blip, nearly the same bits);
  grouping by that pattern gives the salt groups, or groups finer than them (a segment may
  hold more of the field than the salt takes, e.g. a date's day when the salt is its year);
* **shared positions** -- records of one salt group share the positions of their common
  q-grams, so the bit-density profiles of two groups with the same salt agree, and those of
  different salts do not. Groups whose profiles agree are merged (:func:`merge_by_profile`);
  when the salt field has no segment of its own, a Bernoulli mixture over the name segment,
  started from the mutual nearest neighbours of the records, finds the groups from this
  signal alone (:func:`mixture_groups`).

:func:`partition_agreement` scores a partition against the true salt values (evaluation only:
the attacker never sees them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bloom import Schema
from evaluation._attack_freq import mining_sample, segment_bits

__all__ = [
    "SaltPartition",
    "merge_by_profile",
    "mixture_groups",
    "partition_agreement",
    "salt_partition",
]

_MERGE_CORR = 0.45  # profiles of one salt correlate ~0.6-0.9 once groups hold 20+ records
_MERGE_MIN = 12  # groups smaller than this have profiles too noisy to merge on
_NEIGHBOURS = 8
_EM_ROUNDS = 8


@dataclass(frozen=True)
class SaltPartition:
    """One group label per record, and where the groups came from."""

    labels: np.ndarray  # (n,) int64, 0..groups-1
    source: str  # "salt segment", "salt segment + profiles" or "name bits"

    @property
    def groups(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def _pattern_groups(bits: np.ndarray) -> np.ndarray:
    """Label records by their exact bit pattern (identical rows share a label)."""
    packed = np.packbits(bits, axis=1)
    _, labels = np.unique(packed, axis=0, return_inverse=True)
    return labels.ravel().astype(np.int64)


def _profiles(bits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group: its size and the share of its records setting each bit."""
    k = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    onehot = coo_matrix(
        (np.ones(len(labels), np.float32), (labels, np.arange(len(labels)))),
        shape=(k, len(labels)),
    ).tocsr()
    sums = np.asarray(onehot @ bits.astype(np.float32))
    return sizes, sums / np.maximum(sizes, 1)[:, None]


def merge_by_profile(
    bits: np.ndarray, labels: np.ndarray, merge_corr: float = _MERGE_CORR
) -> np.ndarray:
    """Merge groups (of at least ``_MERGE_MIN`` records) whose bit-density profiles correlate
    above ``merge_corr``: they hash the same q-grams to the same positions, so share a salt."""
    sizes, prof = _profiles(bits, labels)
    big = np.flatnonzero(sizes >= _MERGE_MIN)
    if len(big) < 2:
        return labels
    p = prof[big] - prof[big].mean(axis=1, keepdims=True)
    p /= np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-9)
    corr = p @ p.T
    np.fill_diagonal(corr, 0)
    i, j = np.nonzero(corr > merge_corr)
    k = int(labels.max()) + 1
    graph = coo_matrix((np.ones(len(i)), (big[i], big[j])), shape=(k, k))
    _, comp = connected_components(graph, directed=False)
    _, relabel = np.unique(comp[labels], return_inverse=True)
    return relabel.ravel().astype(np.int64)


def _mutual_neighbour_groups(bits: np.ndarray) -> np.ndarray:
    """Seed groups: connected components of the mutual ``_NEIGHBOURS``-nearest-neighbour graph,
    records scored by how many more bits they share than chance."""
    x = bits.astype(np.float32)
    n = len(x)
    p = x.mean(axis=1, keepdims=True)
    shared = x @ x.T
    expected = (p * p.T) * x.shape[1]
    z = (shared - expected) / np.sqrt(np.maximum(expected, 1.0))
    np.fill_diagonal(z, -np.inf)
    k = min(_NEIGHBOURS, n - 1)
    near = np.argpartition(-z, k - 1, axis=1)[:, :k]
    adj = np.zeros((n, n), dtype=bool)
    adj[np.repeat(np.arange(n), k), near.ravel()] = True
    mutual = adj & adj.T
    _, labels = connected_components(coo_matrix(mutual), directed=False)
    return labels.astype(np.int64)


def _assign(bits: np.ndarray, prof: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Each record to the group under whose Bernoulli profile it is likeliest."""
    q = np.clip(prof, 0.02, 0.98).astype(np.float32)
    x = bits.astype(np.float32)
    log_lik = x @ np.log(q).T + (1 - x) @ np.log(1 - q).T + np.log(sizes / sizes.sum())[None]
    return log_lik.argmax(axis=1).astype(np.int64)


def mixture_groups(
    bits: np.ndarray, sample: int = 6000, merge_corr: float = _MERGE_CORR
) -> np.ndarray:
    """Salt groups from the name bits alone: seed groups from mutual nearest neighbours on a
    sample, merge them by profile, then a hard-EM Bernoulli mixture over every record."""
    idx = mining_sample(len(bits), sample, seed=1)
    seeds = merge_by_profile(bits[idx], _mutual_neighbour_groups(bits[idx]), merge_corr)
    sizes, prof = _profiles(bits[idx], seeds)
    keep = sizes >= _MERGE_MIN // 2
    if not keep.any():
        return np.zeros(len(bits), dtype=np.int64)
    sizes, prof = sizes[keep], prof[keep]
    labels = _assign(bits, prof, sizes)
    for _ in range(_EM_ROUNDS):
        _, labels = np.unique(labels, return_inverse=True)
        sizes, prof = _profiles(bits, labels.ravel())
        new = _assign(bits, prof, sizes)
        if np.array_equal(new, labels.ravel()):
            break
        labels = new
    _, labels = np.unique(labels, return_inverse=True)
    return merge_by_profile(bits, labels.ravel().astype(np.int64), merge_corr)


def salt_partition(filters: np.ndarray, schema: Schema, name_bits: np.ndarray) -> SaltPartition:
    """Partition the batch by what the salt leaves: the salt field's own segment when the schema
    gives it one, then groups of one salt merged by profile; else the name bits alone."""
    h = schema.hardening
    field = next(f for f in schema.fields if f.name == h.salt_field)
    seg = schema.segment(field.segment)
    salted_fields = [f for f in schema.fields if f.segment == seg.name]
    if len(salted_fields) == 1:  # the segment holds the salt field only: it is not salted
        labels = _pattern_groups(segment_bits(filters, seg.out_offset, seg.out_bits))
        merged = merge_by_profile(name_bits, labels)
        source = "salt segment" if merged.max() == labels.max() else "salt segment + profiles"
        return SaltPartition(labels=merged, source=source)
    return SaltPartition(labels=mixture_groups(name_bits), source="name bits")


def partition_agreement(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """How well ``labels`` recover the true salt groups ``truth`` (one value per record).

    ``purity``: share of records whose group's most common salt is theirs (1 when no group
    mixes salts); ``completeness``: share of records whose salt's most common group is theirs
    (1 when no salt is split); ``groups``/``salts``: how many of each.
    """
    _, t = np.unique(np.asarray(truth).astype(str), return_inverse=True)
    _, g = np.unique(labels, return_inverse=True)
    t, g = t.ravel(), g.ravel()
    table = coo_matrix((np.ones(len(t)), (g, t))).toarray()
    return {
        "purity": float(table.max(axis=1).sum() / len(t)),
        "completeness": float(table.max(axis=0).sum() / len(t)),
        "groups": float(table.shape[0]),
        "salts": float(table.shape[1]),
    }
