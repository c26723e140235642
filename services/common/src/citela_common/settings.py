"""Process settings, read once from the environment (prefix ``CITELA_``).

The mode is never a flag: it follows from which URLs are configured. With no Kafka
bootstrap the platform runs embedded (in-process bus, SQLite, in-process tasks); with one
it runs distributed.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(StrEnum):
    EMBEDDED = "embedded"
    DISTRIBUTED = "distributed"


DEV_SECRET = "citela-dev-secret-change-me"  # noqa: S105 - refused outside development below


class HarvestSchedule(BaseModel):
    """One scheduled harvest (Celery beat), e.g. every night for a tenant's territory."""

    source: str
    tenant: str
    territory: str
    file: str | None = Field(None, description="read this path instead of the source's API")
    cron: str = Field("0 3 * * *", description="minute hour day-of-month month day-of-week")


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
    bus_retry_backoff_s: float = Field(0.2, ge=0)
    outbox_batch_size: int = Field(500, ge=1)
    outbox_poll_interval_s: float = Field(0.5, gt=0)
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    ingest_schedule: list[HarvestSchedule] = Field(
        default_factory=list, description="JSON list of HarvestSchedule (distributed mode)"
    )

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The one settings object of this process."""
    return Settings()
