"""clerical review: the queue of uncertain links, each agreement's band, the registry's constraints

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 09:00:00

``registry_constraints`` (the registry's, :mod:`linkage`): must-link and cannot-link pairs
of registry records that people's agreeing review decisions made; every later run respects
them.

``review_items``: the links of an agreement's registry whose probability is inside its band,
queued for the two agencies holding their records, with each agency's decision and the
item's status; an item goes with either of its records (``ON DELETE CASCADE``).

``review_bands``: the band an agreement's steward set (none: the default band).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_constraints",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("rec_a", sa.BigInteger(), nullable=False),
        sa.Column("rec_b", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("scope", "rec_a", "rec_b"),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column("rec_a", sa.BigInteger(), nullable=False),
        sa.Column("rec_b", sa.BigInteger(), nullable=False),
        sa.Column("agency_a", sa.String(length=64), nullable=False),
        sa.Column("agency_b", sa.String(length=64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("queued_by_run", sa.String(length=32), nullable=False),
        sa.Column("queued_at", _WHEN, nullable=False),
        sa.Column("decision_a", sa.String(length=16), nullable=True),
        sa.Column("decision_b", sa.String(length=16), nullable=True),
        sa.Column("decided_a_at", _WHEN, nullable=True),
        sa.Column("decided_b_at", _WHEN, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.id"]),
        sa.ForeignKeyConstraint(["rec_a"], ["registry_records.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rec_b"], ["registry_records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agreement_id", "rec_a", "rec_b", name="uq_review_pair"),
    )
    for column in ("agreement_id", "rec_a", "rec_b"):
        op.create_index(f"ix_review_items_{column}", "review_items", [column])
    op.create_table(
        "review_bands",
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.id"]),
        sa.PrimaryKeyConstraint("agreement_id"),
    )


def downgrade() -> None:
    op.drop_table("review_bands")
    for column in ("agreement_id", "rec_a", "rec_b"):
        op.drop_index(f"ix_review_items_{column}", table_name="review_items")
    op.drop_table("review_items")
    op.drop_table("registry_constraints")
