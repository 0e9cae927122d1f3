"""The service's tables (SQLAlchemy Core), created and changed only by Alembic migrations.

The case registry's own tables (``registry_*``, one scope per agreement) belong to
:mod:`linkage` and are created by the first migration too.

- ``agencies``: the principals' organisations (name as in batch files);
- ``api_keys``: one role per key; only a BLAKE3 hash of the key is stored;
- ``agreements`` and ``agreement_parties``: who shares what, for which purposes, how long;
- ``agreement_auditors``: the agencies named to oversee an agreement (their ``auditor`` keys
  read it and its audit); an auditor agency need not be a party;
- ``batches`` and ``batch_records``: accepted uploads; a record's filter stays here until a
  run has moved it into the registry, with what its batch said of its household and consent;
- ``runs``: linkage runs and their progress, and the lease of the replica executing each
  (:mod:`service._runlease`);
- ``audit_entries`` and ``audit_heads``: the hash-chained audit log, one chain per agreement
  (scope = agreement id) and one for the service itself (scope ``""``);
- ``audit_journal_folds``: how far each file of the audit journal was folded into the chains
  (:mod:`service._audit_journal`);
- ``index_changes``: the registry changes of each agreement, numbered by
  ``agreements.index_version`` (:mod:`service._events`), so that every replica's tracing
  index learns of the changes other replicas made;
- ``console_sessions``: the console's signed-in sessions (:mod:`service.console.sessions`):
  a hash of the session id, the key it was signed in with, its CSRF token and when it was
  last used — never the key itself.
- ``audit_verifications``: each verification of a chain (through the API or ``caselink admin
  verify-audit``) and its result: what an agreement's public transparency page shows as
  "last verified" (:mod:`service.repositories.transparency`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

__all__ = [
    "agencies",
    "agreement_auditors",
    "agreement_parties",
    "agreements",
    "api_keys",
    "audit_entries",
    "audit_heads",
    "audit_journal_folds",
    "audit_verifications",
    "batch_records",
    "batches",
    "console_sessions",
    "index_changes",
    "metadata",
    "runs",
]

metadata = sa.MetaData()
BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # SQLite autoincrements INTEGER only


class When(sa.TypeDecorator):
    """A UTC timestamp, timezone-aware on the way out from every database (SQLite drops it)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (UTC)")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


agencies = sa.Table(
    "agencies",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", When(), nullable=False),
)
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # public key id, e.g. key_3f9c...
    sa.Column("agency_id", sa.ForeignKey("agencies.id"), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", When(), nullable=False),
    sa.Column("revoked_at", When(), nullable=True),
)
agreements = sa.Table(
    "agreements",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("schema_fingerprint", sa.String(80), nullable=False),
    sa.Column("filter_bits", sa.Integer, nullable=False),
    sa.Column("segments", sa.JSON, nullable=True),  # [[name, bits], ...]; NULL: first batch's
    sa.Column("purposes", sa.JSON, nullable=False),
    sa.Column("retention_days", sa.Integer, nullable=False),
    sa.Column("threshold", sa.String(16), nullable=False),  # "auto" or a probability
    sa.Column("allow_duplicates", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.ForeignKey("agencies.id"), nullable=False),
    sa.Column("created_at", When(), nullable=False),
    # the number of the registry's last change (index_changes); bumped in its transaction
    sa.Column("index_version", sa.BigInteger, nullable=False, server_default="0"),
    # the key check value of the agreement's secret (bloom.key_check_value); NULL: none yet
    sa.Column("key_check", sa.String(24), nullable=True),
    # whether a steward of a party published its transparency page (off until one does)
    sa.Column("transparency_published", sa.Boolean, nullable=False, server_default=sa.false()),
    # purpose -> the consent scope a call with that purpose needs; NULL or {}: none needs one
    sa.Column("purpose_scopes", sa.JSON, nullable=True),
)
agreement_parties = sa.Table(
    "agreement_parties",
    metadata,
    sa.Column("agreement_id", sa.ForeignKey("agreements.id"), primary_key=True),
    sa.Column("agency_id", sa.ForeignKey("agencies.id"), primary_key=True),
)
agreement_auditors = sa.Table(
    "agreement_auditors",
    metadata,
    sa.Column("agreement_id", sa.ForeignKey("agreements.id"), primary_key=True),
    sa.Column("agency_id", sa.ForeignKey("agencies.id"), primary_key=True, index=True),
)
batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("agreement_id", sa.ForeignKey("agreements.id"), nullable=False, index=True),
    sa.Column("agency_id", sa.ForeignKey("agencies.id"), nullable=False),
    sa.Column("content_hash", sa.String(80), nullable=False),
    sa.Column("record_count", sa.Integer, nullable=False),
    sa.Column("segments", sa.JSON, nullable=False),
    sa.Column("encoded_at", sa.String(40), nullable=False),
    sa.Column("caselink_version", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | linked | quarantined
    sa.Column("received_at", When(), nullable=False),
    sa.Column("linked_by_run", sa.String(32), nullable=True),
    sa.Column("quarantine_reason", sa.Text, nullable=True),  # why a run set the batch aside
    sa.Column("key_check", sa.String(24), nullable=True),  # NULL: encoded before key checks
    sa.UniqueConstraint("agreement_id", "agency_id", "content_hash", name="uq_batch_content"),
)
batch_records = sa.Table(
    "batch_records",
    metadata,
    sa.Column("batch_id", sa.ForeignKey("batches.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("agreement_id", sa.String(32), nullable=False),
    sa.Column("agency_id", sa.BigInteger, nullable=False),
    sa.Column("record_ref", sa.String(256), nullable=False),
    sa.Column("bloom", sa.LargeBinary, nullable=True),  # cleared once in the registry
    # what the batch said besides the filter (bloom._households); NULL: nothing
    sa.Column("group_key", sa.BigInteger, nullable=True),  # signed view of the uint64 key
    sa.Column("relationship", sa.SmallInteger, nullable=True),  # index into RELATIONSHIPS
    sa.Column("consent", sa.String, nullable=True),  # sorted scope codes; "": none
    sa.UniqueConstraint("agreement_id", "agency_id", "record_ref", name="uq_batch_record"),
)
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("agreement_id", sa.ForeignKey("agreements.id"), nullable=False, index=True),
    sa.Column("started_by", sa.ForeignKey("agencies.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued|running|succeeded|failed
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("progress", sa.Float, nullable=False),
    sa.Column("created_at", When(), nullable=False),
    sa.Column("started_at", When(), nullable=True),
    sa.Column("finished_at", When(), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("stats", sa.JSON, nullable=True),
    sa.Column("lease_owner", sa.String(160), nullable=True),  # the replica executing it
    sa.Column("lease_expires_at", When(), nullable=True),  # unless that replica renews it
)
audit_entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("at", sa.String(40), nullable=False),  # UTC ISO 8601, hashed as written
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # canonical JSON: counts and ids only
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("scope", "seq", name="uq_audit_seq"),
)
audit_heads = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("scope", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
audit_journal_folds = sa.Table(
    "audit_journal_folds",
    metadata,
    sa.Column("journal", sa.String(64), primary_key=True),  # the journal file's name
    sa.Column("folded", sa.BigInteger, nullable=False),  # its last line folded
    sa.Column("hash", sa.String(64), nullable=False),  # that line's hash
    sa.Column("folded_at", When(), nullable=False),
)
index_changes = sa.Table(
    "index_changes",
    metadata,
    sa.Column("agreement_id", sa.String(32), primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("registry_ids", sa.JSON, nullable=True),  # the ids it touched; NULL: not named
    sa.Column("changed_at", When(), nullable=False),
)
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),  # BLAKE3 of the cookie's session id
    sa.Column("key_id", sa.ForeignKey("api_keys.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),  # every form of the session carries it
    sa.Column("created_at", When(), nullable=False),
    sa.Column("last_seen", When(), nullable=False, index=True),  # idle timeout counts from here
)
audit_verifications = sa.Table(
    "audit_verifications",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(32), nullable=False, index=True),  # "": the service's chain
    sa.Column("verified_at", When(), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("entries", sa.BigInteger, nullable=False),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("problems", sa.Integer, nullable=True),  # how many (NULL: not recorded, pre-0009)
    sa.Column("via", sa.String(16), nullable=False),  # api | cli | console
    sa.Column("against_checkpoints", sa.Boolean, nullable=False),  # held to kept checkpoints
)
