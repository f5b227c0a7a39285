"""The one settings object of authtrail.

Every component (stack, transformer, sink deployment, API, CLI, benchmarks) reads its
names, ports and URLs from :class:`Settings`, built once from ``AUTHTRAIL_*`` environment
variables. Nothing else in the code reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authtrail.errors import ConfigurationError

ENV_PREFIX = "AUTHTRAIL_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_cache_dir() -> Path:
    # Per-user, shared by every clone on the machine: a fresh clone neither downloads nor
    # rebuilds what another clone already fetched.
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "authtrail"


class Settings(BaseSettings):
    """Typed, frozen configuration. Field ``foo_bar`` is read from ``AUTHTRAIL_FOO_BAR``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    raw_topic: str = "audit.events.raw"
    sink_topic: str = "audit.events.sink"
    dlq_topic: str = "audit.events.dlq"
    sink_dlq_topic: str = "audit.events.sink.dlq"
    raw_partitions: int = Field(6, ge=1)
    sink_partitions: int = Field(6, ge=1)
    dlq_partitions: int = Field(1, ge=1)
    topic_replication_factor: int = Field(1, ge=1)
    # Audit data is kept; -1 is "forever". The sink DLQ is an internal hand-off topic.
    raw_retention_ms: int = -1
    sink_retention_ms: int = 7 * 24 * 3600 * 1000
    dlq_retention_ms: int = -1

    # --- Schema Registry ---------------------------------------------------------------
    schema_registry_url: str = "http://127.0.0.1:8081"
    schemas_dir: Path = PROJECT_ROOT / "schemas"
    # Audit topics are replayed from the beginning: every version must read every older one.
    schema_compatibility: Literal["BACKWARD_TRANSITIVE", "FULL_TRANSITIVE"] = "FULL_TRANSITIVE"

    # --- Transformer (authtrail consume) -----------------------------------------------
    transformer_group: str = "authtrail-transformer"
    transforms_file: Path = PROJECT_ROOT / "connect" / "transformer" / "transforms.properties"
    transformer_batch_size: int = Field(2000, ge=1)
    # consume() waits for a full batch or this long: the most a quiet stream adds to latency.
    transformer_poll_timeout_s: float = Field(0.05, gt=0)

    # Stored offsets are committed this often (and on revoke and shutdown): the most a crash redoes.
    transformer_commit_interval_ms: int = Field(1000, ge=100)
    # How long a crashed transformer's partitions wait before another member takes them over.

    transformer_session_timeout_ms: int = Field(10_000, ge=1000)
    # A consuming service (transformer, sealer, sink watch) without partitions this long asks
    # the coordinator whether it is still in its group, and rejoins with a new consumer if not
    # (authtrail/kafka/rejoin.py: librdkafka can lose its group after a broker restart for good).
    kafka_consumer_rejoin_after_s: float = Field(30.0, gt=0)
    # One record failing with an unexpected error is dead-lettered (internal_error, kept for
    # replay); this many in a row is a bug, not bad data: the transformer stops instead.
    transformer_max_internal_errors_in_a_row: int = Field(20, ge=1)
    max_event_data_bytes: int = Field(64 * 1024, ge=1)
    # The largest stored document (BSON) the transformer forwards; a larger one is dead-lettered
    # (event_too_large). Only fields a later contract version adds can get an event near it. At
    # most 768 KiB: the sink topic takes Kafka's default ~1 MiB, and Connect's dead-letter copy
    # of a record the store refuses adds a stack trace within the same 1 MiB.
    max_stored_document_bytes: int = Field(256 * 1024, ge=1, le=768 * 1024)
    max_event_age_days: int = Field(3650, ge=1)
    max_event_future_s: int = Field(300, ge=0)

    # --- Kafka Connect + MongoDB sink ---------------------------------------------------
    connect_url: str = "http://127.0.0.1:8083"
    connector_name: str = "authtrail-mongo-sink"
    connector_config_file: Path = PROJECT_ROOT / "connect" / "sink" / "mongo-sink.json"
    connector_tasks_max: int = Field(2, ge=1)
    sink_watch_interval_s: float = Field(2.0, gt=0)
    # Records per partition a quarantine writes itself when one record stalls the sink: at least
    # what a sink task consumes between two offset commits (max.poll.records is 2,000).
    sink_quarantine_window: int = Field(5000, ge=1)

    # --- Sealing (authtrail seal): the per-company Merkle logs of authtrail/integrity -----------
    sealer_group: str = "authtrail-sealer"
    sealer_batch_size: int = Field(2000, ge=1)
    # consume() waits for a full batch or this long. Sealing is not on the latency path (a
    # checkpoint interval is tens of seconds), so the sealer gathers events in few, larger
    # store writes instead of the transformer's many small ones: the store is shared with the sink.
    sealer_poll_timeout_s: float = Field(1.0, gt=0)
    # Each company with events sealed since its last checkpoint gets a signed one this often.
    integrity_checkpoint_interval_s: float = Field(60.0, gt=0)
    # The Ed25519 key that signs checkpoints (PKCS#8 PEM, mode 600; a mounted secret in a
    # deployment). Unset: <stack_dir>/integrity/checkpoint-signing.key, which `authtrail up`
    # creates for the local stack. The public key is the same path with `.pub`.
    integrity_signing_key_file: Path | None = None
    # Public keys the API serves (GET /checkpoints/public-key): the signing key's own `.pub`
    # unless set. After a rotation list the new key's and every retired one's, so checkpoints
    # signed before stay checkable.
    integrity_public_key_files: list[Path] = []

    # --- Store (MongoDB wire protocol) ---------------------------------------------------
    mongo_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    mongo_database: str = "authtrail"
    mongo_collection: str = "audit_events"
    mongo_server_selection_timeout_ms: int = Field(2000, ge=1)
    mongo_query_timeout_ms: int = Field(5000, ge=1)

    # --- Query API ---------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(4000, ge=1, le=65535)
    api_workers: int = Field(1, ge=1)
    api_max_per_page: int = Field(1000, ge=1)
    api_keys_collection: str = "api_keys"
    # Who looked at what: one record per request, kept in the store (and always logged).
    api_access_collection: str = "api_access_log"
    api_access_log_to_store: bool = True
    # Per key and per API process (token bucket): requests per second and burst.
    api_rate_limit_per_s: float = Field(50.0, gt=0)
    api_rate_limit_burst: float = Field(100.0, ge=1)
    api_max_body_bytes: int = Field(1024, ge=0)
    # Store queries one API process runs at once; more wait their turn, up to the queue timeout,
    # then get a 503. On a small store, query concurrency takes the CPU ingest needs: on the
    # 2-core local stack, 1 kept produce → queryable p99 at 0.3 s under ten query clients where 2
    # let it grow to 17 s, and served more queries (bench mixed). Raise it for a store with
    # cores of its own.
    api_max_concurrent_queries: int = Field(1, ge=1)
    api_query_queue_timeout_s: float = Field(30.0, gt=0)
    # HMAC key of pagination and sync cursors (a long random string). Unset: one random key is
    # kept in the store (api_secrets_collection), created by the first API process that needs
    # it, so every worker and replica shares it and cursors survive restarts. Changing it
    # invalidates every cursor handed out (each then gets a 400). Cursors carry no authority:
    # the tenant scope comes from the key on every request; the signature only keeps a walk intact.
    api_cursor_secret: SecretStr | None = None
    api_secrets_collection: str = "api_secrets"
    # order=ingested returns only events ingested at least this long ago: the sink writes
    # partitions in parallel and in batches, so events become visible slightly out of ingested_at
    # order; the lag lets the late ones land before a collector's cursor moves past them. Keep it
    # well above the pipeline's produce → queryable p99 (authtrail bench sustained / mixed).
    api_sync_settle_s: float = Field(120.0, ge=0)
    # Streaming export: events per store round trip, the most one export may hold, and exports
    # one key may run at once in one API process (more → 429).
    api_export_batch_size: int = Field(1000, ge=1, le=10_000)
    api_export_max_events: int = Field(2_000_000, ge=1)
    api_export_max_concurrent_per_key: int = Field(2, ge=1)
    # The key CLI clients (poke, benchmarks) present: this, else the file, else the development
    # key `authtrail up` writes.
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    # Long-running services touch this file while their loop makes progress (container
    # healthchecks read it with `authtrail alive`).
    heartbeat_file: Path | None = None
    heartbeat_max_age_s: float = Field(60.0, gt=0)

    # --- Metrics (Prometheus exposition, authtrail/metrics.py; docs/operations.md) -----------
    # Each long-running service serves /metrics on a port of its own, on this interface (not
    # behind API keys: bind it where only the monitoring can reach). 0: the service opens no
    # metrics port — except the API, which then serves /metrics on its own port instead.
    metrics_host: str = "127.0.0.1"
    # false: nothing is counted at all (every metric a no-op; endpoints serve only process
    # figures). What `authtrail bench` compares against to measure the counting's overhead.
    metrics_enabled: bool = True
    api_metrics_port: int = Field(9410, ge=0, le=65535)
    transformer_metrics_port: int = Field(9411, ge=0, le=65535)
    sink_watch_metrics_port: int = Field(9412, ge=0, le=65535)
    sealer_metrics_port: int = Field(9413, ge=0, le=65535)
    # The local stack's Kafka broker and Kafka Connect JVMs export their JMX metrics here, through
    # the Prometheus JMX exporter's Java agent (rules: scripts/stack/jmx/); 0: started without it.
    kafka_jmx_metrics_port: int = Field(9414, ge=0, le=65535)
    connect_jmx_metrics_port: int = Field(9415, ge=0, le=65535)
    # Consumer lag per partition (a gauge) is refreshed this often.
    metrics_lag_interval_s: float = Field(5.0, gt=0)

    # --- Logging -------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_dir: Path = PROJECT_ROOT / "log"

    # --- Local stack (authtrail stack …) --------------------------------------------------
    # "external": tests reuse servers someone else runs instead of starting their own.
    stack: Literal["managed", "external"] = "managed"
    stack_dir: Path = PROJECT_ROOT / ".stack"
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    kafka_controller_port: int = Field(9093, ge=1, le=65535)
    # PostgreSQL of the local stack: storage of the Schema Registry and of FerretDB.
    postgres_port: int = Field(5433, ge=1, le=65535)
    # FerretDB's backend on the local stack. PostgreSQL by default: FerretDB pushes equality
    # filters down to it (filtered queries ~25 ms instead of ~3.6 s at 50k documents on SQLite).
    store_backend: Literal["postgresql", "sqlite"] = "postgresql"
    stack_start_timeout_s: float = Field(180.0, gt=0)
    kafka_heap: str = "512m"
    connect_heap: str = "768m"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_cursor_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # compose passes `${AUTHTRAIL_API_CURSOR_SECRET:-}` through: empty means "not configured".
        return None if value == "" else value

    # --- Derived values ---------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def signing_key_path(self) -> Path:
        return self.integrity_signing_key_file or self.stack_dir / "integrity" / "checkpoint-signing.key"

    @property
    def public_key_paths(self) -> list[Path]:
        return self.integrity_public_key_files or [
            self.signing_key_path.with_name(self.signing_key_path.name + ".pub")
        ]

    @property
    def kafka_port(self) -> int:
        return _port_of(self.kafka_bootstrap_servers.split(",")[0], 9092)

    @property
    def registry_port(self) -> int:
        return _port_of(self.schema_registry_url, 8081)

    @property
    def connect_port(self) -> int:
        return _port_of(self.connect_url, 8083)

    @property
    def store_port(self) -> int:
        return _port_of(self.mongo_uri.get_secret_value(), 27017)

    def public_view(self) -> dict[str, Any]:
        """Effective configuration for start-up logs: secrets stay masked."""
        return {name: str(value) for name, value in self}

    def to_env(self) -> dict[str, str]:
        """These settings as ``AUTHTRAIL_*`` variables, secrets included: for child processes.
        Unset values are left out (the child then has them unset too, not the text "None")."""
        return {ENV_PREFIX + name.upper(): _env_text(value) for name, value in self if value is not None}

    @classmethod
    def env_names(cls) -> set[str]:
        return {ENV_PREFIX + name.upper() for name in cls.model_fields}


def _port_of(address: str, default: int) -> int:
    netloc = urlsplit(address if "//" in address else f"//{address}").netloc
    host_port = netloc.rsplit("@", 1)[-1].split(",")[0]
    return int(host_port.rsplit(":", 1)[1]) if ":" in host_port else default


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (plus explicit overrides, used by tests).

    Fails naming the variable when a value is malformed or an ``AUTHTRAIL_*`` variable
    is not one authtrail knows (a typo would otherwise be silently ignored).
    """
    unknown = sorted(
        name for name in os.environ if name.startswith(ENV_PREFIX) and name not in Settings.env_names()
    )
    if unknown:
        raise ConfigurationError(f"unknown setting(s): {', '.join(unknown)}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from exc


@cache
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()


def _env_text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):  # pydantic-settings reads a list variable as JSON
        return json.dumps([str(item) for item in value])
    return str(value)
