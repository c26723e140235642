"""The event bus contract, and the consumer loop both implementations share.

Delivery semantics (the same in-process and on Kafka, proved by tests/contract):
- at-least-once: a record's offset is committed only after its handler returned, so a
  consumer that dies before the commit gets the record again;
- a handler that raises is retried ``max_attempts`` times with backoff; then the record goes
  to ``<topic>.dlq`` with the error in its headers, and the consumer moves on;
- a record that is not a CloudEvent at all (a poison message) goes to the DLQ at once;
- records of one key (one tenant) keep their order: they live in one partition.

Batches: a consumer may also have a batch handler, called once per polled batch (in record
order, so per-tenant order holds) to apply it in one transaction. If that call raises, the
batch's effects are rolled back and its events go one by one through the single-event handler,
with the retries and dead-lettering above: one failing event is isolated, the rest applied.
Offsets are committed after the whole batch. While a batch is applied (on a worker thread),
the next one is polled and decoded, not applied: the database's work and Kafka's overlap,
batches are still applied one at a time and in order.
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
from citela_common.logging import get_logger, log_context
from citela_common.metrics import (
    BUS_CONSUMED,
    BUS_HANDLER_SECONDS,
    BUS_PUBLISHED,
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
        )

    @abstractmethod
    def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics (and their DLQs) if missing."""

    @abstractmethod
    def ping(self) -> bool:
        """True when the bus answers (readiness)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


class Consumer:
    """Runs a handler over the records of a group, with retries, DLQ and commit-after-success."""

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
    ) -> None:
        self.transport = transport
        self.handler = handler
        self.batch_handler = batch_handler
        self.max_batch = max(1, max_batch)
        self.bus = bus
        self.group = group
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self._stop = threading.Event()
        # The next poll, fetched and decoded while a batch was being applied.
        self._next: tuple[list[Record], list[tuple[Record, CloudEvent]]] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def poll_once(self, timeout_s: float = 1.0) -> int:
        """Handle one batch; commit it once every record was handled or dead-lettered.

        With a batch handler, the batch is applied on a worker thread while this thread polls
        and decodes the next one (kept for the next call, neither applied nor committed yet):
        the database and Kafka's fetch overlap, and batches are still applied one after the
        other, in order, each committed after it was applied."""
        fetched, self._next = self._next, None
        records, decoded = fetched if fetched is not None else self._fetch(timeout_s)
        if not records:
            return 0
        if self.batch_handler is None:
            for record, event in decoded:
                self._handle(record, event)
        elif decoded:
            work = self._applier().submit(self._handle_batches, self.batch_handler, decoded)
            while not work.done():
                nxt = self._fetch(PREFETCH_WAIT_S)
                if nxt[0]:
                    self._next = nxt
                    break
            work.result()  # re-raises what the handler raised (a crash too): nothing committed
        commits: dict[tuple[str, int], int] = {}
        for record in records:
            commits[(record.topic, record.partition)] = record.offset + 1
        self.transport.commit(commits)
        return len(records)

    def _fetch(self, timeout_s: float) -> tuple[list[Record], list[tuple[Record, CloudEvent]]]:
        """Poll, and decode what came (poison records go to the DLQ here)."""
        records = self.transport.poll(timeout_s)
        decoded: list[tuple[Record, CloudEvent]] = []
        for record in records:
            event = self._decode(record)
            if event is not None:
                decoded.append((record, event))
        return records, decoded

    def _applier(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"{self.group}-apply")
        return self._pool

    def _handle_batches(
        self, handler: BatchHandler, decoded: list[tuple[Record, CloudEvent]]
    ) -> None:
        for start in range(0, len(decoded), self.max_batch):
            self._handle_batch(handler, decoded[start : start + self.max_batch])

    def run(self, poll_timeout_s: float = 0.5) -> None:
        """Consume until stop() is called."""
        while not self._stop.is_set():
            self.poll_once(poll_timeout_s)

    def run_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        """Consume until ``predicate()`` holds or ``timeout_s`` passes (tests, CLIs)."""
        deadline = time.monotonic() + timeout_s
        while not predicate() and time.monotonic() < deadline:
            self.poll_once(0.2)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()
        self.transport.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _decode(self, record: Record) -> CloudEvent | None:
        """The record's event, or None once a poison record went to the DLQ."""
        try:
            return from_binary(record.value, record.headers)
        except EnvelopeError as exc:
            log.warning(
                "bus.poison_message", topic=record.topic, offset=record.offset, error=str(exc)
            )
            self._dead_letter(record, exc, attempts=0)
            return None

    def _handle_batch(self, handler: BatchHandler, batch: list[tuple[Record, CloudEvent]]) -> None:
        """Apply the batch at once; if that fails, event by event (retries, then the DLQ)."""
        if len(batch) > 1:
            started = time.perf_counter()
            try:
                handler([event for _, event in batch])
            except Exception as exc:  # isolate the culprit below, one event at a time
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
                return
        for record, event in batch:
            self._handle(record, event)

    def _handled(self, record: Record, seconds: float) -> None:
        BUS_HANDLER_SECONDS.labels(topic=record.topic, group=self.group).observe(seconds)
        BUS_CONSUMED.labels(topic=record.topic, group=self.group, outcome="ok").inc()

    def _handle(self, record: Record, event: CloudEvent) -> None:
        """The one place where a failing event is retried, then dead-lettered."""
        last_error: Exception | None = None
        with log_context(event_id=event.id, tenant=event.tenant):
            for attempt in range(1, self.max_attempts + 1):
                started = time.perf_counter()
                try:
                    self.handler(event)
                except Exception as exc:  # a handler failure must not stop the consumer
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
        ]
        # Raises PublishError if the DLQ is unreachable: then nothing is committed and the
        # record comes back, which is what we want rather than losing it.
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
