"""The service's settings: one cached object read from ``CASELINK_*`` environment variables.

``CASELINK_DATABASE_URL`` (default: a SQLite file ``./caselink.db``), ``CASELINK_HOST`` and
``CASELINK_PORT`` for ``caselink serve``, ``CASELINK_MAX_UPLOAD_MB``, ``CASELINK_RAY_ADDRESS``
(join a cluster; unset: a local Ray started by the service), ``CASELINK_RAY_NUM_CPUS``,
``CASELINK_RAY_OBJECT_STORE_MB``, ``CASELINK_LOG_LEVEL``, ``CASELINK_LOG_FORMAT`` (json|text), the
tracing rate limit ``CASELINK_QUERY_RATE_PER_MINUTE`` / ``CASELINK_QUERY_BURST``,
``CASELINK_QUERY_TOP_K_MAX``, and ``CASELINK_RETENTION_SWEEP_SECONDS``. TLS:
``CASELINK_TLS_CERT_FILE`` and ``CASELINK_TLS_KEY_FILE`` (PEM; both or neither). Encryption
at rest: ``CASELINK_DATA_KEY_FILE`` (the data-key ring; default
``$XDG_CONFIG_HOME/caselink/data-keys``, made with a new key when the database holds no
encrypted filter yet) or ``CASELINK_DATA_KEYS`` (the keys' hex, comma-separated, oldest first).
Nothing is read at import time:
:func:`get_settings` builds the object on first use, and tests clear its cache.

The agencies' shared secret (``CASELINK_SECRET``) is *not* a service setting: the service
never holds it, and this model ignores it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import Field, SecretStr
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
    # -- TLS and encryption at rest -----------------------------------------------------------
    tls_cert_file: Path | None = Field(None, description="PEM certificate chain: serve https")
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file")
    data_key_file: Path = Field(
        default_factory=lambda: default_data_key_file(),
        description="data-key ring sealing stored filters; keep it apart from the database",
    )
    data_keys: SecretStr | None = Field(
        None, description="data keys as hex, comma-separated, oldest first (instead of a file)"
    )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def default_data_key_file() -> Path:
    """``$XDG_CONFIG_HOME/caselink/data-keys`` (``~/.config/...``): never beside the database."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "caselink" / "data-keys"


@functools.cache
def get_settings() -> Settings:
    """The settings, read from the environment once per process (``cache_clear`` in tests)."""
    return Settings()
