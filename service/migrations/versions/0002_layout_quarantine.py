"""agreements record their segment layout; batches can be quarantined with a reason

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 09:10:00

``agreements.segments`` is the segment layout ``[[name, bits], ...]`` of the agreement's
schema: every upload must carry exactly this layout. Agreements made before it hold NULL and
take the layout of their first accepted batch.

``batches.quarantine_reason`` says why a batch was set aside (status ``quarantined``) instead
of being linked: a run never fails because of one batch.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreements") as batch:
        batch.add_column(sa.Column("segments", sa.JSON(), nullable=True))
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("quarantine_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("quarantine_reason")
    with op.batch_alter_table("agreements") as batch:
        batch.drop_column("segments")
