"""A running platform for the analytics tests, in both modes, fed only through the bus.

Embedded: SQLite, in-process bus, tasks in-process. Distributed: PostgreSQL, Kafka, Redis
cache; the scoring task runs in the test process (the Celery worker path has its own test,
test_celery_worker.py), so no stray message is left on the shared Redis broker.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from citela_analytics import gateway, scoring
from citela_analytics.models import CommentScore, ProcessedEvent
from citela_analytics.service import CATALOGUE, FACTS
from citela_common.auth import Role
from citela_common.events import CloudEvent
from citela_common.events.models import (
    CATALOGUE_TOPIC,
    FEEDBACK_TOPIC,
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
)
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from citela_platform.embedded import create_embedded_app
from tests.analytics import factories as f


class Platform:
    def __init__(self, client: TestClient, tenant: str, settings: Settings, mode: str) -> None:
        self.client = client
        self.tenant = tenant
        self.settings = settings
        self.mode = mode
        app: Any = client.app
        self.runtime: ServiceRuntime = app.state.runtimes["analytics"]
        self.token = f.staff_token(settings, tenant, Role.ANALYST)
        self.admin_token = f.staff_token(settings, tenant, Role.ADMIN)

    @property
    def base(self) -> str:
        return f"/analytics/v1/tenants/{self.tenant}"

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def publish(self, *datas: Any, tenant: str | None = None) -> list[CloudEvent]:
        events = [
            f.event(
                d,
                tenant or self.tenant,
                "/citela/ingest"
                if isinstance(d, CatalogueEntryUpserted | CatalogueEntryRemoved)
                else "/citela/feedback",
            )
            for d in datas
        ]
        self.send(*events)
        return events

    @staticmethod
    def topic_of(event: CloudEvent) -> str:
        return CATALOGUE_TOPIC if ".catalogue." in event.type else FEEDBACK_TOPIC

    def send(self, *events: CloudEvent) -> None:
        """Publish envelopes as they are (a duplicate keeps its id) and wait for them."""
        self.runtime.bus.publish_many((self.topic_of(e), e) for e in events)
        for event in events:
            self.wait_for(CATALOGUE if ".catalogue." in event.type else FACTS, event.id)

    def wait_for(self, group: str, event_id: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.runtime.db.transaction() as s:
                if s.get(ProcessedEvent, (group, event_id)):
                    return
            time.sleep(0.02)
        raise AssertionError(f"event {event_id} not handled by {group} in {timeout_s}s")

    def scores(self, tenant: str | None = None) -> int:
        with self.runtime.db.transaction() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(CommentScore)
                    .where(CommentScore.tenant_id == (tenant or self.tenant))
                )
                or 0
            )

    def wait_scores(self, count: int, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.scores() >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.scores()} scores, {count} expected")

    def wait_all_scored(self, backend: f.KeywordBackend, timeout_s: float = 30) -> None:
        """Until every current comment has a score of ``backend``'s model version."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.runtime.db.transaction() as s:
                left = scoring.count_pending(s, backend.name, backend.model_version, self.tenant)
            if left == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"{left} comments still not scored")

    def get(self, path: str, *, token: str | None = None, **params: Any) -> Any:
        r = self.client.get(self.base + path, params=params, headers=self.headers(token))
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> f.KeywordBackend:
    """The sentiment backend every scoring run of the test gets."""
    chosen = f.KeywordBackend("1")
    monkeypatch.setattr(scoring, "load_backend", lambda _settings: chosen)
    return chosen


@pytest.fixture(params=["embedded", "distributed"])
def platform(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: f.KeywordBackend,
) -> Iterator[Platform]:
    tenant = f"t-{uuid.uuid4().hex[:8]}"  # fresh tenant: tests share the PostgreSQL database
    if request.param == "embedded":
        settings = Settings(data_dir=tmp_path / "var")
    else:
        settings = Settings(
            data_dir=tmp_path / "var",
            database_url=request.getfixturevalue("pg_url"),
            kafka_bootstrap=request.getfixturevalue("kafka_bootstrap"),
            redis_url=request.getfixturevalue("redis_url"),
            kafka_client_id=f"test-{tenant}",
        )

        def run_here(
            self: gateway.TaskGateway, name: str, *args: Any, countdown: float | None = None
        ) -> Any:
            # as a worker would: after the countdown, in another thread
            timer = threading.Timer(countdown or 0, self.app.tasks[name].apply, (), {"args": args})
            timer.daemon = True
            timer.start()
            return timer

        monkeypatch.setattr(gateway.TaskGateway, "send", run_here)
    with TestClient(create_embedded_app(settings)) as client:
        platform = Platform(client, tenant, settings, request.param)
        if request.param == "distributed":
            warm_up(platform)
        yield platform


def warm_up(platform: Platform) -> None:
    """Let each consumer group catch up with what other tests left on the shared topics.

    A group reads a topic from its committed offset (the very beginning the first time), so
    on a long-lived local Kafka the first test may have thousands of older events to skip.
    One marker per partition of each topic (tenants are the keys) proves the group is live.
    """
    from kafka.partitioner.default import murmur2

    partitions = platform.settings.kafka_partitions
    markers: dict[int, str] = {}
    i = 0
    while len(markers) < partitions:
        tenant = f"warm-up-{i}"
        markers.setdefault(int(murmur2(tenant.encode()) & 0x7FFFFFFF) % partitions, tenant)
        i += 1
    waits: list[tuple[CloudEvent, str]] = []
    for marker in markers.values():
        waits += [
            (f.event(f.entry("warm-up", "Warm-up"), marker, "/citela/ingest"), CATALOGUE),
            (f.event(f.retracted("fb-warm-up", "warm-up"), marker), FACTS),
        ]
    platform.runtime.bus.publish_many((platform.topic_of(e), e) for e, _ in waits)
    for event, group in waits:
        platform.wait_for(group, event.id, timeout_s=600)
