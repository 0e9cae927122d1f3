"""an uploaded record keeps its household and consent; an agreement maps purposes to scopes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 12:00:00

Three nullable columns on ``batch_records``, what the record's batch said besides its filter
(:mod:`bloom._households`), kept until a run moves the record into the registry (whose own
columns revision 0010 added):

* ``group_key`` -- the record's household pseudonym (a 64-bit keyed value made on the
  agency's machine, stored as its signed 64-bit view), NULL when the record is in no group;
* ``relationship`` -- its place in the household, an index into
  ``bloom._households.RELATIONSHIPS``, NULL when not given;
* ``consent`` -- the scope codes the person agreed to, sorted and joined by one space (``""``:
  none), NULL when the batch said nothing (every purpose, as before).

``agreements.purpose_scopes``: a JSON object mapping each purpose of the agreement to the
consent scope a call with that purpose needs (``{"tracing": "tracing"}``); NULL or ``{}``:
no purpose needs one. Every record and agreement made before gets NULLs and behaves as
before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_records") as batch:
        batch.add_column(sa.Column("group_key", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("relationship", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("consent", sa.String(), nullable=True))
    with op.batch_alter_table("agreements") as batch:
        batch.add_column(sa.Column("purpose_scopes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agreements") as batch:
        batch.drop_column("purpose_scopes")
    with op.batch_alter_table("batch_records") as batch:
        batch.drop_column("consent")
        batch.drop_column("relationship")
        batch.drop_column("group_key")
