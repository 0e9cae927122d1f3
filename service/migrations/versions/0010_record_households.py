"""a registered record keeps what its batch said of its household and consent

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 09:00:00

Three nullable columns on ``registry_records`` (the registry's tables are linkage's:
:mod:`linkage._registry`, :mod:`linkage._facts`):

* ``group_key`` -- the record's household pseudonym (a 64-bit keyed value made on the
  agency's machine, stored as its signed 64-bit view), NULL when the record is in no group;
* ``relationship`` -- its place in the household, an index into
  ``bloom._households.RELATIONSHIPS``, NULL when not given;
* ``consent`` -- the scope codes the person agreed to, sorted and joined by one space (``""``:
  none), NULL when the batch said nothing (every purpose, as before).

Every record stored before this revision gets NULLs: it is linked and answered as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_records") as batch:
        batch.add_column(sa.Column("group_key", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("relationship", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("consent", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registry_records") as batch:
        batch.drop_column("consent")
        batch.drop_column("relationship")
        batch.drop_column("group_key")
