"""agreements name the agencies that oversee them: agreement_auditors

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 09:00:00

``agreement_auditors`` holds one row per agency named as an agreement's auditor, by a steward
of a party when it creates or amends the agreement. The ``auditor`` keys of such an agency
read the agreement and its audit chain, and have the chain verified and checkpointed; the
agency need not be a party. The index on ``agency_id`` serves an auditor key's lookups (its
agreements, and whether it is named on one). Databases made before hold no auditor.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agreement_auditors",
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column(
            "agency_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.id"]),
        sa.PrimaryKeyConstraint("agreement_id", "agency_id"),
    )
    with op.batch_alter_table("agreement_auditors") as batch:
        batch.create_index(batch.f("ix_agreement_auditors_agency_id"), ["agency_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agreement_auditors") as batch:
        batch.drop_index(batch.f("ix_agreement_auditors_agency_id"))
    op.drop_table("agreement_auditors")
