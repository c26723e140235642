"""Settings only the ingest service reads (``CITELA_*`` variables, like the shared ones)."""

from __future__ import annotations

from celery.schedules import crontab
from pydantic import BaseModel, Field, field_validator

from citela_common.settings import Settings
from citela_ingest.sources.datagouv import DEFAULT_DATAGOUV_API
from citela_ingest.sources.service_public import DEFAULT_API_BASE
from citela_ingest.sources.territories import DEFAULT_GEO_API


class HarvestSchedule(BaseModel):
    """One scheduled harvest (Celery beat), e.g. every night for a tenant's territory."""

    source: str
    tenant: str
    territory: str
    file: str | None = Field(None, description="read this path instead of the source's API")
    cron: str = Field("0 3 * * *", description="minute hour day-of-month month day-of-week")

    @field_validator("cron")
    @classmethod
    def _cron_is_a_crontab(cls, value: str) -> str:
        # Refused when the settings load: a wrong cron must not wait for beat to start.
        try:
            crontab.from_string(value)
        except ValueError as exc:
            raise ValueError(
                f"cron {value!r} is not 'minute hour day-of-month month day-of-week': {exc}"
            ) from None
        return value

    def schedule(self) -> crontab:
        """When beat runs it (the cron was checked when the settings loaded)."""
        return crontab.from_string(self.cron)


class IngestSettings(Settings):
    geo_api_url: str = Field(DEFAULT_GEO_API, description="API Découpage administratif")
    service_public_api_url: str = Field(
        DEFAULT_API_BASE, description="Annuaire de l'administration (Opendatasoft Explore v2.1)"
    )
    datagouv_api_url: str = Field(DEFAULT_DATAGOUV_API, description="udata API v1")
    ingest_grace_days: float = Field(
        3.0, ge=0, description="days a record may be missing upstream before it is archived"
    )
    ingest_schedule: list[HarvestSchedule] = Field(
        default_factory=list, description="JSON list of HarvestSchedule (distributed mode)"
    )
