"""every replica's tracing index learns of the registry changes the others made

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:00:00

``agreements.index_version`` numbers the changes of an agreement's registry (a run stored, a
record withdrawn, a batch purged), bumped in the transaction of each; ``index_changes`` holds
the latest of them with the registry ids each touched (NULL: not named, compare the whole
registry). A replica compares the number with the one its index reflects before it answers a
tracing query (``service._index_store``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreements") as batch:
        batch.add_column(
            sa.Column("index_version", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "index_changes",
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("registry_ids", sa.JSON(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", "version"),
    )


def downgrade() -> None:
    op.drop_table("index_changes")
    with op.batch_alter_table("agreements") as batch:
        batch.drop_column("index_version")
