"""The retention job: every service's relayed outbox rows and old processed-event marks, and
the feedback service's expired idempotency records (windows: citela_common.retention).

Distributed mode: a Celery task, scheduled by beat every ``retention_interval_s``. Embedded
mode: the same job on a timer thread of the platform process (``RetentionTimer``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from celery import Celery

from citela_analytics import models as analytics
from citela_catalogue import models as catalogue
from citela_common.db import Database, utcnow
from citela_common.logging import get_logger
from citela_common.outbox import OutboxMixin, ProcessedEventMixin
from citela_common.retention import purge_service
from citela_common.settings import Settings, get_settings
from citela_feedback import models as feedback
from citela_feedback.retention import purge_idempotency_records
from citela_ingest import models as ingest

log = get_logger(__name__)

PURGE_TASK = "citela.platform.purge_retention"


@dataclass(frozen=True)
class Store:
    """A service's schema and its outbox and processed-event tables."""

    schema: str
    outbox: type[OutboxMixin]
    processed: type[ProcessedEventMixin]


STORES: dict[str, Store] = {
    "ingest": Store(ingest.SCHEMA, ingest.Outbox, ingest.ProcessedEvent),
    "catalogue": Store(catalogue.SCHEMA, catalogue.Outbox, catalogue.ProcessedEvent),
    "feedback": Store(feedback.SCHEMA, feedback.Outbox, feedback.ProcessedEvent),
    "analytics": Store(analytics.SCHEMA, analytics.Outbox, analytics.ProcessedEvent),
}

Purged = dict[str, dict[str, int]]  # rows deleted, by service and table


def purge_all(
    settings: Settings, databases: Mapping[str, Database], now: datetime | None = None
) -> Purged:
    """One retention pass over the services of ``databases`` (by service name)."""
    now = now or utcnow()
    purged: Purged = {}
    for name, db in databases.items():
        store = STORES[name]
        purged[name] = purge_service(
            db, store.outbox, store.processed, settings, service=name, now=now
        )
    if "feedback" in databases:
        purged["feedback"]["idempotency_keys"] = purge_idempotency_records(
            databases["feedback"], batch_size=settings.retention_batch_size, now=now
        )
    return purged


@lru_cache(maxsize=1)
def _worker_databases() -> dict[str, Database]:
    """The services' databases in a Celery worker process."""
    settings = get_settings()
    return {
        name: Database(settings.resolved_database_url, store.schema)
        for name, store in STORES.items()
    }


def register(
    app: Celery,
    settings: Settings,
    databases: Callable[[], Mapping[str, Database]] = _worker_databases,
) -> None:
    """Register the retention task on ``app`` and its beat entry."""

    @app.task(  # type: ignore[untyped-decorator]
        name=PURGE_TASK, shared=False, acks_late=True, reject_on_worker_lost=True
    )
    def purge_retention() -> Purged:
        """Delete what the retention windows let go (idempotent: a rerun finds less)."""
        return purge_all(settings, databases())

    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "platform:retention": {"task": PURGE_TASK, "schedule": settings.retention_interval_s},
    }


class RetentionTimer:
    """The retention job every ``retention_interval_s`` on a daemon thread (embedded mode)."""

    def __init__(self, settings: Settings, databases: Mapping[str, Database]) -> None:
        self.settings = settings
        self.databases = databases
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.retention_interval_s):
            try:
                purge_all(self.settings, self.databases)
            except Exception as exc:  # the next pass tries again
                log.exception("retention.failed", error=repr(exc))
            self.passes += 1

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
