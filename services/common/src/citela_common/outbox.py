"""Transactional outbox and idempotent consumption.

Producing: a service writes its state change and ``add_event(session, …)`` in the same
transaction. ``OutboxRelay`` publishes committed rows in insertion order and marks them sent;
while the bus is down it keeps retrying, so nothing committed is lost, and nothing is published
for a transaction that rolled back.

Consuming: ``idempotent(...)`` records ``(consumer, event id)`` in the same transaction as the
handler's effect, so a redelivered event is skipped.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, func, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, mapped_column

from citela_common.bus.base import EventBus, Handler, PublishError
from citela_common.db import BigIntPK, Database, UTCDateTime, utcnow
from citela_common.events.envelope import CloudEvent
from citela_common.logging import get_logger
from citela_common.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_FAILURES,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISHED,
)

log = get_logger(__name__)


class OutboxMixin:
    """Columns of a service's ``outbox`` table (the service declares the mapped class)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class ProcessedEventMixin:
    """Columns of a service's ``processed_events`` table (idempotent consumers)."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


STAGED = "citela_outbox_staged"


def add_event(session: Session, model: type[OutboxMixin], topic: str, event: CloudEvent) -> None:
    """Stage ``event`` for publication in the caller's transaction."""
    session.info[STAGED] = True  # the relay is woken when this transaction commits
    session.add(
        model(  # type: ignore[call-arg]  # the mapped subclass takes the columns
            event_id=event.id,
            topic=topic,
            tenant=event.tenant,
            event_type=event.type,
            envelope=event.model_dump(mode="json"),
        )
    )


def first_delivery(
    session: Session, model: type[ProcessedEventMixin], consumer: str, event_id: str
) -> bool:
    """Record the event as processed by ``consumer``; False if it already was."""
    if session.get(model, (consumer, event_id)) is not None:
        return False
    session.add(model(consumer=consumer, event_id=event_id))  # type: ignore[call-arg]
    session.flush()  # a concurrent duplicate fails here, the handler is retried, then skips
    return True


def idempotent(
    db: Database,
    model: type[ProcessedEventMixin],
    consumer: str,
    apply: Callable[[Session, CloudEvent], None],
) -> Handler:
    """A bus handler applying ``apply`` at most once per event id, in one transaction."""

    def handle(event: CloudEvent) -> None:
        with db.transaction() as session:
            if first_delivery(session, model, consumer, event.id):
                apply(session, event)

    return handle


class OutboxRelay:
    """Publishes a service's outbox to the bus."""

    def __init__(
        self,
        db: Database,
        model: type[OutboxMixin],
        bus: EventBus,
        *,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 0.5,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.db = db
        self.model = model
        self.bus = bus
        self.service = service
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        # Publish as soon as a transaction that staged events commits, not at the next poll.
        sa_event.listen(db.sessions, "after_commit", self._on_commit)
        sa_event.listen(db.sessions, "after_rollback", self._on_rollback)
        # One relay per service publishes at a time, so per-tenant order holds.
        self._lock_key = zlib.crc32(f"citela-outbox-{service}".encode()) & 0x7FFFFFFF

    def _on_commit(self, session: Session) -> None:
        if session.info.pop(STAGED, False):
            self._wake.set()

    @staticmethod
    def _on_rollback(session: Session) -> None:
        session.info.pop(STAGED, None)

    def wake(self) -> None:
        """Ask the running relay to look now rather than at its next poll."""
        self._wake.set()

    def relay_once(self) -> int:
        """Publish one batch; return how many events were published (raise PublishError)."""
        m = self.model
        with self.db.transaction() as session:
            if (
                not self.db.is_sqlite
                and not session.execute(
                    select(func.pg_try_advisory_xact_lock(self._lock_key))
                ).scalar()
            ):
                return 0
            rows = session.scalars(
                select(m)
                .where(m.sent_at.is_(None))
                .order_by(m.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                # Before the attempt, which may block for the producer's whole timeout while
                # the bus is down: ops see the backlog grow then, not a minute later.
                self._set_gauges(session)
                try:
                    self.bus.publish_many(
                        (row.topic, CloudEvent.model_validate(row.envelope)) for row in rows
                    )
                except PublishError:
                    OUTBOX_FAILURES.labels(service=self.service).inc()
                    raise
                now = utcnow()
                for row in rows:
                    row.sent_at = now
                OUTBOX_PUBLISHED.labels(service=self.service).inc(len(rows))
        self.update_gauges()
        return len(rows)

    def backlog(self) -> tuple[int, float]:
        """(unpublished events, age in seconds of the oldest one)."""
        with self.db.transaction() as session:
            return self._backlog(session)

    def _backlog(self, session: Session) -> tuple[int, float]:
        m = self.model
        count, oldest = session.execute(
            select(func.count(), func.min(m.created_at)).where(m.sent_at.is_(None))
        ).one()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=utcnow().tzinfo)
        age = (utcnow() - oldest).total_seconds() if oldest else 0.0
        return int(count), max(0.0, age)

    def _set_gauges(self, session: Session) -> None:
        count, age = self._backlog(session)
        OUTBOX_BACKLOG.labels(service=self.service).set(count)
        OUTBOX_OLDEST_AGE.labels(service=self.service).set(age)

    def update_gauges(self) -> None:
        with self.db.transaction() as session:
            self._set_gauges(session)

    def drain(self, timeout_s: float = 30.0) -> int:
        """Publish until the outbox is empty (CLI, tests); raise TimeoutError if it can't."""
        deadline = time.monotonic() + timeout_s
        total = 0
        while True:
            try:
                published = self.relay_once()
            except PublishError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"outbox of {self.service} not drained") from None
                time.sleep(0.5)
                continue
            total += published
            if published == 0 and self.backlog()[0] == 0:
                return total

    def run(self) -> None:
        """Relay until stop(); back off exponentially while the bus refuses."""
        backoff = self.poll_interval_s
        while not self._stop.is_set():
            try:
                published = self.relay_once()
                backoff = self.poll_interval_s
            except PublishError as exc:
                log.warning(
                    "outbox.publish_failed",
                    service=self.service,
                    error=str(exc),
                    retry_in_s=backoff,
                )
                # The backlog and its age matter most while the bus refuses: keep them fresh.
                with contextlib.suppress(Exception):
                    self.update_gauges()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            except Exception as exc:
                log.exception("outbox.relay_error", service=self.service, error=repr(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if published < self.batch_size:
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
