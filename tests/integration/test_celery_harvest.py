"""A harvest scheduled as a Celery task runs on a real worker (Redis broker) in distributed mode."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from celery.schedules import crontab
from sqlalchemy import func, select

from citela_common.db import Database
from citela_common.settings import Settings
from citela_common.tasks import create_celery
from citela_ingest import tasks as ingest_tasks
from citela_ingest.models import Outbox
from citela_ingest.settings import HarvestSchedule, IngestSettings

OISE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "opendata"
    / "geo-api"
    / ("communes_codeDepartement_60.json")
)


def test_beat_schedules_each_source_and_tenant() -> None:
    settings = IngestSettings(
        ingest_schedule=[
            HarvestSchedule(
                source="territories", tenant="agglo-pau", territory="200067254", cron="30 2 * * 1"
            ),
            HarvestSchedule(source="service-public", tenant="agglo-pau", territory="200067254"),
        ]
    )
    app = create_celery(settings)
    ingest_tasks.register(app, settings)
    schedule = app.conf.beat_schedule
    entry = schedule["harvest:territories:agglo-pau:200067254"]
    assert entry["task"] == "citela.ingest.harvest"
    assert entry["args"] == ("territories", "agglo-pau", "200067254", None)
    assert entry["schedule"] == crontab(minute="30", hour="2", day_of_week="1")
    assert schedule["harvest:service-public:agglo-pau:200067254"]["schedule"] == crontab(
        minute="0", hour="3"
    )


def test_a_celery_worker_runs_a_harvest_and_publishes_it(
    pg_url: str, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    tenant = f"celery-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "CITELA_DATABASE_URL": pg_url,
        "CITELA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CITELA_REDIS_URL": redis_url,
        "CITELA_DATA_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "citela_platform.celery_app",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{tenant}@%h",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        settings = Settings(
            database_url=pg_url, kafka_bootstrap=kafka_bootstrap, redis_url=redis_url
        )
        client = create_celery(settings)
        result = client.send_task(
            "citela.ingest.harvest", args=("territories", tenant, "60", str(OISE))
        )
        summary = result.get(timeout=180)
        assert summary["status"] == "done"
        assert summary["counts"] == {"new": 679}
        again = client.send_task(
            "citela.ingest.harvest", args=("territories", tenant, "60", str(OISE))
        ).get(timeout=180)
        assert again["counts"] == {"unchanged": 679}, "a rerun is idempotent"
        db = Database(pg_url, "ingest")
        with db.transaction() as session:
            published = session.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.tenant == tenant, Outbox.sent_at.is_not(None))
            )
            waiting = session.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.tenant == tenant, Outbox.sent_at.is_(None))
            )
        db.dispose()
        assert (published, waiting) == (679, 0), "the worker published its events to Kafka"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
