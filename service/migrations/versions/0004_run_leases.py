"""runs carry the lease of the replica executing them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00

Several service processes (replicas) may share one database. ``runs.lease_owner`` names the
replica that executes a run and ``runs.lease_expires_at`` when its lease runs out unless that
replica renews it (``service._runlease``). Runs stored before this revision hold NULL: one
still queued or running is settled as abandoned once it is older than a lease.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=160), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
