"""agreements and batches record the key check value of the secret their batches use

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 09:00:00

``agreements.key_check`` is the key check value (``bloom.key_check_value``: ``kcv1:`` and 16
hex digits) of the agreement's shared secret: set when the steward creates the agreement, or
by its first accepted batch that carries one. A batch or tracing query with another value was
encoded with a different secret and is refused. ``batches.key_check`` is the value each
stored batch carried (NULL: a batch from a caselink that wrote none). Both are NULL in
databases made before: such agreements take the value of their next batch that has one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreements") as batch:
        batch.add_column(sa.Column("key_check", sa.String(length=24), nullable=True))
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("key_check", sa.String(length=24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("key_check")
    with op.batch_alter_table("agreements") as batch:
        batch.drop_column("key_check")
