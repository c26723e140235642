"""Process settings, read once from the environment (prefix ``CITELA_``).

The mode is never a flag: it follows from which URLs are configured. With no Kafka
bootstrap the platform runs embedded (in-process bus, SQLite, in-process tasks); with one
it runs distributed.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(StrEnum):
    EMBEDDED = "embedded"
    DISTRIBUTED = "distributed"


DEV_SECRET = "citela-dev-secret-change-me"  # noqa: S105 - refused outside development below


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CITELA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: str = Field("development", description="development, test or production")
    data_dir: Path = Field(Path("var"), description="where the embedded mode keeps its files")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: a SQLite file under data_dir"
    )
    kafka_bootstrap: str | None = Field(None, description="host:port[,host:port]; none = embedded")
    redis_url: str | None = Field(None, description="Celery broker, cache and rate limits")
    kafka_client_id: str = "citela"
    kafka_partitions: int = Field(3, ge=1, description="partitions of the topics we create")
    bus_max_attempts: int = Field(3, ge=1, description="handler tries before the DLQ")
    bus_retry_backoff_s: float = Field(
        0.2, ge=0, description="first wait before a retry; doubles at each failed try"
    )
    bus_retry_max_backoff_s: float = Field(
        30.0,
        gt=0,
        description="cap of the wait between tries of a batch paused on a transient failure "
        "(an outage: retried without limit, never dead-lettered)",
    )
    bus_max_batch: int = Field(
        500, ge=1, description="events a consumer polls and applies per transaction"
    )
    outbox_batch_size: int = Field(
        2000,
        ge=1,
        description="events the relay publishes per transaction and flush (read 500 at a time)",
    )
    outbox_poll_interval_s: float = Field(0.5, gt=0)
    outbox_linger_s: float = Field(
        0.005,
        ge=0,
        le=1,
        description="how long the relay, woken by a commit, waits for more before its pass "
        "(like Kafka's linger.ms): a trickle of single-event commits goes out in batches",
    )
    topic_retention_s: int = Field(
        7 * 86_400,
        ge=3600,
        description="how long Kafka keeps the records of the topics we create (retention.ms)",
    )
    topic_segment_s: int = Field(
        86_400,
        ge=600,
        description="how often those topics roll a log segment (segment.ms): Kafka deletes "
        "whole segments, so a record lives up to retention + segment",
    )
    processed_events_margin_s: int = Field(
        86_400,
        ge=0,
        description="processed-event marks are kept this long beyond the topics' retention "
        "and segment (a mark goes only once its event can no longer be redelivered)",
    )
    outbox_retention_s: int = Field(
        7 * 86_400, ge=0, description="how long a relayed outbox row is kept"
    )
    retention_interval_s: float = Field(
        3600.0,
        gt=0,
        description="period of the retention purge (Celery beat; a timer in the embedded mode)",
    )
    retention_batch_size: int = Field(
        5000, ge=1, description="rows a retention purge deletes per statement and transaction"
    )
    consumer_group_suffix: str = Field(
        "",
        description="appended to every consumer group name (e.g. '.blue', '.bench-1a2b'): "
        "processes given a suffix consume in groups of their own, apart from the usual ones",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    secret_key: SecretStr = SecretStr(DEV_SECRET)

    # --- auth (citela_common.auth) ---------------------------------------------------------
    access_token_ttl_s: int = Field(
        900, ge=30, description="lifetime of a signed access token, in seconds"
    )
    refresh_token_ttl_s: int = Field(
        30 * 24 * 3600, ge=60, description="lifetime of a refresh token, in seconds"
    )
    email_confirmation_ttl_s: int = Field(
        48 * 3600, ge=60, description="how long an email confirmation link stays valid, in seconds"
    )
    password_hash_time_cost: int = Field(3, ge=1, description="Argon2id iterations")
    password_hash_memory_kib: int = Field(
        65536, ge=8, description="Argon2id memory per hash, in KiB (RFC 9106: 64 MiB)"
    )
    password_hash_parallelism: int = Field(4, ge=1, description="Argon2id lanes")

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError("CITELA_SECRET_KEY must be set in production")
        return self

    @property
    def mode(self) -> Mode:
        return Mode.DISTRIBUTED if self.kafka_bootstrap else Mode.EMBEDDED

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'citela.db'}"


SettingsT = TypeVar("SettingsT", bound=Settings)


def settings_for(settings: Settings, cls: type[SettingsT]) -> SettingsT:
    """``settings`` as a service's own settings class ``cls`` (a subclass of ``Settings``).

    The platform reads the shared settings once; each service lifts them into its own class,
    which adds the fields only that service reads (still from ``CITELA_*`` variables). Values
    already set on ``settings`` win, so a test or the embedded platform can override them.
    """
    if isinstance(settings, cls):
        return settings
    return cls(**{name: getattr(settings, name) for name in type(settings).model_fields})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The one settings object of this process."""
    return Settings()
