"""agreements may publish a transparency page; every verification of an audit chain is kept

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 09:00:00

``agreements.transparency_published``: whether a steward of a party published the
agreement's public transparency page (``POST /v1/agreements/{id}/publication``); false for
every agreement until one does.

``audit_verifications``: one row per verification of a chain — through the API (``GET
.../audit/verify``), the console, or ``caselink admin verify-audit`` — with its result, so
that the public page can say when the chain was last verified and whether it was whole.
Verifications made through the API before this revision are in the chains already, as
``audit.verify`` entries whose details hold ``ok``: they are copied here, so the page does not
forget them (how many problems a failed one found was not recorded: NULL).
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreements") as batch:
        batch.add_column(
            sa.Column(
                "transparency_published",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    table = op.create_table(
        "audit_verifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("head_seq", sa.BigInteger(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("against_checkpoints", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_verifications_scope", "audit_verifications", ["scope"])
    _copy_verifications(table)


def _copy_verifications(table: sa.Table) -> None:
    """The ``audit.verify`` entries of the chains, as verifications made through the API."""
    conn = op.get_bind()
    entries = sa.table(
        "audit_entries",
        sa.column("scope", sa.String),
        sa.column("seq", sa.BigInteger),
        sa.column("at", sa.String),
        sa.column("action", sa.String),
        sa.column("details", sa.Text),
    )
    found = conn.execute(
        sa.select(entries.c.scope, entries.c.seq, entries.c.at, entries.c.details).where(
            entries.c.action == "audit.verify"
        )
    ).all()
    rows = []
    for scope, seq, at, details in found:
        parsed = json.loads(details)
        rows.append(
            {
                "scope": scope,
                "verified_at": datetime.fromisoformat(at),
                "ok": bool(parsed.get("ok")),
                "entries": int(parsed.get("entries", 0)),
                "head_seq": int(seq) - 1,  # the entry recording it came after the check
                "problems": 0 if parsed.get("ok") else None,  # how many was not recorded
                "via": "api",
                "against_checkpoints": False,
            }
        )
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("ix_audit_verifications_scope", table_name="audit_verifications")
    op.drop_table("audit_verifications")
    with op.batch_alter_table("agreements") as batch:
        batch.drop_column("transparency_published")
