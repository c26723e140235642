"""The event bus contract, and the consumer loop both implementations share.

Delivery semantics (the same in-process and on Kafka, proved by tests/contract):
- at-least-once: a record's offset is committed only after its handler returned, so a
  consumer that dies before the commit gets the record again;
- a transient failure (``citela_common.faults.is_transient``: the database, Redis or the
  broker out of reach) pauses the consumer: nothing is committed, the batch is kept and tried
  again, whole and first, with a capped exponential backoff, without limit, until it passes
  or the consumer stops. ``citela_bus_consumer_paused`` says so while it lasts. An outage
  loses nothing and sends nothing to a DLQ;
- a deterministic failure (a bad event, a bug) is retried ``max_attempts`` times with
  backoff; then the record goes to ``<topic>.dlq`` with the error in its headers, and the
  consumer moves on;
- a record that is not a CloudEvent at all (a poison message) goes to the DLQ at once;
- records of one key (one tenant) keep their order: they live in one partition, and a paused
  batch is applied before anything polled after it.

Batches: a consumer may also have a batch handler, called once per polled batch (in record
order, so per-tenant order holds) to apply it in one transaction. If that call raises
deterministically, the batch's effects are rolled back and its events go one by one through
the single-event handler, with the retries and dead-lettering above: one failing event is
isolated, the rest applied. Offsets are committed after the whole batch. While a batch is
applied (on a worker thread), the next one is polled and decoded, not applied: the database's
work and Kafka's overlap, batches are still applied one at a time and in order.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from citela_common.events.envelope import CloudEvent, EnvelopeError, Headers, from_binary, to_binary
from citela_common.faults import PublishError as PublishError  # re-exported: the bus's error
from citela_common.faults import is_transient
from citela_common.logging import get_logger, log_context
from citela_common.metrics import (
    BUS_CONSUMED,
    BUS_CONSUMER_PAUSED,
    BUS_HANDLER_SECONDS,
    BUS_PUBLISHED,
    BUS_TRANSIENT_FAILURES,
)

Handler = Callable[[CloudEvent], None]
# Applies a batch of events in one go (e.g. one transaction); raises if any of it failed.
BatchHandler = Callable[[list[CloudEvent]], None]
DLQ_SUFFIX = ".dlq"
# How long each poll for the next batch waits while the current one is being applied.
PREFETCH_WAIT_S = 0.01

log = get_logger(__name__)


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class Record:
    """One message as read from a topic partition."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None


def _acknowledged() -> None:
    """The wait of a publication already acknowledged."""


class ConsumerTransport(ABC):
    """The broker side of a consumer: fetch records, commit positions."""

    @abstractmethod
    def poll(self, timeout_s: float) -> list[Record]: ...

    @abstractmethod
    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit, for each (topic, partition), the offset of the next record to read."""

    @abstractmethod
    def lag(self) -> dict[tuple[str, int], int]: ...

    def keep_alive(self) -> None:  # noqa: B027 - optional hook
        """Tell the broker this member lives while its consumer is paused, without fetching
        (Kafka leaves a group whose member stops polling for max.poll.interval.ms)."""

    @abstractmethod
    def close(self) -> None: ...


class EventBus(ABC):
    """Publish CloudEvents to topics; open consumers in groups."""

    @abstractmethod
    def publish_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        """Publish one record and wait for the acknowledgement (raises PublishError)."""

    def publish_raw_many(
        self, records: Sequence[tuple[str, bytes | None, bytes | None, Headers]]
    ) -> None:
        """Publish records in order and wait for all acknowledgements."""
        for topic, key, value, headers in records:
            self.publish_raw(topic, key, value, headers)

    def send_raw_many(
        self, records: Iterable[tuple[str, bytes | None, bytes | None, Headers]]
    ) -> Callable[[], None]:
        """Start publishing records in order, as ``records`` yields them; return the function
        that waits for every acknowledgement (it raises PublishError).

        The outbox relay reads its next rows while the first ones are on their way. Here, in
        the base class, everything is published before this returns."""
        self.publish_raw_many(list(records))
        return _acknowledged

    def publish(self, topic: str, event: CloudEvent) -> None:
        key, value, headers = to_binary(event)
        self.publish_raw(topic, key, value, headers)
        BUS_PUBLISHED.labels(topic=topic).inc()

    def publish_many(self, items: Iterable[tuple[str, CloudEvent]]) -> None:
        batch = [(topic, *to_binary(event)) for topic, event in items]
        self.publish_raw_many(batch)
        for topic, *_ in batch:
            BUS_PUBLISHED.labels(topic=topic).inc()

    @abstractmethod
    def transport(self, topics: Sequence[str], group: str) -> ConsumerTransport: ...

    def consumer(
        self,
        topics: Sequence[str],
        group: str,
        handler: Handler,
        *,
        batch_handler: BatchHandler | None = None,
        max_batch: int = 500,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        retry_max_backoff_s: float = 30.0,
    ) -> Consumer:
        return Consumer(
            self.transport(topics, group),
            handler,
            bus=self,
            group=group,
            batch_handler=batch_handler,
            max_batch=max_batch,
            max_attempts=max_attempts,
            retry_backoff_s=retry_backoff_s,
            retry_max_backoff_s=retry_max_backoff_s,
        )

    @abstractmethod
    def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics (and their DLQs) if missing."""

    @abstractmethod
    def ping(self) -> bool:
        """True when the bus answers (readiness)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


@dataclass
class _Polled:
    """The records of one poll and how far their handling went: a batch paused on a transient
    failure resumes where it stopped (what was applied or dead-lettered is not done twice)."""

    records: list[Record]
    poison: list[tuple[Record, EnvelopeError]]
    events: list[tuple[Record, CloudEvent]]
    poison_done: int = 0
    events_done: int = 0

    def offsets(self) -> dict[tuple[str, int], int]:
        commits: dict[tuple[str, int], int] = {}
        for record in self.records:
            commits[(record.topic, record.partition)] = record.offset + 1
        return commits

    def topics(self) -> list[str]:
        return sorted({record.topic for record in self.records})


class Consumer:
    """Runs a handler over the records of a group: pauses on outages, retries then
    dead-letters failing events, commits after success."""

    def __init__(
        self,
        transport: ConsumerTransport,
        handler: Handler,
        *,
        bus: EventBus,
        group: str,
        batch_handler: BatchHandler | None = None,
        max_batch: int = 500,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        retry_max_backoff_s: float = 30.0,
    ) -> None:
        self.transport = transport
        self.handler = handler
        self.batch_handler = batch_handler
        self.max_batch = max(1, max_batch)
        self.bus = bus
        self.group = group
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.retry_max_backoff_s = max(retry_max_backoff_s, retry_backoff_s)
        self._stop = threading.Event()
        # The next poll, fetched and decoded while a batch was being applied.
        self._next: _Polled | None = None
        # The batch a transient failure paused: tried again before anything else.
        self._paused: _Polled | None = None
        self._pauses = 0  # failed tries of the paused batch, for the backoff
        self._paused_since = 0.0
        self._pool: ThreadPoolExecutor | None = None

    @property
    def paused(self) -> bool:
        """True while a batch waits for a dependency to come back."""
        return self._paused is not None

    def poll_once(self, timeout_s: float = 1.0) -> int:
        """Handle one batch; commit it once every record was handled or dead-lettered.

        With a batch handler, the batch is applied on a worker thread while this thread polls
        and decodes the next one (kept for the next call, neither applied nor committed yet):
        the database and Kafka's fetch overlap, and batches are still applied one after the
        other, in order, each committed after it was applied.

        If the batch failed transiently, nothing is committed: the call waits for the backoff
        (stop() cuts it short) and returns 0, and the next call tries the same batch again."""
        polled = self._paused
        if polled is None:
            polled, self._next = self._next, None
            if polled is None:
                polled = self._fetch(timeout_s)
        if not polled.records:
            return 0
        try:
            self._apply(polled)
        except Exception as exc:
            # Kept, whatever escaped: an outage (or a bug of ours), never a reason to drop
            # records. Deterministic failures of an event were dead-lettered inside.
            self._pause(polled, exc)
            return 0
        try:
            self.transport.commit(polled.offsets())
        except Exception as exc:
            if is_transient(exc):
                self._pause(polled, exc)  # everything applied: the next call only commits
                return 0
            self._resume(polled)
            raise  # a commit refused for good (a rebalance): the group's new member redoes it
        self._resume(polled)
        return len(polled.records)

    def _apply(self, polled: _Polled) -> None:
        """Dead-letter the poison records, then apply the events (or the rest of them)."""
        while polled.poison_done < len(polled.poison):
            record, error = polled.poison[polled.poison_done]
            log.warning(
                "bus.poison_message", topic=record.topic, offset=record.offset, error=str(error)
            )
            self._dead_letter(record, error, attempts=0)
            polled.poison_done += 1
        if self.batch_handler is None:
            self._handle_all(polled)
        elif polled.events_done < len(polled.events):
            work = self._applier().submit(self._handle_batches, self.batch_handler, polled)
            while not work.done() and self._next is None:
                nxt = self._fetch(PREFETCH_WAIT_S)
                if nxt.records:
                    self._next = nxt
            work.result()  # re-raises what the handler raised (a crash too): nothing committed

    def _handle_all(self, polled: _Polled) -> None:
        while polled.events_done < len(polled.events):
            record, event = polled.events[polled.events_done]
            self._handle(record, event)
            polled.events_done += 1

    def _pause(self, polled: _Polled, exc: Exception) -> None:
        """Keep ``polled`` for the next call and wait, the backoff doubling up to its cap."""
        if self._paused is None:
            self._paused_since = time.monotonic()
        self._paused = polled
        self._pauses += 1
        base = max(self.retry_backoff_s, 0.01)
        wait_s = min(base * 2 ** min(self._pauses - 1, 30), self.retry_max_backoff_s)
        for topic in polled.topics():
            BUS_CONSUMER_PAUSED.labels(topic=topic, group=self.group).set(1)
            BUS_TRANSIENT_FAILURES.labels(topic=topic, group=self.group).inc()
        transient = is_transient(exc)
        (log.warning if transient else log.error)(
            "bus.consumer_paused",
            group=self.group,
            topics=polled.topics(),
            attempt=self._pauses,
            retry_in_s=round(wait_s, 2),
            paused_for_s=round(time.monotonic() - self._paused_since, 1),
            transient=transient,
            error=repr(exc),
        )
        self._stop.wait(wait_s)
        if not self._stop.is_set():
            try:
                self.transport.keep_alive()
            except Exception as alive_exc:  # the broker down too: the next try will tell
                log.warning("bus.keep_alive_failed", group=self.group, error=repr(alive_exc))

    def _resume(self, polled: _Polled) -> None:
        if self._paused is None:
            return
        log.warning(
            "bus.consumer_resumed",
            group=self.group,
            topics=polled.topics(),
            attempts=self._pauses,
            paused_for_s=round(time.monotonic() - self._paused_since, 1),
        )
        for topic in polled.topics():
            BUS_CONSUMER_PAUSED.labels(topic=topic, group=self.group).set(0)
        self._paused = None
        self._pauses = 0

    def _fetch(self, timeout_s: float) -> _Polled:
        """Poll, and decode what came (poison records are dead-lettered when applied)."""
        records = self.transport.poll(timeout_s)
        poison: list[tuple[Record, EnvelopeError]] = []
        decoded: list[tuple[Record, CloudEvent]] = []
        for record in records:
            try:
                decoded.append((record, from_binary(record.value, record.headers)))
            except EnvelopeError as exc:
                poison.append((record, exc))
        return _Polled(records, poison, decoded)

    def _applier(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"{self.group}-apply")
        return self._pool

    def _handle_batches(self, handler: BatchHandler, polled: _Polled) -> None:
        while polled.events_done < len(polled.events):
            start = polled.events_done
            self._handle_batch(handler, polled, polled.events[start : start + self.max_batch])

    def run(self, poll_timeout_s: float = 0.5) -> None:
        """Consume until stop() is called."""
        while not self._stop.is_set():
            self.poll_once(poll_timeout_s)

    def run_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        """Consume until ``predicate()`` holds or ``timeout_s`` passes (tests, CLIs)."""
        deadline = time.monotonic() + timeout_s
        while not predicate() and time.monotonic() < deadline and not self._stop.is_set():
            self.poll_once(0.2)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()
        self.transport.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _handle_batch(
        self, handler: BatchHandler, polled: _Polled, batch: list[tuple[Record, CloudEvent]]
    ) -> None:
        """Apply the batch at once; if that fails deterministically, event by event (retries,
        then the DLQ). A transient failure propagates: the consumer pauses."""
        if len(batch) > 1:
            started = time.perf_counter()
            try:
                handler([event for _, event in batch])
            except Exception as exc:
                if is_transient(exc):
                    raise
                # isolate the culprit below, one event at a time
                log.warning(
                    "bus.batch_failed",
                    group=self.group,
                    size=len(batch),
                    error=repr(exc),
                )
            else:
                per_event = (time.perf_counter() - started) / len(batch)
                by_topic = Counter(record.topic for record, _ in batch)
                for topic, count in by_topic.items():  # label lookups once per batch
                    seconds = BUS_HANDLER_SECONDS.labels(topic=topic, group=self.group)
                    for _ in range(count):
                        seconds.observe(per_event)
                    BUS_CONSUMED.labels(topic=topic, group=self.group, outcome="ok").inc(count)
                polled.events_done += len(batch)
                return
        for record, event in batch:
            self._handle(record, event)
            polled.events_done += 1

    def _handled(self, record: Record, seconds: float) -> None:
        BUS_HANDLER_SECONDS.labels(topic=record.topic, group=self.group).observe(seconds)
        BUS_CONSUMED.labels(topic=record.topic, group=self.group, outcome="ok").inc()

    def _handle(self, record: Record, event: CloudEvent) -> None:
        """The one place where a failing event is retried, then dead-lettered; a transient
        failure is raised instead (the consumer pauses, the event is not the culprit)."""
        last_error: Exception | None = None
        with log_context(event_id=event.id, tenant=event.tenant):
            for attempt in range(1, self.max_attempts + 1):
                started = time.perf_counter()
                try:
                    self.handler(event)
                except Exception as exc:  # a handler failure must not stop the consumer
                    if is_transient(exc):
                        raise
                    last_error = exc
                    log.warning(
                        "bus.handler_failed",
                        topic=record.topic,
                        group=self.group,
                        attempt=attempt,
                        error=repr(exc),
                    )
                    if attempt < self.max_attempts:
                        time.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
                    continue
                self._handled(record, time.perf_counter() - started)
                return
            assert last_error is not None
            self._dead_letter(record, last_error, attempts=self.max_attempts)

    def _dead_letter(self, record: Record, error: BaseException, attempts: int) -> None:
        headers = [
            *record.headers,
            ("citela_error", f"{type(error).__name__}: {error}".encode()[:4000]),
            ("citela_error_type", type(error).__name__.encode()),
            ("citela_attempts", str(attempts).encode()),
            ("citela_original_topic", record.topic.encode()),
            ("citela_original_partition", str(record.partition).encode()),
            ("citela_original_offset", str(record.offset).encode()),
            ("citela_consumer_group", self.group.encode()),
            ("citela_dead_lettered_at", str(int(time.time() * 1000)).encode()),
        ]
        # Raises PublishError if the DLQ is unreachable: a transient failure, so the consumer
        # pauses with the record kept, rather than losing it.
        self.bus.publish_raw(dlq_topic(record.topic), record.key, record.value, headers)
        BUS_CONSUMED.labels(topic=record.topic, group=self.group, outcome="dead_lettered").inc()
        log.error(
            "bus.dead_lettered",
            topic=record.topic,
            offset=record.offset,
            group=self.group,
            attempts=attempts,
            error=str(error),
        )
