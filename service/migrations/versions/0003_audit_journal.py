"""how far each audit journal file was folded into the audit chains

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 20:10:00

The audit writer journals the entries of reads to a file while a bulk write holds the
chain's lock, and folds them into their chains later (``service._audit_journal``). A fold
records here, in its own transaction, the last line of each file it folded: a crash after
the fold skips those lines instead of folding them twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_journal_folds",
        sa.Column("journal", sa.String(length=64), nullable=False),
        sa.Column("folded", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("folded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("journal"),
    )


def downgrade() -> None:
    op.drop_table("audit_journal_folds")
