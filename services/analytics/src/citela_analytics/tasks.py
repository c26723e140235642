"""Celery tasks of the analytics service.

Tasks (registered on the service's Celery app, ``citela_analytics.worker``, and on the
platform's, ``citela_platform.celery_app``):
- ``citela.analytics.score_comments(tenant=None)``: sentiment of pending comments, in batches;
- ``citela.analytics.recompute(tenant=None)``: exact recomputation of the matrix sums;
- ``citela.analytics.snapshot(tenant=None, week=None)``: the weekly matrix snapshot;
- ``citela.analytics.build_report(tenant, report_id)``: a synthesis report.

All are idempotent and run with ``acks_late`` and ``reject_on_worker_lost``: a worker killed
mid-batch leaves its message unacknowledged, the task runs again, and what the killed run had
committed is not redone. An outage (the database or Redis out of reach) is retried without
limit with a capped backoff (``RetryTransient``); any other failure fails the task. Beat: a
sweep scoring whatever a trigger missed, and the weekly snapshot. How the service sends them:
gateway.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.schedules import crontab

from citela_analytics import jobs
from citela_analytics.context import AnalyticsContext
from citela_analytics.gateway import RECOMPUTE_TASK, REPORT_TASK, SCORE_TASK, SNAPSHOT_TASK
from citela_analytics.settings import AnalyticsSettings
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings, settings_for
from citela_common.task_retry import RetryTransient

RuntimeProvider = Callable[[], ServiceRuntime[AnalyticsContext]]


def register(app: Celery, settings: Settings, runtime: RuntimeProvider) -> None:
    """Register the analytics tasks on ``app`` (and the beat entries); each runs against the
    runtime ``runtime()`` returns (a worker's own, ``service.worker_runtime``, or the runtime
    of the process that sends them when embedded)."""
    own = settings_for(settings, AnalyticsSettings)
    options: dict[str, Any] = {
        # Not shared: each app gets the closures of its own runtime (a shared task would be
        # attached to every Celery app created later in the process, with this runtime).
        "shared": False,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "base": RetryTransient,
    }

    @app.task(name=SCORE_TASK, **options)  # type: ignore[untyped-decorator]
    def score_comments(tenant: str | None = None) -> dict[str, Any]:
        """Score the pending comments of ``tenant`` (all tenants when None)."""
        return jobs.score(runtime(), tenant)

    @app.task(name=RECOMPUTE_TASK, **options)  # type: ignore[untyped-decorator]
    def recompute(tenant: str | None = None) -> list[dict[str, Any]]:
        """Recompute the matrix sums exactly from the facts."""
        return jobs.recompute(runtime(), tenant)

    @app.task(name=SNAPSHOT_TASK, **options)  # type: ignore[untyped-decorator]
    def snapshot(tenant: str | None = None, week: str | None = None) -> list[dict[str, Any]]:
        """Take the weekly matrix snapshot."""
        return jobs.snapshot(runtime(), tenant, week)

    @app.task(name=REPORT_TASK, **options)  # type: ignore[untyped-decorator]
    def build_report(tenant: str, report_id: str) -> dict[str, Any]:
        """Build one synthesis report."""
        return jobs.build_report(runtime(), tenant, report_id)

    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "analytics:score-sweep": {
            "task": SCORE_TASK,
            "schedule": own.analytics_scoring_sweep_s,
            "args": (None,),
        },
        "analytics:weekly-snapshot": {
            "task": SNAPSHOT_TASK,
            "schedule": crontab.from_string(own.analytics_snapshot_cron),
            "args": (None, None),
        },
    }
