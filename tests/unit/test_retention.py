"""Retention purges: what they drop and, above all, what they never drop (SQLite and PostgreSQL).

Never: an unrelayed outbox event, however old; a processed-event mark its event may still
meet (younger than the topics' retention + segment + margin); an idempotency record not yet
expired. Always, eventually: the rest, in bounded batches.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from citela_common.db import Database, utcnow
from citela_common.metrics import RETENTION_PURGED
from citela_common.retention import processed_events_horizon, purge_service
from citela_common.settings import Settings
from citela_common.tasks import create_celery
from citela_feedback.models import IdempotencyRecord
from citela_feedback.retention import purge_idempotency_records
from citela_platform import retention
from citela_platform.embedded import create_embedded_app
from tests.contract.stack import Outbox, ProcessedEvent, fresh_database

SETTINGS = Settings(
    outbox_retention_s=7 * 86_400,
    topic_retention_s=7 * 86_400,
    topic_segment_s=86_400,
    processed_events_margin_s=86_400,
    retention_batch_size=2,  # several batches below
)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Database]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = fresh_database(url)
    yield database
    database.dispose()


def purged(service: str, table: str) -> float:
    return float(RETENTION_PURGED.labels(service=service, table=table)._value.get())


def test_a_purge_drops_old_relayed_rows_and_marks_and_never_what_is_still_needed(
    db: Database,
) -> None:
    now = utcnow()
    day = timedelta(days=1)
    horizon = processed_events_horizon(SETTINGS)
    assert horizon == timedelta(days=9)
    outbox = [
        # (event id, created, sent): five relayed long ago, one relayed lately, two never
        *((f"old-{i}", now - 30 * day, now - 8 * day) for i in range(5)),
        ("recent", now - 2 * day, now - day),
        ("unsent-old", now - 60 * day, None),
        ("unsent", now, None),
    ]
    marks = {
        **{f"gone-{i}": now - horizon - timedelta(hours=1) for i in range(3)},
        "needed": now - horizon + timedelta(hours=1),  # its event may still be redelivered
        "fresh": now,
    }
    with db.transaction() as session:
        session.execute(
            insert(Outbox),
            [
                {
                    "event_id": event_id,
                    "topic": "citela.feedback",
                    "tenant": "agglo-pau",
                    "event_type": "fr.citela.feedback.retracted.v1",
                    "envelope": {},
                    "created_at": created,
                    "sent_at": sent,
                }
                for event_id, created, sent in outbox
            ],
        )
        session.execute(
            insert(ProcessedEvent),
            [
                {"consumer": "analytics-facts", "event_id": event_id, "processed_at": at}
                for event_id, at in marks.items()
            ],
        )
    before = purged("contract", "outbox"), purged("contract", "processed_events")

    counts = purge_service(db, Outbox, ProcessedEvent, SETTINGS, service="contract", now=now)

    assert counts == {"outbox": 5, "processed_events": 3}
    with db.transaction() as session:
        left = set(session.scalars(select(Outbox.event_id)))
        kept = set(session.scalars(select(ProcessedEvent.event_id)))
    assert left == {"recent", "unsent-old", "unsent"}
    assert kept == {"needed", "fresh"}
    after = purged("contract", "outbox"), purged("contract", "processed_events")
    assert (after[0] - before[0], after[1] - before[1]) == (5, 3)
    # A second pass finds nothing more.
    again = purge_service(db, Outbox, ProcessedEvent, SETTINGS, service="contract", now=now)
    assert again == {"outbox": 0, "processed_events": 0}


@pytest.fixture(params=["sqlite", "postgres"])
def feedback_db(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Database]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(url, "feedback")
    database.ensure_schema()
    IdempotencyRecord.__table__.create(database.engine, checkfirst=True)  # type: ignore[attr-defined]
    yield database
    database.dispose()


def test_expired_idempotency_records_go_and_live_ones_stay(feedback_db: Database) -> None:
    now = utcnow()
    tenant = f"retention-{uuid.uuid4().hex[:8]}"  # the table may be shared with other tests
    expiries = {
        **{f"expired-{i}": now - timedelta(minutes=i + 1) for i in range(3)},
        "live": now + timedelta(minutes=1),
    }
    with feedback_db.transaction() as session:
        session.execute(
            insert(IdempotencyRecord),
            [
                {
                    "tenant_id": tenant,
                    "principal": "partner:app",
                    "key": key,
                    "request_hash": "0" * 64,
                    "status_code": 201,
                    "response": {"id": key},
                    "created_at": now - timedelta(days=1),
                    "expires_at": expires,
                }
                for key, expires in expiries.items()
            ],
        )

    assert purge_idempotency_records(feedback_db, batch_size=2, now=now) >= 3

    with feedback_db.transaction() as session:
        left = session.scalars(
            select(IdempotencyRecord.key).where(IdempotencyRecord.tenant_id == tenant)
        )
        assert set(left) == {"live"}


def test_the_platform_beat_schedule_runs_the_purge() -> None:
    from citela_platform.celery_app import app

    entry = app.conf.beat_schedule["platform:retention"]
    assert entry["task"] == retention.PURGE_TASK
    assert retention.PURGE_TASK in app.tasks


def test_the_purge_task_purges_every_service(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, retention_batch_size=100)
    app = create_celery(settings)  # no Redis: eager, as in the embedded mode
    db = fresh_database(f"sqlite:///{tmp_path}/citela.db")
    with db.transaction() as session:
        session.execute(
            insert(ProcessedEvent),
            [{"consumer": "c", "event_id": "old", "processed_at": utcnow() - 30 * timedelta(1)}],
        )
    retention.STORES["contract"] = retention.Store("contract_test", Outbox, ProcessedEvent)
    try:
        retention.register(app, settings, lambda: {"contract": db})
        result = app.tasks[retention.PURGE_TASK].delay().get()
    finally:
        del retention.STORES["contract"]
        db.dispose()
    assert result == {"contract": {"outbox": 0, "processed_events": 1}}


def test_the_embedded_platform_runs_the_purge_on_a_timer(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", retention_interval_s=0.2)
    app = create_embedded_app(settings)
    with TestClient(app):
        db = app.state.runtimes["catalogue"].db
        table = retention.STORES["catalogue"].outbox
        long_ago = utcnow() - timedelta(days=30)
        with db.transaction() as session:
            session.execute(
                insert(table),
                [
                    {
                        "event_id": event_id,
                        "topic": "citela.catalogue",
                        "tenant": "agglo-pau",
                        "event_type": "fr.citela.catalogue.entry.upserted.v1",
                        "envelope": {},
                        "created_at": long_ago,
                        "sent_at": sent,
                    }
                    for event_id, sent in (("relayed", long_ago), ("held", None))
                ],
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with db.transaction() as session:
                left = set(session.scalars(select(table.event_id)))
            if "relayed" not in left:
                break
            time.sleep(0.1)
        # The relay may have published "held" meanwhile (its envelope is empty: it stays
        # unrelayed); the purge itself never takes it.
        assert left == {"held"}
