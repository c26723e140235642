"""In-process bus for the embedded mode: partitioned logs and committed group offsets in memory.

It keeps Kafka's semantics that the services rely on (per-key partition order, offsets
committed after handling, redelivery of what was not committed) so that the same consumer
code and the same contract tests run on both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from kafka.partitioner.default import murmur2

from citela_common.bus.base import ConsumerTransport, EventBus, Record
from citela_common.events.envelope import Headers


class InProcessBus(EventBus):
    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self._cond = threading.Condition()
        self._logs: dict[str, list[list[Record]]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}

    def _log(self, topic: str) -> list[list[Record]]:
        if topic not in self._logs:
            self._logs[topic] = [[] for _ in range(self.partitions)]
        return self._logs[topic]

    def partition_for(self, key: bytes | None, topic: str) -> int:
        if key is None:
            return sum(len(p) for p in self._log(topic)) % self.partitions
        # The same hash as Kafka's default partitioner, so a key lands alike on both.
        return int(murmur2(key) & 0x7FFFFFFF) % self.partitions

    def publish_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        with self._cond:
            partition = self.partition_for(key, topic)
            log = self._log(topic)[partition]
            log.append(Record(topic, partition, len(log), key, value, list(headers)))
            self._cond.notify_all()

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic, partition by partition (tests, DLQ inspection)."""
        with self._cond:
            return [r for part in self._log(topic) for r in part]

    def transport(self, topics: Sequence[str], group: str) -> ConsumerTransport:
        return _InProcessTransport(self, list(topics), group)

    def ensure_topics(self, topics: Iterable[str]) -> None:
        with self._cond:
            for topic in topics:
                self._log(topic)

    def ping(self) -> bool:
        return True


class _InProcessTransport(ConsumerTransport):
    def __init__(self, bus: InProcessBus, topics: list[str], group: str) -> None:
        self.bus = bus
        self.topics = topics
        self.group = group
        with bus._cond:
            # A new member starts from the group's committed offsets, like a Kafka rebalance.
            self._position = {
                (t, p): bus._committed.get((group, t, p), 0)
                for t in topics
                for p in range(bus.partitions)
            }
        self._closed = False

    def _available(self, limit: int = 500) -> list[Record]:
        out: list[Record] = []
        for (topic, partition), pos in self._position.items():
            log = self.bus._log(topic)[partition]
            if pos < len(log):
                out.extend(log[pos : pos + limit])
        return out

    def poll(self, timeout_s: float) -> list[Record]:
        if self._closed:
            raise RuntimeError("consumer is closed")
        with self.bus._cond:
            records = self._available()
            if not records:
                self.bus._cond.wait(timeout_s)
                records = self._available()
            for r in records:
                self._position[(r.topic, r.partition)] = r.offset + 1
            return records

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        with self.bus._cond:
            for (topic, partition), offset in offsets.items():
                self.bus._committed[(self.group, topic, partition)] = offset

    def lag(self) -> dict[tuple[str, int], int]:
        with self.bus._cond:
            return {
                (t, p): len(self.bus._log(t)[p]) - self.bus._committed.get((self.group, t, p), 0)
                for (t, p) in self._position
            }

    def close(self) -> None:
        self._closed = True
