"""Apache Kafka implementation of the bus (kafka-python).

Producer: idempotent, acks=all, every send awaited, so a publish that returns is durable.
Consumer: a group member with auto-commit off; Consumer commits after handling.

Outages: every client reconnects within about a second of the broker's return (kafka-python's
reconnect backoff grows to 30 s by default: consumers idled ~50 s after an outage), and none
blocks the start of a service: a producer's bootstrap gives up after a few seconds (the relay
retries), topics still to create are created by the first client that reaches the broker,
and a consumer connects on its first poll.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition

from citela_common.bus.base import ConsumerTransport, EventBus, PublishError, Record, dlq_topic
from citela_common.events.envelope import Headers
from citela_common.logging import get_logger

log = get_logger(__name__)

# What every client of ours is given (kafka-python's defaults are for a broker that is
# always there: reconnect backoff up to 30 s, 30 s to bootstrap, 30 s per request).
RECONNECT_BACKOFF_MS = 100
RECONNECT_BACKOFF_MAX_MS = 1_000
RETRY_BACKOFF_MS = 200
BOOTSTRAP_TIMEOUT_MS = 5_000  # creating a client: its first metadata, then it gives up
ADMIN_REQUEST_TIMEOUT_MS = 5_000
PING_TIMEOUT_MS = 1_500  # the readiness probe's metadata request
CONSUMER_REQUEST_TIMEOUT_MS = 15_000  # above fetch.max.wait and the session timeout


def _client_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "reconnect_backoff_ms": RECONNECT_BACKOFF_MS,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        "retry_backoff_ms": RETRY_BACKOFF_MS,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
    }


class KafkaBus(EventBus):
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "citela",
        partitions: int = 3,
        send_timeout_s: float = 30.0,
        max_poll_records: int = 500,
        topic_configs: Mapping[str, str] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        # Given to the topics we create, and set on those that exist (their retention).
        self.topic_configs = dict(topic_configs or {})
        self.max_poll_records = max_poll_records
        self.client_id = client_id
        self.partitions = partitions
        self.send_timeout_s = send_timeout_s
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._known_topics: set[str] = set()
        self._pending_topics: set[str] = set()  # to create once the broker answers
        self._ping_admin: KafkaAdminClient | None = None
        self._ping_lock = threading.Lock()

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self.ensure_pending_topics()  # what a start without the broker left to create
        with self._lock:
            if self._producer is None:
                timeout_ms = int(self.send_timeout_s * 1000)
                self._producer = KafkaProducer(
                    **_client_config(self.bootstrap, self.client_id),
                    acks="all",
                    enable_idempotence=True,
                    retries=2**31 - 1,
                    max_in_flight_requests_per_connection=5,
                    linger_ms=5,
                    # Bounded so that a publish to a dead broker fails (and is retried by the
                    # outbox later) instead of hanging the relay.
                    max_block_ms=min(timeout_ms, 10_000),
                    request_timeout_ms=min(timeout_ms // 2, 10_000),
                    delivery_timeout_ms=timeout_ms,
                )
            return self._producer

    def publish_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        self.publish_raw_many([(topic, key, value, headers)])

    def publish_raw_many(
        self, records: Sequence[tuple[str, bytes | None, bytes | None, Headers]]
    ) -> None:
        self.send_raw_many(records)()

    def send_raw_many(
        self, records: Iterable[tuple[str, bytes | None, bytes | None, Headers]]
    ) -> Callable[[], None]:
        try:
            producer = self.producer
            futures = [
                producer.send(topic, key=key, value=value, headers=list(headers))
                for topic, key, value, headers in records
            ]
        except KafkaError as exc:
            # Also a producer that could not bootstrap (the broker down): the next pass
            # makes a new one, which bootstraps within BOOTSTRAP_TIMEOUT_MS or fails again.
            self._reset_producer()
            raise PublishError(f"Kafka did not take the records: {exc!r}") from exc

        def wait() -> None:
            try:
                producer.flush(timeout=self.send_timeout_s)
                for future in futures:
                    future.get(timeout=self.send_timeout_s)
            except KafkaError as exc:
                self._reset_producer()
                raise PublishError(f"Kafka did not acknowledge: {exc!r}") from exc

        return wait

    def _reset_producer(self) -> None:
        # A producer whose batches expired keeps its failed state; start afresh next time.
        with self._lock:
            if self._producer is not None:
                with contextlib.suppress(Exception):  # closing a broken producer
                    self._producer.close(timeout=1)
                self._producer = None

    def transport(self, topics: Sequence[str], group: str) -> ConsumerTransport:
        return _KafkaTransport(self, list(topics), group)

    def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics (and DLQs) if missing. The broker out of reach: they are kept
        and created by the first client that reaches it (the relay's producer, a consumer),
        so a service starts, and takes requests into its outbox, while Kafka is down."""
        wanted = {t for topic in topics for t in (topic, dlq_topic(topic))} - self._known_topics
        if not wanted:
            return
        with self._lock:
            self._pending_topics |= wanted
        try:
            self.ensure_pending_topics()
        except KafkaError as exc:
            log.warning("bus.topics_deferred", topics=sorted(wanted), error=repr(exc))

    def ensure_pending_topics(self) -> None:
        """Create the topics ``ensure_topics`` could not yet (raises KafkaError if the broker
        does not answer)."""
        with self._lock:
            wanted = self._pending_topics - self._known_topics
        if wanted:
            self._create_topics(wanted)
            with self._lock:
                self._pending_topics -= wanted

    def _create_topics(self, wanted: set[str]) -> None:
        admin = KafkaAdminClient(
            **_client_config(self.bootstrap, self.client_id),
            request_timeout_ms=ADMIN_REQUEST_TIMEOUT_MS,
        )
        try:
            existing = set(admin.list_topics())
            missing = sorted(wanted - existing)
            configs = self.topic_configs or None
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):  # raced another process
                    admin.create_topics(
                        [NewTopic(t, self.partitions, 1, topic_configs=configs) for t in missing],
                        timeout_ms=15_000,
                    )
            present = sorted(wanted & existing)
            if configs and present:
                # Topics created before: the same retention, which the dedupe marks rely on.
                admin.alter_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, t, configs=configs) for t in present]
                )
            self._known_topics |= wanted
        finally:
            admin.close()

    def ping(self) -> bool:
        try:
            self.probe()
            return True
        except KafkaError:
            return False

    def probe(self) -> None:
        """One metadata request on an admin client kept between probes (the readiness
        thread's; a new client per probe cost a bootstrap each time); raises KafkaError when
        the broker does not answer. Also creates the topics still pending."""
        with self._ping_lock:
            try:
                if self._ping_admin is None:
                    self._ping_admin = KafkaAdminClient(
                        **{
                            **_client_config(self.bootstrap, f"{self.client_id}-readiness"),
                            "bootstrap_timeout_ms": PING_TIMEOUT_MS,
                        },
                        request_timeout_ms=PING_TIMEOUT_MS,
                    )
                self._ping_admin.list_topics()
            except KafkaError:
                self._close_ping_admin()
                raise
        self.ensure_pending_topics()

    def _close_ping_admin(self) -> None:
        if self._ping_admin is not None:
            with contextlib.suppress(Exception):  # closing a client of a dead broker
                self._ping_admin.close()
            self._ping_admin = None

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
        with self._ping_lock:
            self._close_ping_admin()


class _KafkaTransport(ConsumerTransport):
    """A group member, created on first use: a service starting while Kafka is down gets a
    transport whose polls raise (a transient error: the loop waits and polls again) until the
    broker answers."""

    def __init__(self, bus: KafkaBus, topics: list[str], group: str) -> None:
        self.bus = bus
        self.topics = topics
        self.group = group
        self._consumer: KafkaConsumer | None = None

    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            self.bus.ensure_pending_topics()  # subscribed topics exist with our settings
            self._consumer = KafkaConsumer(
                *self.topics,
                **_client_config(self.bus.bootstrap, f"{self.bus.client_id}-{self.group}"),
                group_id=self.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=self.bus.max_poll_records,
                session_timeout_ms=10_000,
                heartbeat_interval_ms=1_000,
                request_timeout_ms=CONSUMER_REQUEST_TIMEOUT_MS,
            )
        return self._consumer

    def poll(self, timeout_s: float) -> list[Record]:
        batches = self.consumer.poll(timeout_ms=int(timeout_s * 1000))
        return [
            Record(
                m.topic,
                m.partition,
                m.offset,
                m.key,
                m.value,
                [(k, v if v is not None else b"") for k, v in (m.headers or [])],
            )
            for messages in batches.values()
            for m in messages
        ]

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        self.consumer.commit(
            {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()}
        )

    def lag(self) -> dict[tuple[str, int], int]:
        out: dict[tuple[str, int], int] = {}
        if self._consumer is None:
            return out
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                out[(tp.topic, tp.partition)] = max(0, high - self.consumer.position(tp))
        return out

    def keep_alive(self) -> None:
        # A poll with every partition paused fetches nothing (what was fetched stays parked,
        # positions unchanged) but counts as the member's poll: a long pause does not get it
        # evicted from the group.
        if self._consumer is None:
            return
        assigned = self.consumer.assignment()
        self.consumer.pause(*assigned)
        try:
            self.consumer.poll(timeout_ms=0)
        finally:
            self.consumer.resume(*(tp for tp in assigned if tp in self.consumer.assignment()))

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
