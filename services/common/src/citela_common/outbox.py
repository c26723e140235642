"""Transactional outbox and idempotent consumption.

Producing: a service writes its state change and ``add_event(session, …)`` in the same
transaction. ``OutboxRelay`` publishes committed rows in insertion order and marks them sent;
while the bus is down it keeps retrying, so nothing committed is lost, and nothing is published
for a transaction that rolled back.

Consuming: ``idempotent_batch(...)``, the handler of every consumer, records ``(consumer, event
id)`` of a polled batch in one statement, in the same transaction as the handler's effect, so a
redelivered event is skipped (``idempotent`` is the same on one event).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Index,
    String,
    Table,
    TextClause,
    any_,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from citela_common import bulk
from citela_common.bus.base import BatchHandler, EventBus, Handler, PublishError
from citela_common.db import BigIntPK, Database, UTCDateTime, utcnow
from citela_common.events.envelope import CloudEvent, Headers, to_binary
from citela_common.faults import is_transient
from citela_common.logging import get_logger
from citela_common.metrics import (
    BUS_PUBLISHED,
    OUTBOX_BACKLOG,
    OUTBOX_FAILURES,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISHED,
)

if TYPE_CHECKING:
    import psycopg

log = get_logger(__name__)

R = TypeVar("R")


UNSENT_INDEX = "ix_outbox_unsent"
# Default wait of a woken relay before its pass (Settings.outbox_linger_s in a service).
LINGER_S = 0.005


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
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index]:  # noqa: N805  # a class-level directive
        # The relay's scan: the unsent rows in id order, and nothing else (sent rows pile up).
        unsent = text("sent_at IS NULL")
        return (Index(UNSENT_INDEX, "id", postgresql_where=unsent, sqlite_where=unsent),)


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


class StagedEvent(NamedTuple):
    """An event for ``add_events``: its envelope already JSON text (``model_dump_json``)."""

    topic: str
    event_id: str
    event_type: str
    tenant: str
    envelope: str


def add_events(session: Session, model: type[OutboxMixin], staged: Sequence[StagedEvent]) -> None:
    """Stage many events in the caller's transaction, in list order (ids follow it).

    Bulk producers serialise each envelope once, in pydantic's Rust serialiser, and the text
    goes to the JSON column as it is (``add_event`` goes through an ORM object and json.dumps).
    PostgreSQL: one ``COPY … FROM STDIN`` (rows of a few kB each: the server parses no INSERT
    per row); SQLite: one executemany.
    """
    if not staged:
        return
    session.info[STAGED] = True  # the relay is woken when this transaction commits
    table = cast(Table, model.__table__)  # type: ignore[attr-defined]  # the mapped subclass's
    now = utcnow()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        translate = connection.get_execution_options().get("schema_translate_map") or {}
        schema = translate.get(table.schema, table.schema)
        quote = connection.dialect.identifier_preparer.quote
        name = f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)
        columns = "event_id, topic, tenant, event_type, envelope, created_at"
        dbapi = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
        with dbapi.cursor() as cursor, cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
            for event in staged:
                copy.write_row(
                    (
                        event.event_id,
                        event.topic,
                        event.tenant,
                        event.event_type,
                        event.envelope,
                        now,
                    )
                )
        return
    # SQLite stores JSON as text: the envelope's text goes in as it is
    envelope = bindparam("envelope_json", type_=String())
    session.execute(
        table.insert().values(envelope=envelope),
        [
            {
                "event_id": event.event_id,
                "topic": event.topic,
                "tenant": event.tenant,
                "event_type": event.event_type,
                "envelope_json": event.envelope,
                "created_at": now,
            }
            for event in staged
        ],
    )


def first_deliveries(
    session: Session,
    model: type[ProcessedEventMixin],
    consumer: str,
    events: Sequence[CloudEvent],
) -> list[CloudEvent]:
    """Record a batch as processed by ``consumer``; return, in order, the events it had not.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` for the batch (PostgreSQL and SQLite):
    ids already recorded (a redelivery) are not returned, nor a second copy of an id within
    the batch; a concurrent consumer inserting the same id waits for our commit, then skips it.
    """
    unique: dict[str, CloudEvent] = {}
    for event in events:
        unique.setdefault(event.id, event)
    if not unique:
        return []
    table = cast(Table, model.__table__)  # type: ignore[attr-defined]  # the mapped subclass's
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # The ids as one array parameter, consumer and time as scalars: no row dicts nor JSON.
        result = session.execute(
            _pg_first_deliveries(table),
            {"consumer": consumer, "ids": list(unique), "now": now},
        )
        fresh = {row[0] for row in result}
    else:
        fresh = {
            row[0]
            for row in bulk.write(
                session,
                table,
                [{"consumer": consumer, "event_id": i, "processed_at": now} for i in unique],
                on_conflict=bulk.OnConflict(("consumer", "event_id")),
                returning=("event_id",),
            )
        }
    return [event for event_id, event in unique.items() if event_id in fresh]


@lru_cache(maxsize=16)
def _pg_first_deliveries(table: Table) -> TextClause:
    name = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
    return text(
        f"INSERT INTO {name} (consumer, event_id, processed_at)"  # noqa: S608  # the metadata's
        " SELECT :consumer, e, :now FROM unnest(CAST(:ids AS VARCHAR(64)[])) AS e"
        " ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
    ).bindparams(bindparam("now", type_=UTCDateTime()))


def idempotent_batch(
    db: Database,
    model: type[ProcessedEventMixin],
    consumer: str,
    apply: Callable[[Session, list[CloudEvent]], R],
    *,
    then: Callable[[list[CloudEvent], R], object] | None = None,
    only: Callable[[CloudEvent], bool] | None = None,
) -> BatchHandler:
    """The one idempotent consumer: a batch handler applying each event at most once.

    In one transaction: ``first_deliveries`` records ``(consumer, event id)`` of the batch and
    ``apply(session, fresh)`` gets, in order, the events not recorded before (a redelivery or
    a second copy in the batch is skipped); the marks and the effect commit or roll back
    together. After the commit, ``then(fresh, result)`` does what must follow the commit
    (cache bumps, metrics, tasks). Nothing fresh: neither is called. ``only``: the events
    this consumer handles at all (the others of its topics are neither recorded nor applied).

    The bus calls it on a whole polled batch, and, if that raises, on each event alone
    (``ConsumerSpec.batched``) to isolate the culprit: the same handler, so the same marks.
    """

    def handle(events: list[CloudEvent]) -> None:
        if only is not None:
            events = [event for event in events if only(event)]
            if not events:
                return
        with db.transaction() as session:
            fresh = first_deliveries(session, model, consumer, events)
            if not fresh:
                return
            result = apply(session, fresh)
        if then is not None:
            then(fresh, result)

    return handle


def each(
    apply: Callable[[Session, CloudEvent], object],
) -> Callable[[Session, list[CloudEvent]], None]:
    """A batch ``apply`` from a one-event one, tenant by tenant (each tenant's events in their
    order): ``apply`` scopes the session to its event's tenant, so a tenant's rows are flushed
    before the next tenant's turn."""

    def apply_all(session: Session, events: list[CloudEvent]) -> None:
        by_tenant: dict[str, list[CloudEvent]] = {}
        for event in events:
            by_tenant.setdefault(event.tenant, []).append(event)
        for group in by_tenant.values():
            for event in group:
                apply(session, event)
            session.flush()

    return apply_all


def idempotent(
    db: Database,
    model: type[ProcessedEventMixin],
    consumer: str,
    apply: Callable[[Session, CloudEvent], object],
) -> Handler:
    """A bus handler applying ``apply`` at most once per event id: ``idempotent_batch`` on a
    batch of one."""
    batch = idempotent_batch(db, model, consumer, each(apply))

    def handle(event: CloudEvent) -> None:
        batch([event])

    return handle


class OutboxRelay:
    """Publishes a service's outbox to the bus, in batches, in insertion order.

    Woken at once by the commit of a transaction that staged events in this process; relays of
    other processes (``citela serve --workers N``, CLI harvests) are reached on PostgreSQL by
    ``NOTIFY`` on the service's channel; a poll every ``poll_interval_s`` catches the rest.
    One relay per service publishes at a time (an advisory lock), so per-tenant order holds.

    Like Kafka's ``linger.ms``, a wake-up waits ``linger_s`` before its pass, so that a trickle
    of one-event commits (single POSTs, a few hundred per second) goes out in batches: a pass
    (a transaction, a Kafka request, an UPDATE) costs about the same for one event as for ten.
    A backlog goes out pass after pass without lingering.

    The backlog gauges come from the batch itself (its size, its oldest row, and the id range
    of the unsent rows through their partial index), with an exact ``COUNT`` at most every
    ``exact_count_every_s`` while a backlog lasts: never a full count per poll.
    """

    def __init__(
        self,
        db: Database,
        model: type[OutboxMixin],
        bus: EventBus,
        *,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 0.5,
        # Short: once the broker is back, the relay resumes within this (its producer
        # bootstraps in a second), not 10 s later.
        max_backoff_s: float = 2.0,
        exact_count_every_s: float = 5.0,
        linger_s: float = LINGER_S,
    ) -> None:
        self.db = db
        self.model = model
        self.bus = bus
        self.service = service
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.exact_count_every_s = exact_count_every_s
        self.linger_s = linger_s
        # Rows read per query: a batch (one transaction, one flush) is read in chunks.
        self.fetch_size = min(batch_size, FETCH_SIZE)
        self._table = cast(Table, model.__table__)  # type: ignore[attr-defined]  # mapped subclass
        self._wake = threading.Event()
        self._stop = threading.Event()
        # Set once the running relay LISTENs to its channel (PostgreSQL).
        self.listening = threading.Event()
        self._running = False
        self._local_commit = False  # a commit of this process staged events since the last pass
        self._exact_at = float("-inf")
        self.channel = outbox_channel(db.schema)
        self._token = f"{os.getpid()}:{id(self)}"  # our own NOTIFY payload, ignored on receipt
        # What readiness reports (read from memory): the last pass's outcome and backlog.
        self.failing_since: float | None = None  # wall clock of the first failed pass
        self.last_error: str | None = None
        self.last_ok_at: float | None = None
        self.backlog_seen: tuple[int, datetime | None] = (0, None)
        # Publish as soon as a transaction that staged events commits, not at the next poll.
        sa_event.listen(db.sessions, "after_commit", self._on_commit)
        sa_event.listen(db.sessions, "after_rollback", self._on_rollback)
        # One relay per service publishes at a time, so per-tenant order holds.
        self._lock_key = zlib.crc32(f"citela-outbox-{service}".encode()) & 0x7FFFFFFF

    def _on_commit(self, session: Session) -> None:
        if session.info.pop(STAGED, False):
            self._local_commit = True
            self._wake.set()
            if not self._running and self._listens():
                # No relay runs in this process (a CLI, a Celery task): tell the others.
                with contextlib.suppress(Exception):  # the poll catches it anyway
                    self._notify()

    @staticmethod
    def _on_rollback(session: Session) -> None:
        session.info.pop(STAGED, None)

    def wake(self) -> None:
        """Ask the running relay to look now rather than at its next poll."""
        self._wake.set()

    def _listens(self) -> bool:
        return self.db.engine.dialect.name == "postgresql" and self.db.engine.dialect.driver in {
            "psycopg",
        }

    def _notify(self) -> None:
        with self.db.engine.connect() as conn:
            conn.execute(select(func.pg_notify(self.channel, self._token)))
            conn.commit()

    def relay_once(self) -> int:
        """Publish one batch; return how many events were published (raise PublishError)."""
        if self.db.engine.dialect.name == "postgresql":
            return self._relay_once_pg()
        t = self._table
        unsent = t.c.sent_at.is_(None)
        if self.db.is_sqlite:
            # An empty poll reads, without taking the service's write lock.
            with self.db.read() as session:
                if session.execute(select(t.c.id).where(unsent).limit(1)).first() is None:
                    self._set_gauges(0, None)
                    return 0
        local_commit, self._local_commit = self._local_commit, False
        with self.db.transaction() as session:
            if (
                not self.db.is_sqlite
                and not session.execute(
                    select(func.pg_try_advisory_xact_lock(self._lock_key))
                ).scalar()
            ):
                # Another process's relay is publishing: if we hold events it may not have
                # seen yet, ask it for one more pass (delivered when this transaction ends).
                if local_commit and self._listens():
                    session.execute(select(func.pg_notify(self.channel, self._token)))
                return 0
            first = self._unsent_rows(session, None)
            if not first:
                self._set_gauges(0, None)
                return 0
            # Before the attempt, which may block for the producer's whole timeout while
            # the bus is down: ops see the backlog grow then, not a minute later.
            self._set_gauges(self._batch_backlog(session, first), first[0].created_at)
            ids: list[int] = []
            topics: Counter[str] = Counter()

            def records() -> Iterator[tuple[str, bytes, bytes, Headers]]:
                # The bus sends each chunk while the next one is read.
                chunk = first
                while True:
                    for row in chunk:
                        ids.append(row.id)
                        topics[row.topic] += 1
                        yield (row.topic, *binary_record(row.envelope))
                    if len(chunk) < self.fetch_size or len(ids) >= self.batch_size:
                        return
                    chunk = self._unsent_rows(session, chunk[-1].id)

            try:
                acknowledged = self.bus.send_raw_many(records())
                # Marked while the acknowledgements come; committed only once they all have.
                session.execute(update(t).where(self._among(ids)).values(sent_at=utcnow()))
                acknowledged()
            except PublishError:
                OUTBOX_FAILURES.labels(service=self.service).inc()
                raise
        for topic, count in topics.items():
            BUS_PUBLISHED.labels(topic=topic).inc(count)
        OUTBOX_PUBLISHED.labels(service=self.service).inc(len(ids))
        if len(ids) < self.batch_size:
            self._set_gauges(0, None)  # what commits from now on wakes us again
        return len(ids)

    def _relay_once_pg(self) -> int:
        """``relay_once`` on PostgreSQL, in DB-API calls on a pooled connection (the relay runs
        a pass per commit of a trickle: its fixed cost is what a web worker pays per event).

        One statement takes the advisory lock and, only if it got it, reads the first chunk;
        the rows come as the record's parts (each envelope parsed once, by the server, its
        data sent as stored: nothing decoded and encoded again here); one UPDATE marks them."""
        local_commit, self._local_commit = self._local_commit, False
        sql = _pg_relay_sql(self._table)
        raw = self.db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql.first, {"key": self._lock_key, "n": self.fetch_size})
            rows = cursor.fetchall()
            if not rows[0][0]:
                # Another process's relay is publishing: if we hold events it may not have
                # seen yet, ask it for one more pass (delivered when this transaction ends).
                if local_commit and self._listens():
                    cursor.execute(sql.notify, {"channel": self.channel, "token": self._token})
                raw.commit()
                return 0
            first = [row[1:] for row in rows if row[1] is not None]
            if not first:
                raw.commit()
                self._set_gauges(0, None)
                return 0
            # Before the attempt, which may block for the producer's whole timeout while
            # the bus is down: ops see the backlog grow then, not a minute later.
            self._set_gauges(self._pg_backlog(cursor, sql, first), first[0][2])
            ids: list[int] = []
            topics: Counter[str] = Counter()

            def records() -> Iterator[tuple[str, bytes, bytes, Headers]]:
                # The bus sends each chunk while the next one is read.
                chunk: Sequence[Any] = first
                while True:
                    for row in chunk:
                        ids.append(row[0])
                        topics[row[1]] += 1
                        yield (row[1], *_pg_record(row))
                    if len(chunk) < self.fetch_size or len(ids) >= self.batch_size:
                        return
                    cursor.execute(sql.next, {"after": chunk[-1][0], "n": self.fetch_size})
                    chunk = cursor.fetchall()

            try:
                acknowledged = self.bus.send_raw_many(records())
                # Marked while the acknowledgements come; committed only once they all have.
                cursor.execute(sql.mark, {"ids": ids, "now": utcnow()})
                acknowledged()
            except PublishError:
                OUTBOX_FAILURES.labels(service=self.service).inc()
                raise
            raw.commit()
        except BaseException:
            driver = raw.driver_connection
            if driver is None or getattr(driver, "closed", False):
                raw.invalidate()  # a connection the server dropped: not back to the pool
            raise
        finally:
            raw.close()  # back to the pool, rolled back if not committed
        for topic, count in topics.items():
            BUS_PUBLISHED.labels(topic=topic).inc(count)
        OUTBOX_PUBLISHED.labels(service=self.service).inc(len(ids))
        if len(ids) < self.batch_size:
            self._set_gauges(0, None)  # what commits from now on wakes us again
        return len(ids)

    def _pg_backlog(self, cursor: Any, sql: _RelaySQL, rows: Sequence[Any]) -> int:
        """``_batch_backlog`` on the relay's DB-API cursor."""
        if len(rows) < self.fetch_size:
            return len(rows)
        now = time.monotonic()
        if now - self._exact_at >= self.exact_count_every_s:
            self._exact_at = now
            cursor.execute(sql.exact)
            return int(cursor.fetchone()[0])
        cursor.execute(sql.last)
        last = cursor.fetchone()[0]
        return max(len(rows), int(last or 0) - int(rows[0][0]) + 1)

    def _unsent_rows(self, session: Session, after: int | None) -> Sequence[Any]:
        """The next chunk of unsent rows in id order, locked (skipping rows others locked)."""
        t = self._table
        query = (
            select(t.c.id, t.c.topic, t.c.envelope, t.c.created_at)
            .where(t.c.sent_at.is_(None))
            .order_by(t.c.id)
            .limit(self.fetch_size)
            .with_for_update(skip_locked=True)
        )
        if after is not None:
            query = query.where(t.c.id > after)
        return session.execute(query).all()

    def _among(self, ids: list[int]) -> ColumnElement[bool]:
        if self.db.is_sqlite:
            return self._table.c.id.in_(ids)
        # One array parameter, whatever the batch size (IN would bind one per id).
        return self._table.c.id == any_(bindparam("ids", ids, type_=postgresql.ARRAY(BigInteger)))

    def _batch_backlog(self, session: Session, rows: Sequence[Any]) -> int:
        """Unsent events, at least this chunk: exact for a partial chunk, else estimated."""
        if len(rows) < self.fetch_size:
            return len(rows)
        t = self._table
        now = time.monotonic()
        if now - self._exact_at >= self.exact_count_every_s:
            self._exact_at = now
            return int(
                session.execute(
                    select(func.count()).select_from(t).where(t.c.sent_at.is_(None))
                ).scalar_one()
            )
        # The id range of the unsent rows: two ends of their partial index (ids a rolled-back
        # transaction skipped make it a slight overestimate until the next exact count).
        last = session.execute(select(func.max(t.c.id)).where(t.c.sent_at.is_(None))).scalar()
        return max(len(rows), int(last or 0) - int(rows[0].id) + 1)

    def backlog(self) -> tuple[int, float]:
        """(unpublished events, age in seconds of the oldest one), counted exactly."""
        with self.db.read() as session:
            return self._backlog(session)

    def _backlog(self, session: Session) -> tuple[int, float]:
        t = self._table
        count, oldest = session.execute(
            select(func.count(), func.min(t.c.created_at)).where(t.c.sent_at.is_(None))
        ).one()
        return int(count), _age(oldest)

    def _set_gauges(self, count: int, oldest: datetime | None) -> None:
        self.backlog_seen = (count, oldest)
        OUTBOX_BACKLOG.labels(service=self.service).set(count)
        OUTBOX_OLDEST_AGE.labels(service=self.service).set(_age(oldest))

    def update_gauges(self) -> None:
        """Set the backlog gauges from an exact count."""
        with self.db.read() as session:
            count, age = self._backlog(session)
        OUTBOX_BACKLOG.labels(service=self.service).set(count)
        OUTBOX_OLDEST_AGE.labels(service=self.service).set(age)

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
            if published == 0:
                if self.backlog()[0] == 0:
                    return total
                if time.monotonic() > deadline:  # another process's relay holds the lock
                    raise TimeoutError(f"outbox of {self.service} not drained")
                time.sleep(0.05)

    def run(self) -> None:
        """Relay until stop(); back off exponentially while the bus refuses."""
        self._running = True
        if self._listens():
            threading.Thread(
                target=self._listen, name=f"{self.service}-relay-listen", daemon=True
            ).start()
        backoff = self.poll_interval_s
        try:
            while not self._stop.is_set():
                self._wake.clear()  # before the pass: a commit during it wakes the next one
                try:
                    published = self.relay_once()
                    backoff = self.poll_interval_s
                    self.failing_since, self.last_ok_at = None, time.time()
                except PublishError as exc:
                    self.failing_since = self.failing_since or time.time()
                    self.last_error = str(exc)
                    log.warning(
                        "outbox.publish_failed",
                        service=self.service,
                        error=str(exc),
                        retry_in_s=backoff,
                    )
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                except Exception as exc:
                    self.failing_since = self.failing_since or time.time()
                    self.last_error = repr(exc)
                    if is_transient(exc):  # the database out of reach: no traceback per pass
                        log.warning("outbox.relay_paused", service=self.service, error=repr(exc))
                    else:
                        log.exception("outbox.relay_error", service=self.service, error=repr(exc))
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                if published < self.batch_size and self._wake.wait(self.poll_interval_s):
                    # Woken by a commit: let the next ones of a trickle join this pass.
                    self._stop.wait(self.linger_s)
        finally:
            self._running = False

    def _listen(self) -> None:
        """Wake the relay on the service's NOTIFY channel (PostgreSQL), reconnecting as needed."""
        dialect = self.db.engine.dialect
        cargs, cparams = dialect.create_connect_args(self.db.engine.url)
        while not self._stop.is_set():
            try:
                conn = dialect.connect(*cargs, **cparams)
                try:
                    conn.autocommit = True
                    conn.execute(f'LISTEN "{self.channel}"')
                    self.listening.set()
                    self._wake.set()  # what was notified while we were not listening
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.payload != self._token:
                                self._wake.set()
                finally:
                    self.listening.clear()
                    conn.close()
            except Exception as exc:
                log.warning("outbox.listen_failed", service=self.service, error=repr(exc))
                self._stop.wait(self.max_backoff_s)  # the poll keeps the relay going meanwhile

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()


FETCH_SIZE = 500


class _RelaySQL(NamedTuple):
    first: str  # the advisory lock, then (if taken) the first chunk
    next: str  # the next chunk
    mark: str
    notify: str
    exact: str
    last: str


# The record's parts of each row (after ``id, topic, created_at``): its headers, then its data.
_PARTS = (
    "e.specversion, e.id AS ce_id, e.source, e.type, e.time, e.tenant, e.datacontenttype,"
    " e.subject, CAST(e.data AS TEXT)"
)
_RECORD = (
    " json_to_record(CAST(o.envelope AS JSON)) AS e(specversion TEXT, id TEXT, source TEXT,"
    ' type TEXT, "time" TEXT, tenant TEXT, datacontenttype TEXT, subject TEXT, data JSON)'
)


@lru_cache(maxsize=16)
def _pg_relay_sql(table: Table) -> _RelaySQL:
    name = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
    chunk = (
        f"SELECT o.id, o.topic, o.created_at, {_PARTS} FROM {name} AS o,{_RECORD}"  # noqa: S608
        " WHERE o.sent_at IS NULL{after} ORDER BY o.id LIMIT %(n)s FOR UPDATE OF o SKIP LOCKED"
    )
    # MATERIALIZED: the lock is tried once, and the rows are read only once it is held.
    first = (
        "WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(%(key)s) AS held)"  # noqa: S608
        " SELECT lock.held, b.* FROM lock LEFT JOIN LATERAL ("
        + chunk.format(after=" AND lock.held")
        + ") AS b ON true ORDER BY b.id"
    )
    unsent = f"FROM {name} WHERE sent_at IS NULL"
    return _RelaySQL(
        first=first,
        next=chunk.format(after=" AND o.id > %(after)s"),
        mark=f"UPDATE {name} SET sent_at = %(now)s WHERE id = ANY(CAST(%(ids)s AS BIGINT[]))",  # noqa: S608
        notify="SELECT pg_notify(%(channel)s, %(token)s)",
        exact=f"SELECT count(*) {unsent}",
        last=f"SELECT max(id) {unsent}",
    )


def _pg_record(row: Sequence[Any]) -> tuple[bytes, bytes, Headers]:
    """(key, value, headers) of a row of ``_pg_relay_sql``: ``to_binary`` of its envelope."""
    spec, id_, source, type_, time_, tenant, content_type, subject, data = row[3:]
    if None in (spec, id_, source, type_, tenant, content_type, data) or not time_.endswith("Z"):
        # Not in the canonical stored form: through the model, as binary_record does.
        envelope = dict(
            zip(
                ("specversion", "id", "source", "type", "time", "tenant", "datacontenttype"),
                row[3:10],
                strict=True,
            )
        )
        envelope = {k: v for k, v in envelope.items() if v is not None}
        envelope.update(subject=subject, data=json.loads(data) if data else {})
        return to_binary(CloudEvent.model_validate(envelope))
    headers: Headers = [
        ("ce_specversion", spec.encode()),
        ("ce_id", id_.encode()),
        ("ce_source", source.encode()),
        ("ce_type", type_.encode()),
        ("ce_time", time_.encode()),
        ("ce_tenant", tenant.encode()),
        ("content-type", content_type.encode()),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    return tenant.encode(), data.encode(), headers


def outbox_channel(schema: str) -> str:
    """The PostgreSQL NOTIFY channel that wakes the relays of ``schema``'s outbox."""
    return f"citela_outbox_{schema}"


def _age(oldest: datetime | None) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite through a Core select: the type decorator still applies
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, (utcnow() - oldest).total_seconds())


def binary_record(envelope: dict[str, Any]) -> tuple[bytes, bytes, Headers]:
    """``to_binary`` of a stored envelope without rebuilding the CloudEvent (validated when
    it was staged); anything not in the canonical stored form goes through the model."""
    time_ = envelope.get("time")
    if not isinstance(time_, str) or not time_.endswith("Z"):
        return to_binary(CloudEvent.model_validate(envelope))
    headers: Headers = [
        ("ce_specversion", envelope["specversion"].encode()),
        ("ce_id", envelope["id"].encode()),
        ("ce_source", envelope["source"].encode()),
        ("ce_type", envelope["type"].encode()),
        ("ce_time", time_.encode()),
        ("ce_tenant", envelope["tenant"].encode()),
        ("content-type", envelope["datacontenttype"].encode()),
    ]
    if envelope.get("subject") is not None:
        headers.append(("ce_subject", envelope["subject"].encode()))
    value = json.dumps(envelope["data"], ensure_ascii=False, separators=(",", ":"), default=str)
    return envelope["tenant"].encode(), value.encode(), headers
