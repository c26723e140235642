"""Celery tasks of the analytics service, and how the service sends them.

Tasks (registered on the platform's Celery app, ``citela_platform.celery_app``):
- ``citela.analytics.score_comments(tenant=None)``: sentiment of pending comments, in batches;
- ``citela.analytics.recompute(tenant=None)``: exact recomputation of the matrix sums;
- ``citela.analytics.snapshot(tenant=None, week=None)``: the weekly matrix snapshot;
- ``citela.analytics.build_report(tenant, report_id)``: a synthesis report.

All are idempotent and run with ``acks_late`` and ``reject_on_worker_lost``: a worker killed
mid-batch leaves its message unacknowledged, the task runs again, and what the killed run had
committed is not redone. Beat: a sweep scoring whatever a trigger missed, and the weekly
snapshot.

Embedded mode: the same tasks run in-process (``task_always_eager``), against the runtime of
the process that sends them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from celery import Celery
from celery.schedules import crontab
from sqlalchemy.exc import OperationalError

from citela_analytics import jobs
from citela_common.bus.base import PublishError
from citela_common.logging import get_logger
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings, get_settings
from citela_common.tasks import create_celery

log = get_logger(__name__)

SCORE_TASK = "citela.analytics.score_comments"
RECOMPUTE_TASK = "citela.analytics.recompute"
SNAPSHOT_TASK = "citela.analytics.snapshot"
REPORT_TASK = "citela.analytics.build_report"

RETRYABLE = (OperationalError, ConnectionError, PublishError, TimeoutError)
RuntimeProvider = Callable[[], ServiceRuntime]


@lru_cache(maxsize=1)
def _worker_runtime() -> ServiceRuntime:
    """The analytics runtime of a Celery worker process (no consumers, no HTTP)."""
    from citela_analytics.service import build_runtime
    from citela_common.bus import create_bus

    settings = get_settings()
    runtime = build_runtime(settings, create_bus(settings))
    runtime.migrate()
    return runtime


def _cron(spec: str) -> crontab:
    minute, hour, day_of_month, month, day_of_week = spec.split()
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month,
        day_of_week=day_of_week,
    )


def register(app: Celery, settings: Settings, runtime: RuntimeProvider | None = None) -> None:
    """Register the analytics tasks on ``app`` (and the beat entries)."""
    get_runtime = runtime or _worker_runtime
    options: dict[str, Any] = {
        # Not shared: each app gets the closures of its own runtime (a shared task would be
        # attached to every Celery app created later in the process, with this runtime).
        "shared": False,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "autoretry_for": RETRYABLE,
        "retry_backoff": True,
        "retry_backoff_max": 300,
        "max_retries": 5,
    }

    @app.task(name=SCORE_TASK, **options)  # type: ignore[untyped-decorator]
    def score_comments(tenant: str | None = None) -> dict[str, Any]:
        """Score the pending comments of ``tenant`` (all tenants when None)."""
        return jobs.score(get_runtime(), tenant)

    @app.task(name=RECOMPUTE_TASK, **options)  # type: ignore[untyped-decorator]
    def recompute(tenant: str | None = None) -> list[dict[str, Any]]:
        """Recompute the matrix sums exactly from the facts."""
        return jobs.recompute(get_runtime(), tenant)

    @app.task(name=SNAPSHOT_TASK, **options)  # type: ignore[untyped-decorator]
    def snapshot(tenant: str | None = None, week: str | None = None) -> list[dict[str, Any]]:
        """Take the weekly matrix snapshot."""
        return jobs.snapshot(get_runtime(), tenant, week)

    @app.task(name=REPORT_TASK, **options)  # type: ignore[untyped-decorator]
    def build_report(tenant: str, report_id: str) -> dict[str, Any]:
        """Build one synthesis report."""
        return jobs.build_report(get_runtime(), tenant, report_id)

    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "analytics:score-sweep": {
            "task": SCORE_TASK,
            "schedule": settings.analytics_scoring_sweep_s,
            "args": (None,),
        },
        "analytics:weekly-snapshot": {
            "task": SNAPSHOT_TASK,
            "schedule": _cron(settings.analytics_snapshot_cron),
            "args": (None, None),
        },
    }


class TaskGateway:
    """Sends analytics tasks: run in-process when embedded, queued on Redis when distributed.

    The Celery app is created on first use, so a worker process that only runs tasks never
    creates a second app.
    """

    def __init__(self, settings: Settings, runtime: RuntimeProvider) -> None:
        self.settings = settings
        self._runtime = runtime
        self._app: Celery | None = None
        self._lock = threading.Lock()

    @property
    def eager(self) -> bool:
        return not self.settings.redis_url

    @property
    def app(self) -> Celery:
        with self._lock:
            if self._app is None:
                app = create_celery(self.settings, "citela-analytics")
                register(app, self.settings, self._runtime)
                self._app = app
            return self._app

    def send(self, name: str, *args: Any, countdown: float | None = None) -> Any:
        """Run (embedded) or queue (distributed) task ``name``; returns its result handle."""
        if self.eager:
            return self.app.tasks[name].apply_async(args=args)
        return self.app.send_task(name, args=args, countdown=countdown or None)


class ScoringTrigger:
    """Asks for the scoring of a tenant's new comments, grouping requests over a short delay.

    Distributed: at most one task per tenant per ``delay_s`` from this process, queued with
    that countdown, so it starts after every comment committed before it was sent. Embedded:
    the same grouping on a thread of this process, which scores every tenant asked for once
    the delay has passed (a comment scored alone per event ran the model on batches of one:
    2,800 answers took 20 s more). A failed request is only logged: the beat sweep (or, in the
    embedded mode, the next request) scores what was missed. ``close`` scores what is pending.
    """

    def __init__(self, gateway: TaskGateway, delay_s: float) -> None:
        self.gateway = gateway
        self.delay_s = delay_s
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: set[str] = set()
        self._thread: threading.Thread | None = None
        self._closed = False

    def __call__(self, tenant: str) -> None:
        try:
            if self.gateway.eager:
                self._defer(tenant)
                return
            now = time.monotonic()
            with self._lock:
                if now < self._next.get(tenant, 0.0):
                    return
                self._next[tenant] = now + self.delay_s
            self.gateway.send(SCORE_TASK, tenant, countdown=self.delay_s)
        except Exception as exc:
            log.warning("analytics.scoring_not_triggered", tenant=tenant, error=repr(exc))

    def _defer(self, tenant: str) -> None:
        with self._lock:
            if self._closed:
                closed = True
            else:
                closed = False
                self._pending.add(tenant)
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="analytics-scoring", daemon=True
                    )
                    self._thread.start()
                self._wake.notify()
        if closed:  # shutting down: no thread to hand it to, score it here
            self._score({tenant})

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                # Let the burst gather: every request of the next delay_s joins this run.
                self._wake.wait(self.delay_s)
                tenants, self._pending = self._pending, set()
            self._score(tenants)

    def _score(self, tenants: set[str]) -> None:
        for tenant in sorted(tenants):
            try:
                self.gateway.send(SCORE_TASK, tenant)
            except Exception as exc:
                log.warning("analytics.scoring_not_triggered", tenant=tenant, error=repr(exc))

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the embedded thread and score what it had not got to yet."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._wake.notify_all()
        if thread is not None:
            thread.join(timeout_s)
        with self._lock:
            tenants, self._pending = self._pending, set()
        self._score(tenants)
