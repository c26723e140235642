"""Celery tasks of the ingest service and the beat schedule of harvests per source and tenant."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from celery import Celery

from citela_common.bus import create_bus
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Mode, Settings, get_settings, settings_for
from citela_common.task_retry import RetryTransient
from citela_ingest.context import IngestContext
from citela_ingest.runs import run_harvest
from citela_ingest.service import build_runtime
from citela_ingest.settings import HarvestSchedule, IngestSettings

HARVEST_TASK = "citela.ingest.harvest"


@lru_cache(maxsize=1)
def _runtime() -> ServiceRuntime[IngestContext]:
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
        grace_period=runtime.context.grace_period,
        endpoints=runtime.context.endpoints,
        on_commit=runtime.relay.wake,
        limits=runtime.context.limits,
        min_share=runtime.context.min_share,
    )
    if runtime.settings.mode is Mode.DISTRIBUTED:
        runtime.relay.drain()
    return {
        "run_id": summary.run_id,
        "status": summary.status.value,
        "counts": dict(summary.counts),
        "reason": summary.reason,
    }


def schedule_entry(item: HarvestSchedule) -> dict[str, Any]:
    return {
        "task": HARVEST_TASK,
        "schedule": item.schedule(),
        "args": (item.source, item.tenant, item.territory, item.file),
    }


def register(app: Celery, settings: Settings) -> None:
    """The harvest task, and a beat entry per scheduled harvest of ``settings``."""
    # An outage (database, broker) is retried without limit (RetryTransient): a harvest is
    # safe to run twice. Any other failure is the run's own and fails it.
    app.task(name=HARVEST_TASK, acks_late=True, base=RetryTransient)(harvest)
    schedule = settings_for(settings, IngestSettings).ingest_schedule
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        **{f"harvest:{i.source}:{i.tenant}:{i.territory}": schedule_entry(i) for i in schedule},
    }
