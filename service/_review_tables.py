"""The tables of clerical review (migration 0012), on the service's metadata.

- ``review_items``: one uncertain link of an agreement's registry queued for its two
  agencies (sides ``a`` and ``b``: the registry records ``rec_a < rec_b`` and their agencies),
  the probability when it was queued, each side's decision (``same``, ``different``,
  ``unsure``; NULL until made) and the item's status (:mod:`service._review`). An item goes
  with either of its records (``ON DELETE CASCADE`` on ``registry_records``: a withdrawal or a
  retention purge takes it).
- ``review_bands``: an agreement's band of probability whose links are queued, when its
  steward set one (``low`` and ``high`` both NULL: no queue); without a row, the default
  (:data:`service._review.DEFAULT_REVIEW_BAND`).

The constraints that agreeing decisions make are the registry's own
(``registry_constraints``, :func:`linkage.add_constraint`).
"""

from __future__ import annotations

import sqlalchemy as sa

import linkage
from service._tables import When, metadata

__all__ = ["review_bands", "review_items"]

_records = linkage.registry_metadata.tables["registry_records"]

review_items = sa.Table(
    "review_items",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # rev_ and 16 hex digits
    sa.Column("agreement_id", sa.ForeignKey("agreements.id"), nullable=False, index=True),
    sa.Column(
        "rec_a",
        sa.BigInteger,
        sa.ForeignKey(_records.c.id, ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column(
        "rec_b",
        sa.BigInteger,
        sa.ForeignKey(_records.c.id, ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("agency_a", sa.String(64), nullable=False),
    sa.Column("agency_b", sa.String(64), nullable=False),
    sa.Column("probability", sa.Float, nullable=False),  # when it was queued
    sa.Column("queued_by_run", sa.String(32), nullable=False),
    sa.Column("queued_at", When(), nullable=False),
    sa.Column("decision_a", sa.String(16), nullable=True),  # same | different | unsure
    sa.Column("decision_b", sa.String(16), nullable=True),
    sa.Column("decided_a_at", When(), nullable=True),
    sa.Column("decided_b_at", When(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # open|unsure|disagreed|same|different
    sa.Column("resolved_at", When(), nullable=True),  # when agreeing decisions made a constraint
    sa.UniqueConstraint("agreement_id", "rec_a", "rec_b", name="uq_review_pair"),
)
review_bands = sa.Table(
    "review_bands",
    metadata,
    sa.Column("agreement_id", sa.ForeignKey("agreements.id"), primary_key=True),
    sa.Column("low", sa.Float, nullable=True),
    sa.Column("high", sa.Float, nullable=True),
)
