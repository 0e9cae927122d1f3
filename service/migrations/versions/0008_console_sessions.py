"""the console's signed-in sessions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 09:00:00

``console_sessions`` holds one row per signed-in console session (:mod:`service.console`):
the BLAKE3 hash of the session id its cookie carries (a copy of the database signs nobody
in), the API key it was signed in with (by key id: the key itself is never stored), the
session's CSRF token, and when it was made and last used (the idle timeout counts from
``last_seen``). Revoking the key ends its sessions at their next request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_console_sessions_key_id", "console_sessions", ["key_id"])
    op.create_index("ix_console_sessions_last_seen", "console_sessions", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_last_seen", table_name="console_sessions")
    op.drop_index("ix_console_sessions_key_id", table_name="console_sessions")
    op.drop_table("console_sessions")
