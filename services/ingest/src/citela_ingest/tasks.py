"""Celery tasks of the ingest service and the beat schedule of harvests per source and tenant."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from celery import Celery
from celery.schedules import crontab

from citela_common.bus import create_bus
from citela_common.runtime import ServiceRuntime
from citela_common.settings import HarvestSchedule, Mode, Settings, get_settings
from citela_ingest.runs import Endpoints, run_harvest
from citela_ingest.service import build_runtime

HARVEST_TASK = "citela.ingest.harvest"


@lru_cache(maxsize=1)
def _runtime() -> ServiceRuntime:
    settings = get_settings()
    runtime = build_runtime(settings, create_bus(settings))
    runtime.migrate()
    return runtime


def harvest(source: str, tenant: str, territory: str, file: str | None = None) -> dict[str, Any]:
    """One harvest run; returns its summary. Safe to run twice: only changes are published."""
    runtime = _runtime()
    summary = run_harvest(
        runtime.db,
        source,
        tenant=tenant,
        territory_code=territory,
        path=Path(file) if file else None,
        grace_period=timedelta(days=runtime.settings.ingest_grace_days),
        endpoints=Endpoints.from_settings(runtime.settings),
        on_commit=runtime.relay.wake,
    )
    if runtime.settings.mode is Mode.DISTRIBUTED:
        runtime.relay.drain()
    return {
        "run_id": summary.run_id,
        "status": summary.status.value,
        "counts": dict(summary.counts),
    }


def schedule_entry(item: HarvestSchedule) -> dict[str, Any]:
    minute, hour, day_of_month, month, day_of_week = item.cron.split()
    return {
        "task": HARVEST_TASK,
        "schedule": crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        ),
        "args": (item.source, item.tenant, item.territory, item.file),
    }


def register(app: Celery, settings: Settings) -> None:
    app.task(
        name=HARVEST_TASK,
        acks_late=True,
        autoretry_for=(ConnectionError,),
        retry_backoff=True,
        max_retries=3,
    )(harvest)
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        **{
            f"harvest:{i.source}:{i.tenant}:{i.territory}": schedule_entry(i)
            for i in settings.ingest_schedule
        },
    }
