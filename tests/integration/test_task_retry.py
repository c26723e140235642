"""Celery tasks wait out an outage (RetryTransient): retried past any bound, never failed for
good; a deterministic error fails at once. A real worker on the real Redis broker."""

from __future__ import annotations

import socket
import uuid

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from sqlalchemy import create_engine

from citela_common.settings import Settings
from citela_common.task_retry import RetryTransient
from citela_common.tasks import create_celery


class QuickRetry(RetryTransient):
    retry_base_s = 0.05
    retry_cap_s = 0.2


class Outage:
    """The database refusing connections for the first ``tries`` calls (a real refusal)."""

    def __init__(self, tries: int) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.engine = create_engine(f"postgresql+psycopg://citela:citela@127.0.0.1:{port}/x")
        self.left = tries
        self.calls = 0

    def hit(self) -> None:
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            with self.engine.connect():
                pass


@pytest.fixture
def app(redis_url: str) -> Celery:
    app = create_celery(Settings(redis_url=redis_url), f"retry-{uuid.uuid4().hex[:8]}")
    queue = f"test-retry-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    app.conf.task_queues = None
    app.conf.task_routes = None
    return app


def test_an_outage_longer_than_any_bound_is_retried_until_it_passes(app: Celery) -> None:
    outage = Outage(tries=8)  # more than the five retries tasks used to get

    @app.task(name="citela.tests.recompute", acks_late=True, base=QuickRetry)  # type: ignore[untyped-decorator]
    def recompute(tenant: str) -> str:
        outage.hit()
        return f"matrice recalculée pour {tenant}"

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = recompute.delay("agglo-pau")
        assert result.get(timeout=60) == "matrice recalculée pour agglo-pau"
    assert outage.calls == 9


def test_a_deterministic_error_fails_the_task_at_once(app: Celery) -> None:
    calls: list[str] = []

    @app.task(name="citela.tests.report", acks_late=True, base=QuickRetry)  # type: ignore[untyped-decorator]
    def report(tenant: str) -> None:
        calls.append(tenant)
        raise ValueError("rapport inconnu")

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = report.delay("agglo-pau")
        with pytest.raises(ValueError, match="rapport inconnu"):
            result.get(timeout=30)
    assert calls == ["agglo-pau"]


def test_the_services_tasks_wait_out_outages() -> None:
    from citela_analytics import tasks as analytics_tasks
    from citela_ingest import tasks as ingest_tasks

    settings = Settings()
    app = create_celery(settings)
    analytics_tasks.register(app, settings, lambda: pytest.fail("not run"))
    ingest_tasks.register(app, settings)
    services = ("citela.analytics.", "citela.ingest.")
    ours = {name: task for name, task in app.tasks.items() if name.startswith(services)}
    assert ours, "the services' tasks are registered"
    for name, task in ours.items():
        assert isinstance(task, RetryTransient), name
        assert task.acks_late, name
        assert task.max_retries is None, name
