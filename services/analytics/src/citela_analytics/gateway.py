"""How the analytics service sends its Celery tasks, and groups its scoring requests.

Task names are here (the API, the trigger and the CLI send them); the tasks themselves are
registered by ``tasks.register``, which the gateway is given (so this module needs neither the
jobs nor the runtime's assembly). Embedded mode: the same tasks run in-process
(``task_always_eager``), against the runtime of the process that sends them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from celery import Celery

from citela_common.logging import get_logger
from citela_common.settings import Settings
from citela_common.tasks import create_celery

log = get_logger(__name__)

SCORE_TASK = "citela.analytics.score_comments"
RECOMPUTE_TASK = "citela.analytics.recompute"
SNAPSHOT_TASK = "citela.analytics.snapshot"
REPORT_TASK = "citela.analytics.build_report"

Install = Callable[[Celery], None]
"""Registers the analytics tasks on a Celery app (``tasks.register`` with this runtime)."""


class TaskGateway:
    """Sends analytics tasks: run in-process when embedded, queued on Redis when distributed.

    The Celery app is created on first use, so a worker process that only runs tasks never
    creates a second app.
    """

    def __init__(self, settings: Settings, install: Install) -> None:
        self.settings = settings
        self._install = install
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
                self._install(app)
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
