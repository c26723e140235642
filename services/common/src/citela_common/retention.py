"""Retention: what the outbox and the consumers' dedupe marks may forget, and the bounded purge.

- A relayed outbox row (``sent_at`` set) is never read again: it goes once older than
  ``outbox_retention_s`` (kept a while for whoever investigates an event). An unrelayed row is
  never touched, however old.
- A processed-event mark is what makes a redelivery a no-op, so it stays as long as its event
  may come again: while the record is in its topic. Kafka deletes a log segment once its newest
  record is older than ``retention.ms``, and a segment is rolled every ``segment.ms`` at the
  latest, so a record lives at most retention + segment after it was appended (the topics we
  create get both, see ``citela_common.bus.create_bus``); the mark was written after the
  append, and a margin covers the clocks and the relay's re-sends. Older marks can no longer
  meet their event.

Purges delete in bounded batches, each its own short transaction (PostgreSQL: ``DELETE … WHERE
ctid IN (SELECT ctid … LIMIT n)``, SQLite the same on ``rowid``), so a purge never holds a
long lock nor a long transaction, and counts what it deleted per service and table.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, literal_column, select

from citela_common.db import Database, utcnow
from citela_common.logging import get_logger
from citela_common.metrics import RETENTION_PURGED
from citela_common.outbox import OutboxMixin, ProcessedEventMixin
from citela_common.settings import Settings

log = get_logger(__name__)


def processed_events_horizon(settings: Settings) -> timedelta:
    """How long a processed-event mark may still meet a redelivery of its event."""
    return timedelta(
        seconds=settings.topic_retention_s
        + settings.topic_segment_s
        + settings.processed_events_margin_s
    )


def purge(
    db: Database,
    table: Table,
    condition: ColumnElement[bool],
    *,
    service: str,
    batch_size: int,
) -> int:
    """Delete the rows of ``table`` matching ``condition``, ``batch_size`` per transaction;
    how many went."""
    row: ColumnElement[Any] = literal_column("rowid" if db.is_sqlite else "ctid")
    chosen = select(row).select_from(table).where(condition).limit(batch_size)
    # The condition again on the outer statement: a row changed meanwhile is checked anew.
    statement = delete(table).where(row.in_(chosen.scalar_subquery()), condition)
    counter = RETENTION_PURGED.labels(service=service, table=table.name)
    total = 0
    while True:
        with db.transaction() as session:
            deleted = cast(Any, session.execute(statement)).rowcount or 0
        total += deleted
        counter.inc(deleted)
        if deleted < batch_size:
            break
    if total:
        log.info("retention.purged", service=service, table=table.name, rows=total)
    return total


def purge_outbox(
    db: Database,
    model: type[OutboxMixin],
    *,
    sent_before: datetime,
    service: str,
    batch_size: int,
) -> int:
    """Delete the outbox rows relayed before ``sent_before``; unrelayed rows stay."""
    table = cast(Table, model.__table__)  # type: ignore[attr-defined]  # the mapped subclass's
    condition = table.c.sent_at.is_not(None) & (table.c.sent_at < sent_before)
    return purge(db, table, condition, service=service, batch_size=batch_size)


def purge_processed_events(
    db: Database,
    model: type[ProcessedEventMixin],
    *,
    processed_before: datetime,
    service: str,
    batch_size: int,
) -> int:
    """Delete the processed-event marks recorded before ``processed_before``."""
    table = cast(Table, model.__table__)  # type: ignore[attr-defined]  # the mapped subclass's
    condition = table.c.processed_at < processed_before
    return purge(db, table, condition, service=service, batch_size=batch_size)


def purge_service(
    db: Database,
    outbox: type[OutboxMixin],
    processed: type[ProcessedEventMixin],
    settings: Settings,
    *,
    service: str,
    now: datetime | None = None,
) -> dict[str, int]:
    """The purge of a service's outbox and processed events, with the settings' windows."""
    now = now or utcnow()
    batch = settings.retention_batch_size
    return {
        "outbox": purge_outbox(
            db,
            outbox,
            sent_before=now - timedelta(seconds=settings.outbox_retention_s),
            service=service,
            batch_size=batch,
        ),
        "processed_events": purge_processed_events(
            db,
            processed,
            processed_before=now - processed_events_horizon(settings),
            service=service,
            batch_size=batch,
        ),
    }
