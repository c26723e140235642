"""Settings only the ingest service reads (``CITELA_*`` variables, like the shared ones)."""

from __future__ import annotations

from celery.schedules import crontab
from pydantic import BaseModel, Field, field_validator

from citela_common.settings import Settings
from citela_ingest.limits import ReadLimits
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
    ingest_min_share_of_previous: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a run keeping fewer entries than this share of the last complete run of "
        "the same source and territory fails and archives nothing (--accept-shrink waives it)",
    )
    ingest_max_file_bytes: int = Field(
        ReadLimits.max_file_bytes, ge=1, description="largest file read or response downloaded"
    )
    ingest_zip_max_member_bytes: int = Field(
        ReadLimits.zip_max_member_bytes, ge=1, description="largest file of a ZIP, expanded"
    )
    ingest_zip_max_total_bytes: int = Field(
        ReadLimits.zip_max_total_bytes, ge=1, description="most bytes read out of one ZIP"
    )
    ingest_zip_max_ratio: float = Field(
        ReadLimits.zip_max_ratio, gt=1, description="largest expanded / compressed size of a ZIP"
    )
    ingest_zip_max_members: int = Field(
        ReadLimits.zip_max_members, ge=1, description="most files in one ZIP"
    )

    def read_limits(self) -> ReadLimits:
        return ReadLimits(
            max_file_bytes=self.ingest_max_file_bytes,
            zip_max_member_bytes=self.ingest_zip_max_member_bytes,
            zip_max_total_bytes=self.ingest_zip_max_total_bytes,
            zip_max_ratio=self.ingest_zip_max_ratio,
            zip_max_members=self.ingest_zip_max_members,
        )
