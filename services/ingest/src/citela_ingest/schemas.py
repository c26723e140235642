"""What the ingest API answers: harvest runs and their records."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from citela_ingest.models import HarvestRun


class RunOut(BaseModel):
    id: str
    source: str
    territory_code: str | None
    status: str
    dry_run: bool
    max_items: int | None
    location: str | None
    counts: dict[str, int]
    error: str | None
    reason: str | None = None  # why the run failed as a whole (French); nothing was archived
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: HarvestRun) -> RunOut:
        return cls.model_validate(run, from_attributes=True)


class ItemOut(BaseModel):
    id: int
    remote_id: str | None
    entry_id: str | None
    status: str
    outcome: str | None
    reason: str | None
    raw: str | None
