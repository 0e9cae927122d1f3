"""The service's settings: one cached object read from ``CASELINK_*`` environment variables.

``CASELINK_DATABASE_URL`` (default: a SQLite file ``./caselink.db``), ``CASELINK_HOST`` and
``CASELINK_PORT`` for ``caselink serve``, ``CASELINK_MAX_UPLOAD_MB``, ``CASELINK_RAY_ADDRESS``
(join a cluster; unset: a local Ray started by the service), ``CASELINK_RAY_NUM_CPUS``,
``CASELINK_RAY_OBJECT_STORE_MB``, ``CASELINK_LOG_LEVEL``, ``CASELINK_LOG_FORMAT`` (json|text), the
tracing rate limit ``CASELINK_QUERY_RATE_PER_MINUTE`` / ``CASELINK_QUERY_BURST``,
``CASELINK_QUERY_TOP_K_MAX``, ``CASELINK_RETENTION_SWEEP_SECONDS``, and the audit anchoring
(:mod:`service._checkpoint`): ``CASELINK_STATE_DIR`` (the service's own files, outside the
database; default ``./caselink-state``), ``CASELINK_AUDIT_KEY_FILE`` (the Ed25519 key that
signs checkpoints; default ``STATE_DIR/audit-signing.key``, created with mode 0600 on first
start), ``CASELINK_AUDIT_CHECKPOINT_FILE`` (the append-only JSON lines of signed checkpoints;
default ``STATE_DIR/audit-checkpoints.jsonl``) and ``CASELINK_AUDIT_CHECKPOINT_SECONDS``.
Nothing is read at import time: :func:`get_settings` builds the object on first use, and tests
clear its cache.

The agencies' shared secret (``CASELINK_SECRET``) is *not* a service setting: the service
never holds it, and this model ignores it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Everything the service can be configured with, in one place."""

    model_config = SettingsConfigDict(env_prefix="CASELINK_", extra="ignore", frozen=True)

    database_url: str = Field(
        "sqlite:///./caselink.db", description="SQLAlchemy URL: SQLite file or PostgreSQL"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_upload_mb: float = Field(512, gt=0, description="largest accepted batch upload, MiB")
    ray_address: str | None = Field(None, description="Ray cluster to join; unset: local Ray")
    ray_num_cpus: int | None = Field(None, ge=1, description="CPUs of the local Ray")
    ray_object_store_mb: int | None = Field(None, ge=80, description="object store, MiB")
    log_level: str = "INFO"
    page_size_max: int = Field(10_000, ge=1, description="largest page of case assignments")
    query_rate_per_minute: float = Field(
        60, gt=0, description="tracing query records one key may send per minute"
    )
    query_burst: int = Field(20, ge=1, description="query records a key may send at once")
    query_top_k_max: int = Field(20, ge=1, description="largest top_k of a tracing query")
    retention_sweep_seconds: float = Field(
        3600, gt=0, description="how often the service purges data past its retention"
    )
    log_format: str = Field("json", pattern="^(json|text)$", description="log line format")
    state_dir: Path = Field(
        Path("caselink-state"), description="the service's own files; never the database's"
    )
    audit_key_file: Path | None = Field(
        None, description="Ed25519 key signing audit checkpoints; unset: in STATE_DIR"
    )
    audit_checkpoint_file: Path | None = Field(
        None, description="append-only JSON lines of signed checkpoints; unset: in STATE_DIR"
    )
    audit_checkpoint_seconds: float = Field(
        300, gt=0, description="how often every audit chain that moved is checkpointed"
    )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def audit_key_path(self) -> Path:
        return self.audit_key_file or self.state_dir / "audit-signing.key"

    @property
    def audit_checkpoint_path(self) -> Path:
        return self.audit_checkpoint_file or self.state_dir / "audit-checkpoints.jsonl"


@functools.cache
def get_settings() -> Settings:
    """The settings, read from the environment once per process (``cache_clear`` in tests)."""
    return Settings()
