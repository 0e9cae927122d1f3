"""Must-link and cannot-link constraints between registry records: stored, read, clustered.

People who resolved an uncertain link (clerical review: the service's review queue) say two
records are the same person or two different people. Such a decision is a constraint on
every later run, stored in the registry's table ``registry_constraints`` (scope, the two
record ids ``rec_a < rec_b``, ``kind``: ``must`` or ``cannot``), which the registry's own
create path and the service's migration 0012 make. A record's constraints go with it
(:func:`drop_constraints`, which :meth:`linkage.Registry.remove` calls).

Clustering respects them through :class:`PositionConstraints` (the records as positions of
one run), two hooks in :func:`linkage.cluster`:

- **cannot-link**: each pair gets one more bit of the agency masks that keep two records of
  one agency apart, set on both its records: a component holding one of them never joins a
  component holding the other, exactly as two components sharing an agency never join, in
  the same compiled union-find. The masks grow by one bit per pair, for every record of the
  run: ``(pairs + agencies) / 64`` words of 8 bytes a record (1,000 pairs on 100,000
  records: 13 MB);
- **must-link**: the pairs are joined first, before any scored link, under the same rule: a
  join that would put two records of one agency in one case (where the agreement allows no
  duplicates), or both ends of a cannot-link pair, is not made — the run says so
  (:class:`linkage.ConstraintOutcome`), and the rule holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import sqlalchemy as sa

from caselink_errors import LinkageError, RegistryError
from linkage._registry import metadata
from linkage._unionfind import join_links

__all__ = [
    "KINDS",
    "Constraints",
    "PositionConstraints",
    "add_constraint",
    "constrained_links",
    "constraints_table",
    "drop_constraints",
    "read_constraints",
]

KINDS = ("must", "cannot")
Kind = Literal["must", "cannot"]
_IN_LIST = 900  # ids per IN list: under SQLite's bound-parameter limit everywhere

constraints_table = sa.Table(
    "registry_constraints",
    metadata,
    sa.Column("scope", sa.String(100), primary_key=True),
    sa.Column("rec_a", sa.BigInteger, primary_key=True),
    sa.Column("rec_b", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),  # must | cannot
)


def _pairs(values: Iterable[tuple[int, int]] | np.ndarray, name: str) -> np.ndarray:
    """``(k, 2)`` int64 pairs, each ``(smaller, larger)``, distinct, sorted."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    arr = arr.reshape(-1, 2) if arr.size else np.zeros((0, 2), np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise LinkageError(f"{name}: pairs of record ids (integers)")
    arr = np.sort(arr.astype(np.int64), axis=1)
    if (arr[:, 0] == arr[:, 1]).any():
        raise LinkageError(f"{name}: a pair names one record twice")
    return np.unique(arr, axis=0)


def _rows(pairs: np.ndarray) -> np.ndarray:
    """``(k, 2)`` pairs as ``k`` records, so that ``np.isin`` compares whole pairs."""
    return np.rec.fromarrays([pairs[:, 0], pairs[:, 1]])


@dataclass(frozen=True, eq=False)
class Constraints:
    """Must-link and cannot-link pairs of registry records, by registry id: ``(k, 2)`` int64
    arrays, each row ``(smaller id, larger id)``, sorted and distinct. A pair is in one
    array at most (:meth:`of` refuses a pair in both)."""

    must: np.ndarray
    cannot: np.ndarray

    @classmethod
    def of(
        cls,
        must: Iterable[tuple[int, int]] | np.ndarray = (),
        cannot: Iterable[tuple[int, int]] | np.ndarray = (),
    ) -> Constraints:
        m, c = _pairs(must, "must"), _pairs(cannot, "cannot")
        both = int(np.isin(_rows(m), _rows(c)).sum())
        if both:
            raise LinkageError(f"{both} pair(s) are both must-link and cannot-link")
        return cls(m, c)

    @classmethod
    def empty(cls) -> Constraints:
        return cls.of()

    def __len__(self) -> int:
        return len(self.must) + len(self.cannot)


def read_constraints(connection: sa.Connection, scope: str) -> Constraints:
    """Every constraint of the registry ``scope``."""
    k = constraints_table.c
    rows = connection.execute(
        sa.select(k.rec_a, k.rec_b, k.kind).where(k.scope == scope).order_by(k.rec_a, k.rec_b)
    ).all()
    must = [(int(r.rec_a), int(r.rec_b)) for r in rows if r.kind == "must"]
    cannot = [(int(r.rec_a), int(r.rec_b)) for r in rows if r.kind == "cannot"]
    return Constraints.of(must, cannot)


def add_constraint(
    connection: sa.Connection, scope: str, rec_a: int, rec_b: int, kind: str
) -> bool:
    """Store that records ``rec_a`` and ``rec_b`` (registry ids) must be (``must``) or may
    never be (``cannot``) in one case; returns False when it was stored already. Raises
    :class:`RegistryError` when the pair holds the other kind, or a record is not in the
    registry ``scope``; :class:`LinkageError` for a kind that is neither."""
    from linkage._registry import records_table

    if kind not in KINDS:
        raise LinkageError(f"kind: 'must' or 'cannot', not {kind!r}")
    a, b = sorted((int(rec_a), int(rec_b)))
    if a == b:
        raise LinkageError("a constraint needs two different records")
    r, k = records_table.c, constraints_table.c
    held = connection.execute(
        sa.select(sa.func.count()).where(r.scope == scope, r.id.in_([a, b]))
    ).scalar_one()
    if held != 2:
        raise RegistryError(
            "a record of this constraint is not in the registry (withdrawn or purged)"
        )
    now = connection.execute(
        sa.select(k.kind).where(k.scope == scope, k.rec_a == a, k.rec_b == b)
    ).scalar_one_or_none()
    if now == kind:
        return False
    if now is not None:
        raise RegistryError(
            f"records {a} and {b} have a {now}-link constraint already; it is never reversed"
        )
    connection.execute(constraints_table.insert().values(scope=scope, rec_a=a, rec_b=b, kind=kind))
    return True


def drop_constraints(connection: sa.Connection, scope: str, record_ids: Iterable[int]) -> int:
    """Delete the constraints naming any of ``record_ids``; returns how many went."""
    k = constraints_table.c
    ids = [int(i) for i in record_ids]
    gone = 0
    for lo in range(0, len(ids), _IN_LIST):
        part = ids[lo : lo + _IN_LIST]
        gone += connection.execute(
            constraints_table.delete().where(
                k.scope == scope, sa.or_(k.rec_a.in_(part), k.rec_b.in_(part))
            )
        ).rowcount
    return gone


def constrained_links(
    must: np.ndarray, cannot: np.ndarray, links: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``links`` ``(a, b, p)`` as record confidence reads them under constraints (``(k, 2)``
    pairs, in the links' own numbering: registry ids or positions): a cannot-link pair's
    link counts as none (probability 0), a must-link pair as a link of probability 1."""
    a, b, p = (np.asarray(x) for x in links)
    if len(cannot):
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        c = np.sort(np.asarray(cannot, np.int64).reshape(-1, 2), axis=1)
        cut = np.isin(np.rec.fromarrays([lo, hi]), _rows(c))
        p = np.where(cut, 0.0, p)
    m = np.asarray(must, np.int64).reshape(-1, 2)
    return np.r_[a, m[:, 0]], np.r_[b, m[:, 1]], np.r_[p, np.ones(len(m))]


@dataclass(frozen=True, eq=False)
class PositionConstraints:
    """Constraints between the records of one clustering, as positions (int64 arrays):
    ``must_a[k]``-``must_b[k]`` and ``cannot_a[k]``-``cannot_b[k]``."""

    must_a: np.ndarray
    must_b: np.ndarray
    cannot_a: np.ndarray
    cannot_b: np.ndarray

    @property
    def separates(self) -> bool:
        """Whether a cannot-link pair keeps components apart (the masks must be checked)."""
        return len(self.cannot_a) > 0

    def masks(self, masks: np.ndarray) -> np.ndarray:
        """``masks`` (records × words, uint64) with one bit more per cannot-link pair, set
        on both of its records (module docstring)."""
        n, k = masks.shape[0], len(self.cannot_a)
        if not k:
            return masks
        base = masks.shape[1] * 64
        words = (base + k + 63) // 64
        out = np.zeros((n, words), dtype=np.uint64)
        out[:, : masks.shape[1]] = masks
        bit = base + np.arange(k, dtype=np.int64)
        one = np.uint64(1) << (bit % 64).astype(np.uint64)
        for ends in (self.cannot_a, self.cannot_b):  # np.bitwise_or.at: a record in many pairs
            np.bitwise_or.at(out, (ends, bit // 64), one)
        return out

    def join_must(self, parent: np.ndarray, masks: np.ndarray, exclusive: bool) -> int:
        """Join each must-link pair's components, in order, where ``masks`` allow it (with
        ``exclusive``); returns how many joins were made."""
        a = np.ascontiguousarray(self.must_a, dtype=np.int64)
        b = np.ascontiguousarray(self.must_b, dtype=np.int64)
        return int(join_links(parent, masks, a, b, exclusive))
