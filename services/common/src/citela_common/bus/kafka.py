"""Apache Kafka implementation of the bus (kafka-python).

Producer: idempotent, acks=all, every send awaited, so a publish that returns is durable.
Consumer: a group member with auto-commit off; Consumer commits after handling.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition

from citela_common.bus.base import ConsumerTransport, EventBus, PublishError, Record, dlq_topic
from citela_common.events.envelope import Headers
from citela_common.logging import get_logger

log = get_logger(__name__)


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

    @property
    def producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                timeout_ms = int(self.send_timeout_s * 1000)
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    client_id=self.client_id,
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
        wanted = {t for topic in topics for t in (topic, dlq_topic(topic))} - self._known_topics
        if not wanted:
            return
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id)
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
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                request_timeout_ms=3000,
            )
        except KafkaError:
            return False
        try:
            admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None


class _KafkaTransport(ConsumerTransport):
    def __init__(self, bus: KafkaBus, topics: list[str], group: str) -> None:
        self.consumer = KafkaConsumer(
            *topics,
            bootstrap_servers=bus.bootstrap,
            client_id=f"{bus.client_id}-{group}",
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=bus.max_poll_records,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
        )

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
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                out[(tp.topic, tp.partition)] = max(0, high - self.consumer.position(tp))
        return out

    def close(self) -> None:
        self.consumer.close(autocommit=False)
