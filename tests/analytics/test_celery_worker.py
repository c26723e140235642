"""End to end over real Kafka, PostgreSQL, Redis and Celery workers: feedback events on Kafka
appear in the matrix API; comments are scored by a worker; a worker killed mid-batch (the
process running the task, then the whole worker) loses no score and publishes none twice;
a large tenant's report is built by a worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from citela_analytics import gateway, scoring
from citela_analytics.models import CommentScore, Outbox
from citela_analytics.settings import AnalyticsSettings
from citela_common.events.models import CommentScored
from citela_common.settings import Settings
from citela_common.tasks import create_celery
from citela_feedback.settings import FeedbackSettings
from citela_platform.embedded import create_embedded_app
from tests.analytics import factories as f
from tests.analytics.conftest import Platform, warm_up

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[2]
BACKEND = f.KeywordBackend("1")  # what the workers use: same name and version
COMMENTS = [
    "Temps d'attente trop long, guichet fermé.",
    "Personnel aimable et efficace, merci.",
    "Horaires d'ouverture trop courts, jamais ouvert le samedi.",
    "Rien à dire de particulier.",
]


class Workers:
    """Celery workers of the platform, started as separate processes."""

    def __init__(self, env: dict[str, str], marker: Path) -> None:
        self.env = env
        self.marker = marker
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, **extra: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.analytics.worker_bootstrap",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "--loglevel=WARNING",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{name}@%h",
            ],
            env={**self.env, **extra},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(self.marker.parent / f"worker-{name}.log").open("wb"),
            start_new_session=True,
        )
        self.running.append(process)
        return process

    def batches(self) -> list[tuple[int, int]]:
        if not self.marker.exists():
            return []
        return [
            (int(pid), int(size))
            for pid, size in (line.split() for line in self.marker.read_text().splitlines())
        ]

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)


def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.fixture
def stack(
    pg_url: str,
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Platform, Workers, Celery]]:
    tenant = f"w-{uuid.uuid4().hex[:8]}"
    queue = f"test-{tenant}"

    def on_own_queue(settings: Settings, name: str = "citela") -> Celery:
        app = create_celery(settings, name)
        app.conf.task_default_queue = queue
        app.conf.task_routes = ()  # not the service's queue: this test's own
        return app

    monkeypatch.setattr(gateway, "create_celery", on_own_queue)
    settings = AnalyticsSettings(
        data_dir=tmp_path / "var",
        database_url=pg_url,
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        kafka_client_id=f"test-{tenant}",
        analytics_report_async_min_answers=0,  # every report goes to a worker
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CITELA_DATABASE_URL": pg_url,
        "CITELA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CITELA_REDIS_URL": redis_url,
        "CITELA_DATA_DIR": str(tmp_path / "worker"),
        "CITELA_ANALYTICS_SCORING_BATCH_SIZE": "5",
        "CITELA_TEST_MARKER": str(tmp_path / "batches.txt"),
        "CITELA_TEST_BATCH_SECONDS": "0.8",
        "CITELA_KAFKA_CLIENT_ID": f"worker-{tenant}",
        "CITELA_TEST_QUEUE": queue,
    }
    workers = Workers(env, tmp_path / "batches.txt")
    try:
        with TestClient(create_embedded_app(settings)) as client:
            platform = Platform(client, tenant, settings, "distributed")
            warm_up(platform)
            yield platform, workers, on_own_queue(settings)
    finally:
        workers.stop_all()


def pending(platform: Platform) -> int:
    with platform.runtime.db.transaction() as s:
        return scoring.count_pending(s, BACKEND.name, BACKEND.model_version, platform.tenant)


def published(platform: Platform) -> Counter[tuple[str, int, str]]:
    with platform.runtime.db.transaction() as s:
        rows = s.scalars(
            select(Outbox).where(
                Outbox.tenant == platform.tenant, Outbox.event_type == CommentScored.event_type
            )
        ).all()
    return Counter(
        (
            r.envelope["data"]["feedback_id"],
            r.envelope["data"]["revision"],
            r.envelope["data"]["model_version"],
        )
        for r in rows
    )


def test_scores_survive_killed_workers_and_reports_are_built_by_a_worker(
    stack: tuple[Platform, Workers, Celery], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, workers, client = stack
    first = workers.start("first")
    platform.publish(f.entry("mairie", "Mairie de Pau", "Administration"))

    # 1. Feedback events on Kafka: the matrix follows, the consumer asks a worker to score.
    opening = [f.submitted(f.fid(), "mairie", 5, 2, COMMENTS[i % 4]) for i in range(6)]
    platform.publish(*opening)
    assert platform.get("/matrix")["services"][0]["n"] == 6
    until(lambda: pending(platform) == 0, 90, "the worker to score the first comments")

    # A duplicate event changes nothing.
    before = platform.get("/matrix")
    platform.send(f.event(opening[0], platform.tenant))  # new id, same revision: ignored
    assert platform.get("/matrix") == before

    # 2. Many comments, one scoring task (no trigger), workers killed while it scores.
    monkeypatch.setattr(gateway.ScoringTrigger, "__call__", lambda self, tenant: None)
    platform.publish(*(f.submitted(f.fid(), "mairie", 4, 3, COMMENTS[i % 4]) for i in range(40)))
    assert pending(platform) == 40
    seen = len(workers.batches())
    client.send_task(gateway.SCORE_TASK, args=(platform.tenant,))

    until(lambda: len(workers.batches()) >= seen + 2, 60, "two batches to start")
    child, _size = workers.batches()[-1]
    os.kill(child, signal.SIGKILL)  # the pool process, mid-batch: the task is requeued
    until(
        lambda: any(pid != child for pid, _ in workers.batches()[seen + 2 :]),
        60,
        "the requeued task to run in a new pool process",
    )
    assert pending(platform) > 0
    os.killpg(first.pid, signal.SIGKILL)  # now the whole worker, mid-batch
    first.wait(10)
    left = pending(platform)
    assert left > 0, "the kill came too late to prove anything"

    workers.start("second", CITELA_TEST_VISIBILITY_TIMEOUT="3")
    until(lambda: pending(platform) == 0, 180, "a new worker to finish the scoring")

    events = published(platform)
    assert len(events) == 46
    assert set(events.values()) == {1}, "a comment was published twice for one model version"
    with platform.runtime.db.transaction() as s:
        stored = s.scalar(
            select(func.count())
            .select_from(CommentScore)
            .where(CommentScore.tenant_id == platform.tenant)
        )
    assert stored == 46
    # the scores came back through Kafka and explain the gap
    until(
        lambda: (
            platform.get("/services/service-public:mairie")["explanation"]["sentiment"]["unscored"]
            == 0
        ),
        30,
        "the explanation to include every score",
    )

    # 3. A large tenant's report: 202, built by the worker, then served.
    r = platform.client.post(platform.base + "/reports", headers=platform.headers())
    assert r.status_code == 202
    assert r.json()["status"] == "pending"
    status_url = r.headers["location"]
    until(
        lambda: (
            platform.client.get(status_url, headers=platform.headers()).json()["status"] == "done"
        ),
        60,
        "the worker to build the report",
    )
    content_url = platform.client.get(status_url, headers=platform.headers()).json()["content_url"]
    page = platform.client.get(content_url, headers=platform.headers())
    assert page.status_code == 200
    assert "Mairie de Pau" in {p["label"] for p in page.json()["matrix"]["services"]}


def test_feedback_posted_to_the_feedback_api_reaches_the_matrix(
    pg_url: str,
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole chain: partner app → feedback API → outbox → Kafka → analytics consumers →
    Celery worker scoring → Kafka → matrix and explanation API, read by a staff member
    whose token the feedback service issued."""
    from tests.catalogue import factories as cf
    from tests.feedback.support import FeedbackPlatform, smtp_server

    queue = f"test-e2e-{uuid.uuid4().hex[:8]}"

    def on_own_queue(settings: Settings, name: str = "citela") -> Celery:
        app = create_celery(settings, name)
        app.conf.task_default_queue = queue
        app.conf.task_routes = ()  # not the service's queue: this test's own
        return app

    monkeypatch.setattr(gateway, "create_celery", on_own_queue)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CITELA_DATABASE_URL": pg_url,
        "CITELA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CITELA_REDIS_URL": redis_url,
        "CITELA_DATA_DIR": str(tmp_path / "worker"),
        "CITELA_TEST_MARKER": str(tmp_path / "batches.txt"),
        "CITELA_TEST_BATCH_SECONDS": "0",
        "CITELA_TEST_QUEUE": queue,
    }
    workers = Workers(env, tmp_path / "batches.txt")
    with smtp_server() as (inbox, port):
        settings = FeedbackSettings(
            data_dir=tmp_path / "var",
            database_url=pg_url,
            kafka_bootstrap=kafka_bootstrap,
            redis_url=redis_url,
            kafka_client_id=f"test-e2e-{queue}",
            smtp_host="127.0.0.1",
            smtp_port=port,
            password_hash_time_cost=1,
            password_hash_memory_kib=1024,
            password_hash_parallelism=1,
        )
        try:
            workers.start("e2e")
            with TestClient(create_embedded_app(settings)) as client:
                fp = FeedbackPlatform(client, settings, inbox, "distributed")
                analytics = Platform(client, fp.tenant, settings, "distributed")
                warm_up(analytics)
                fp.create_tenant()
                entries = [
                    cf.entry("mairie-pau", "Mairie de Pau", "64445", policy_area="Citoyenneté"),
                    cf.entry("ccas-pau", "CCAS de Pau", "64445", policy_area="Action sociale"),
                ]
                fp.publish(*cf.GEOGRAPHY, *entries)  # the feedback service knows them…
                events = [cf.event(e, fp.tenant) for e in entries]
                for e in events:  # …and so does analytics (same events, republished)
                    analytics.send(e)
                partner = fp.partner("feedback:write")
                for n in range(12):
                    r = fp.post(
                        partner,
                        entry_id="service-public:mairie-pau",
                        user_ref=f"usager-{n}",
                        importance=5,
                        satisfaction=1 + n % 2,
                        comment=COMMENTS[n % 4],
                    )
                    assert r.status_code == 201, r.text
                for n in range(3):
                    fp.post(
                        partner,
                        entry_id="service-public:ccas-pau",
                        user_ref=f"usager-{n}",
                        importance=2,
                        satisfaction=4,
                    )
                analyst = fp.staff("analyst")  # a token of the feedback service

                def matrix() -> dict[str, object]:
                    r = client.get(f"/analytics/v1/tenants/{fp.tenant}/matrix", headers=analyst)
                    assert r.status_code == 200, r.text
                    body: dict[str, object] = r.json()
                    return body

                until(
                    lambda: sum(p["n"] for p in matrix()["services"]) == 15,  # type: ignore[attr-defined]
                    60,
                    "the posted feedbacks in the matrix",
                )
                body = matrix()
                by_key = {p["key"]: p for p in body["services"]}  # type: ignore[attr-defined]
                mairie = by_key["service-public:mairie-pau"]
                assert mairie["n"] == 12
                assert mairie["importance"]["mean"] == 5.0
                assert mairie["satisfaction"]["mean"] == 1.5
                assert mairie["quadrant"] == "act_first"
                assert mairie["priority"] == 1
                assert by_key["service-public:ccas-pau"]["status"] == "not_enough_answers"

                def explained() -> bool:
                    r = client.get(
                        f"/analytics/v1/tenants/{fp.tenant}/services/service-public:mairie-pau",
                        headers=analyst,
                    )
                    sentiment = r.json()["explanation"]["sentiment"]
                    return bool(sentiment["unscored"] == 0 and sentiment["negative"] > 0)

                until(explained, 90, "the worker's scores in the explanation")
                fp.published.close()
        finally:
            workers.stop_all()
