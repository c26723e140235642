"""In-process bus: partitioned logs and committed group offsets in memory.

It keeps Kafka's semantics that the services rely on (per-key partition order, offsets
committed after handling, redelivery of what was not committed) so that the same consumer
code and the same contract tests run on both. On its own it forgets everything when the
process ends: the embedded platform uses its durable subclass (``bus.durable.DurableBus``),
which keeps the log and the offsets in a file and whose memory is the hot tail of that log.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence

from kafka.partitioner.default import murmur2

from citela_common.bus.base import ConsumerTransport, EventBus, Record
from citela_common.events.envelope import Headers

# Records a consumer gets per partition and poll (Kafka's max.poll.records, roughly).
POLL_LIMIT = 500

RawRecord = tuple[str, bytes | None, bytes | None, Headers]


class Partition:
    """The records of one topic partition held in memory, from offset ``base`` on."""

    __slots__ = ("base", "records")

    def __init__(self, base: int = 0) -> None:
        self.base = base
        self.records: list[Record] = []

    @property
    def end(self) -> int:
        """The offset the next record will get."""
        return self.base + len(self.records)

    def trim(self, floor: int) -> None:
        """Forget the records below ``floor`` (the durable bus still has them)."""
        floor = min(floor, self.end)
        if floor > self.base:
            del self.records[: floor - self.base]
            self.base = floor


class InProcessBus(EventBus):
    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self._cond = threading.Condition()
        # Publishers one at a time: offsets are given, persisted and shown in order.
        self._append_lock = threading.Lock()
        self._logs: dict[str, list[Partition]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._round_robin = itertools.count()

    # Hooks of the durable subclass ------------------------------------------------------
    def _open(self) -> None:
        """Make the bus ready for use (the durable bus loads its file)."""

    def _persist(self, records: list[Record]) -> None:
        """Make ``records`` durable before consumers may see them (raises PublishError)."""

    def _persist_offsets(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Make a group's committed offsets durable."""

    def _start_of(self, topic: str, partition: int) -> int:
        """The first offset a new group reads (auto.offset.reset=earliest)."""
        return self._log(topic)[partition].base

    def _join(self, group: str, positions: dict[tuple[str, int], int]) -> None:
        """A group starts reading at ``positions`` (the durable bus remembers it)."""

    def _read_back(self, topic: str, partition: int, start: int, stop: int) -> list[Record]:
        """Records [start, stop) no longer held in memory (none here: memory holds all)."""
        return []

    # ------------------------------------------------------------------------------------
    def _log(self, topic: str) -> list[Partition]:
        if topic not in self._logs:
            self._logs[topic] = [Partition() for _ in range(self.partitions)]
        return self._logs[topic]

    def partition_for(self, key: bytes | None, topic: str) -> int:
        if key is None:
            return next(self._round_robin) % self.partitions
        # The same hash as Kafka's default partitioner, so a key lands alike on both.
        return int(murmur2(key) & 0x7FFFFFFF) % self.partitions

    def publish_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        self.publish_raw_many([(topic, key, value, headers)])

    def publish_raw_many(self, records: Sequence[RawRecord]) -> None:
        """Append the records in order, durably first (one write for the batch), then show
        them to the consumers."""
        if not records:
            return
        with self._append_lock:
            self._open()
            with self._cond:
                ends: dict[tuple[str, int], int] = {}
                batch: list[Record] = []
                for topic, key, value, headers in records:
                    partition = self.partition_for(key, topic)
                    at = ends.get((topic, partition))
                    if at is None:
                        at = self._log(topic)[partition].end
                    batch.append(Record(topic, partition, at, key, value, list(headers)))
                    ends[(topic, partition)] = at + 1
            self._persist(batch)  # outside the condition: consumers keep polling meanwhile
            with self._cond:
                for record in batch:
                    self._logs[record.topic][record.partition].records.append(record)
                self._cond.notify_all()

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic, partition by partition (tests, DLQ inspection)."""
        self._open()
        with self._cond:
            return [r for part in self._log(topic) for r in part.records]

    def transport(self, topics: Sequence[str], group: str) -> ConsumerTransport:
        self._open()
        return _InProcessTransport(self, list(topics), group)

    def ensure_topics(self, topics: Iterable[str]) -> None:
        self._open()
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
            # A new member starts from the group's committed offsets, like a Kafka rebalance;
            # a new group from the earliest record kept.
            self._position = {
                (t, p): bus._committed.get((group, t, p), bus._start_of(t, p))
                for t in topics
                for p in range(bus.partitions)
            }
        bus._join(group, self._position)
        self._closed = False

    def _available(self) -> tuple[list[Record], list[tuple[str, int, int, int]]]:
        """The records in memory past our positions, and the ranges to read back from the
        durable log (positions behind what memory holds)."""
        out: list[Record] = []
        behind: list[tuple[str, int, int, int]] = []
        for (topic, partition), pos in self._position.items():
            part = self.bus._log(topic)[partition]
            if pos < part.base:
                behind.append((topic, partition, pos, min(part.base, pos + POLL_LIMIT)))
            elif pos < part.end:
                out.extend(part.records[pos - part.base : pos - part.base + POLL_LIMIT])
        return out, behind

    def poll(self, timeout_s: float) -> list[Record]:
        if self._closed:
            raise RuntimeError("consumer is closed")
        with self.bus._cond:
            records, behind = self._available()
            if not records and not behind:
                self.bus._cond.wait(timeout_s)
                records, behind = self._available()
            for r in records:
                self._position[(r.topic, r.partition)] = r.offset + 1
        for topic, partition, start, stop in behind:
            older = self.bus._read_back(topic, partition, start, stop)
            records.extend(older)
            # What retention deleted is skipped, as Kafka does past the log start.
            self._position[(topic, partition)] = older[-1].offset + 1 if older else stop
        return records

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        self.bus._persist_offsets(self.group, offsets)
        with self.bus._cond:
            for (topic, partition), offset in offsets.items():
                self.bus._committed[(self.group, topic, partition)] = offset

    def lag(self) -> dict[tuple[str, int], int]:
        with self.bus._cond:
            return {
                (t, p): self.bus._log(t)[p].end
                - self.bus._committed.get((self.group, t, p), self.bus._start_of(t, p))
                for (t, p) in self._position
            }

    def close(self) -> None:
        self._closed = True
