"""The service's settings: one cached object read from ``CASELINK_*`` environment variables.

``CASELINK_DATABASE_URL`` (default: a SQLite file ``./caselink.db``), ``CASELINK_HOST`` and
``CASELINK_PORT`` for ``caselink serve``, ``CASELINK_MAX_UPLOAD_MB``, ``CASELINK_RAY_ADDRESS``
(join a cluster; unset: a local Ray started by the service), ``CASELINK_RAY_NUM_CPUS``,
``CASELINK_RAY_OBJECT_STORE_MB``, ``CASELINK_LOG_LEVEL``, ``CASELINK_LOG_FORMAT`` (json|text), the
tracing rate limit ``CASELINK_QUERY_RATE_PER_MINUTE`` / ``CASELINK_QUERY_BURST`` (one
budget per agency and role, shared by all the agency's tracer keys), the token Prometheus
sends to ``/metrics``, ``CASELINK_METRICS_TOKEN`` or ``CASELINK_METRICS_TOKEN_FILE`` (unset:
only ``admin`` keys read the metrics),
``CASELINK_QUERY_TOP_K_MAX``, ``CASELINK_RETENTION_SWEEP_SECONDS``, ``CASELINK_RUN_NUM_CPUS``
(the CPUs of a run's own Ray task), ``CASELINK_UPLOAD_DIR`` (where request bodies wait;
:mod:`service._uploads`), and the audit anchoring (:mod:`service._checkpoint`):
``CASELINK_STATE_DIR`` (the service's own files, outside the database; default
``./caselink-state``), ``CASELINK_AUDIT_KEY_FILE`` (the Ed25519 key that signs checkpoints;
default ``STATE_DIR/audit-signing.key``, created with mode 0600 on first start),
``CASELINK_AUDIT_CHECKPOINT_FILE`` (the append-only JSON lines of signed checkpoints;
default ``STATE_DIR/audit-checkpoints.jsonl``) and ``CASELINK_AUDIT_CHECKPOINT_SECONDS``;
``CASELINK_AUDIT_LOCK_WAIT_SECONDS`` (how long a query's audit entry waits for its chain's
lock before it goes to the audit journal in ``STATE_DIR/audit-journal``;
:mod:`service._audit_journal`); ``CASELINK_RUN_LEASE_SECONDS`` (how long a replica's lease on
a run lasts unless renewed; :mod:`service._runlease`). The console (:mod:`service.console`):
``CASELINK_CONSOLE_IDLE_MINUTES`` (a signed-in session ends after this long without a page
view) and ``CASELINK_CONSOLE_SIGN_INS_PER_MINUTE`` (sign-in attempts one address may make).
``CASELINK_TEST_FAULTS_FILE`` is for crash tests only (:mod:`service._faults`): never set it
on a service with real data. TLS: ``CASELINK_TLS_CERT_FILE`` and ``CASELINK_TLS_KEY_FILE``
(PEM; both or neither). Encryption at rest: ``CASELINK_DATA_KEY_FILE`` (the data-key ring; default
``$XDG_CONFIG_HOME/caselink/data-keys``, made with a new key when the database holds no
encrypted filter yet) or ``CASELINK_DATA_KEYS`` (the keys' hex, comma-separated, oldest first).
Nothing is read at import time: :func:`get_settings` builds
the object on first use, and tests clear its cache.

The agencies' shared secret (``CASELINK_SECRET``) is *not* a service setting: the service
never holds it, and this model ignores it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


def default_run_memory_gib() -> float:
    """Half of this machine's physical memory, in GiB (4 where it cannot be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 4.0
    return round(total / 2 / 2**30, 1)


class Settings(BaseSettings):
    """Everything the service can be configured with, in one place."""

    model_config = SettingsConfigDict(
        env_prefix="CASELINK_", extra="ignore", frozen=True, hide_input_in_errors=True
    )  # no setting's value (a token, a key) in an error

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
        60,
        gt=0,
        description="tracing query records one agency's tracer keys may send per minute, "
        "together: the budget belongs to the agency and role, not to a key",
    )
    query_burst: int = Field(
        20, ge=1, description="query records one agency's tracer keys may send at once, together"
    )
    query_top_k_max: int = Field(20, ge=1, le=1000, description="largest top_k of a tracing query")
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
    audit_lock_wait_seconds: float = Field(
        0.1,
        gt=0,
        le=60,
        description="longest wait of a query's audit entry for the chain's lock; past it the "
        "entry goes to the durable audit journal in STATE_DIR and joins its chain later",
    )
    audit_checkpoint_seconds: float = Field(
        300, gt=0, description="how often every audit chain that moved is checkpointed"
    )
    run_num_cpus: int = Field(
        1, ge=1, description="CPUs a linkage run's own Ray task takes; the rest serve queries"
    )
    run_search: Literal["auto", "process", "tasks"] = Field(
        "auto",
        description="where a run's candidate search works: 'process' (in the run's own Ray "
        "task, on its CPUs), 'tasks' (Ray tasks spread over every node of the cluster), or "
        "'auto' (tasks when the Ray cluster has more than one node)",
    )
    run_memory_gib: float = Field(
        default_factory=lambda: default_run_memory_gib(),
        gt=0,
        description="memory a linkage run's Ray task may take, in GiB (default: half of this "
        "machine's); past it the run fails with that reason, stores nothing, and the service "
        "and its other agreements carry on",
    )
    run_lease_seconds: float = Field(
        30,
        ge=1,
        le=3600,
        description="how long a replica's lease on a run it executes lasts unless renewed "
        "(every third of it): when a replica dies, another settles its runs this long after",
    )
    background_niceness: int = Field(
        10,
        ge=0,
        le=19,
        description="nice value of the processes that link runs and rebuild "
        "tracing indexes: on a machine short of cores, queries are answered first",
    )
    upload_dir: Path | None = Field(
        None,
        description="where upload bodies wait, cleared at start-up; unset: beside the SQLite "
        "file (<file>-uploads), else ./caselink-uploads",
    )
    test_faults_file: Path | None = Field(
        None,
        description="TEST ONLY: a file naming fault points where the service kills itself "
        "(crash tests); unset in any real deployment",
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token that reads /metrics (at least 16 characters)"
    )
    metrics_token_file: Path | None = Field(
        None, description="file holding the /metrics Bearer token (instead of metrics_token)"
    )
    console_idle_minutes: float = Field(
        15,
        gt=0,
        le=24 * 60,
        description="a console session ends after this many minutes without a page view",
    )
    console_sign_ins_per_minute: float = Field(
        10, gt=0, description="sign-in attempts to the console one client address may make"
    )

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

    @model_validator(mode="after")
    def _one_metrics_token(self) -> Settings:
        if self.metrics_token is not None and self.metrics_token_file is not None:
            raise ValueError("set CASELINK_METRICS_TOKEN or CASELINK_METRICS_TOKEN_FILE, not both")
        if self.metrics_token is not None:
            _check_token(self.metrics_token.get_secret_value(), "CASELINK_METRICS_TOKEN")
        return self

    def read_metrics_token(self) -> str | None:
        """The /metrics token, from the setting or its file (read now); None if neither is set.

        Raises ValueError naming the setting when the file cannot be read or the token is
        too short — never the token."""
        if self.metrics_token is not None:
            return self.metrics_token.get_secret_value()
        if self.metrics_token_file is None:
            return None
        try:
            token = self.metrics_token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(
                f"CASELINK_METRICS_TOKEN_FILE: cannot read {self.metrics_token_file}"
                f" ({type(e).__name__})"
            ) from None
        return _check_token(token, "CASELINK_METRICS_TOKEN_FILE")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_query_bytes(self) -> int:
        """Largest tracing query body, held in memory: a burst of records, each at most a
        256-character ref and a 64 KiB filter, and room for the Parquet framing."""
        return (1 << 20) + self.query_burst * ((64 << 10) + 1024)

    @property
    def audit_key_path(self) -> Path:
        return self.audit_key_file or self.state_dir / "audit-signing.key"

    @property
    def audit_checkpoint_path(self) -> Path:
        return self.audit_checkpoint_file or self.state_dir / "audit-checkpoints.jsonl"

    @property
    def audit_journal_dir(self) -> Path:
        """Where the audit writer journals entries while a bulk write holds the lock."""
        return self.state_dir / "audit-journal"


def _check_token(token: str, setting: str) -> str:
    if len(token) < 16 or any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError(
            f"{setting}: the token must be at least 16 printable characters without spaces"
        )
    return token


def default_data_key_file() -> Path:
    """``$XDG_CONFIG_HOME/caselink/data-keys`` (``~/.config/...``): never beside the database."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "caselink" / "data-keys"


@functools.cache
def get_settings() -> Settings:
    """The settings, read from the environment once per process (``cache_clear`` in tests)."""
    return Settings()
