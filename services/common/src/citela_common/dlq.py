"""The dead-letter queues: read them, select from them, replay what they hold.

A consumer sends to ``<topic>.dlq`` what fails deterministically (after its retries) or is no
CloudEvent at all, with the error in ``citela_*`` headers (bus/base.py); an outage is never
dead-lettered. Once the cause is fixed (a catalogue entry arrived, a bug corrected), the
events are replayed: published again, as they were, to their original topic. Every consumer
of that topic gets them again; those that had applied them skip them (their processed-event
marks), so a replay is harmless to repeat.

A DLQ is a log: a replayed record stays in it. The replay appends a marker to the DLQ
(``citela_replayed`` = the record's ``partition:offset``), and reading the DLQ pairs them: a
replayed record is listed as such, and not replayed again unless named.

Reading never joins a consumer group: Kafka's partitions are assigned and read from the start;
the embedded bus gives its records (``InProcessBus.records``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from citela_common.bus.base import DLQ_SUFFIX, EventBus, Record, dlq_topic
from citela_common.bus.memory import InProcessBus
from citela_common.events.envelope import Headers
from citela_common.events.models import ANALYTICS_TOPIC, CATALOGUE_TOPIC, FEEDBACK_TOPIC

TOPICS: tuple[str, ...] = (CATALOGUE_TOPIC, FEEDBACK_TOPIC, ANALYTICS_TOPIC)
ERROR_PREFIX = "citela_"  # the headers a consumer adds when it dead-letters a record
REPLAYED = "citela_replayed"
REPLAYED_AT = "citela_replayed_at"
MAX_LIMIT = 1000
# How long reading a Kafka DLQ from its start may take, at most.
READ_TIMEOUT_S = 30.0


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace")
    return None


def _millis(text: str | None) -> datetime | None:
    if text is None or not text.isdigit():
        return None
    return datetime.fromtimestamp(int(text) / 1000, UTC)


@dataclass
class DeadLetter:
    """One record of a DLQ, read with the error its consumer wrote beside it."""

    record: Record  # as stored in the DLQ (its topic, partition and offset: the DLQ's)
    appended_at: datetime | None = None  # the broker's timestamp, where it keeps one
    replayed_at: datetime | None = None
    replayed: bool = False

    def header(self, name: str) -> str | None:
        return _header(self.record.headers, name)

    @property
    def address(self) -> str:
        """Where it lies: ``<dlq topic>:<partition>:<offset>`` (unique, even without an id)."""
        return f"{self.record.topic}:{self.record.partition}:{self.record.offset}"

    @property
    def event_id(self) -> str | None:
        return self.header("ce_id")

    @property
    def ref(self) -> str:
        """What the command line names it by: its event id, or its address without one."""
        return self.event_id or self.address

    @property
    def topic(self) -> str:
        """The topic it was consumed from."""
        original = self.header("citela_original_topic")
        if original:
            return original
        return self.record.topic.removesuffix(DLQ_SUFFIX)

    @property
    def partition(self) -> int | None:
        text = self.header("citela_original_partition")
        return int(text) if text and text.isdigit() else None

    @property
    def offset(self) -> int | None:
        text = self.header("citela_original_offset")
        return int(text) if text and text.isdigit() else None

    @property
    def tenant(self) -> str | None:
        tenant = self.header("ce_tenant")
        if tenant is None and self.record.key is not None:
            return self.record.key.decode(errors="replace")  # the key is the tenant
        return tenant

    @property
    def event_type(self) -> str | None:
        return self.header("ce_type")

    @property
    def error_type(self) -> str | None:
        return self.header("citela_error_type")

    @property
    def error(self) -> str | None:
        return self.header("citela_error")

    @property
    def attempts(self) -> int | None:
        text = self.header("citela_attempts")
        return int(text) if text and text.isdigit() else None

    @property
    def group(self) -> str | None:
        return self.header("citela_consumer_group")

    @property
    def dead_lettered_at(self) -> datetime | None:
        return _millis(self.header("citela_dead_lettered_at")) or self.appended_at

    @property
    def poison(self) -> bool:
        """Not a CloudEvent (dead-lettered at once, attempts 0): nothing to replay."""
        return self.event_id is None or self.event_type is None

    def data(self) -> Any:
        """The event's data: JSON when it parses, else the text (or the bytes' repr)."""
        value = self.record.value
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            try:
                return value.decode()
            except UnicodeDecodeError:
                return repr(value)

    def replay_headers(self) -> Headers:
        """The record's headers as it was first published: without what the DLQ added."""
        return [(k, v) for k, v in self.record.headers if not k.startswith(ERROR_PREFIX)]

    def summary(self) -> dict[str, Any]:
        """What ``list`` shows of it (and prints as JSON)."""
        when = self.dead_lettered_at
        return {
            "ref": self.ref,
            "address": self.address,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "tenant": self.tenant,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "error_type": self.error_type,
            "error": self.error,
            "attempts": self.attempts,
            "group": self.group,
            "dead_lettered_at": when.isoformat() if when else None,
            "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
            "replayed": self.replayed,
        }

    def details(self) -> dict[str, Any]:
        """What ``show`` prints: the summary, every header, and the data."""
        return {
            **self.summary(),
            "key": self.record.key.decode(errors="replace") if self.record.key else None,
            "headers": {k: v.decode(errors="replace") for k, v in self.record.headers},
            "data": self.data(),
        }


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command is about (every field optional: all of them)."""

    topics: Sequence[str] = ()
    tenant: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    refs: Sequence[str] = ()  # event ids or addresses
    include_replayed: bool = False

    def topics_to_read(self) -> list[str]:
        # An address names its DLQ: read it even when no --topic says so.
        named = [ref.split(":")[0] for ref in self.refs if _ADDRESS.match(ref)]
        chosen = [t.removesuffix(DLQ_SUFFIX) for t in [*self.topics, *named]]
        return [dlq_topic(t) for t in dict.fromkeys(chosen or TOPICS)]

    def matches(self, letter: DeadLetter) -> bool:
        if self.refs:  # named ones: whatever their state
            return letter.ref in self.refs or letter.address in self.refs
        if letter.replayed and not self.include_replayed:
            return False
        if self.tenant is not None and letter.tenant != self.tenant:
            return False
        when = letter.dead_lettered_at
        if self.since is not None and (when is None or when < self.since):
            return False
        return not (self.until is not None and (when is None or when >= self.until))


_ADDRESS = re.compile(r"^[\w.-]+\.dlq:\d+:\d+$")
_RELATIVE = re.compile(r"^(\d+)\s*(s|min|m|h|d|j)$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400, "j": 86_400}


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """``2026-12-03``, ``2026-12-03T14:00`` (UTC unless it says otherwise) or a time ago:
    ``30m``, ``2h``, ``7d`` (``j`` for jours too)."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(text.strip().lower())
    if relative:
        return now - timedelta(seconds=int(relative.group(1)) * _UNITS[relative.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"date illisible : {text!r} (ISO 8601, ex. 2026-12-03T14:00, ou 30m, 2h, 7d)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Read:
    """Dead letters read from the DLQs, and the markers of their replays."""

    letters: list[DeadLetter] = field(default_factory=list)

    def select(self, selection: Selection) -> list[DeadLetter]:
        return [letter for letter in self.letters if selection.matches(letter)]


def read_topic(bus: EventBus, topic: str) -> list[tuple[Record, datetime | None]]:
    """Every record ``topic`` keeps, from its start, with the broker's timestamp if any.

    No group is joined and no offset committed: reading changes nothing."""
    if isinstance(bus, InProcessBus):
        return [(record, None) for record in bus.records(topic)]
    from citela_common.bus.kafka import KafkaBus

    if isinstance(bus, KafkaBus):
        return _read_kafka(bus, topic)
    raise TypeError(f"no way to read a topic of {type(bus).__name__}")


def _read_kafka(bus: Any, topic: str) -> list[tuple[Record, datetime | None]]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bus.bootstrap,
        client_id=f"{bus.client_id}-dlq-reader",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends: dict[Any, int] = consumer.end_offsets(assigned)
        out: list[tuple[Record, datetime | None]] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: lecture incomplète après {READ_TIMEOUT_S:.0f} s")
            for messages in consumer.poll(timeout_ms=500).values():
                for m in messages:
                    if m.offset >= ends[TopicPartition(m.topic, m.partition)]:
                        continue
                    headers = [(k, v if v is not None else b"") for k, v in (m.headers or [])]
                    record = Record(m.topic, m.partition, m.offset, m.key, m.value, headers)
                    out.append((record, datetime.fromtimestamp(m.timestamp / 1000, UTC)))
        return out
    finally:
        consumer.close(autocommit=False)


def read(bus: EventBus, selection: Selection) -> Read:
    """The dead letters of the DLQs ``selection`` names, each marked if it was replayed."""
    letters: list[DeadLetter] = []
    for topic in selection.topics_to_read():
        markers: dict[str, datetime | None] = {}
        found: list[DeadLetter] = []
        for record, appended in read_topic(bus, topic):
            replay_of = _header(record.headers, REPLAYED)
            if replay_of is not None:
                for address in replay_of.split(","):
                    markers[address] = _millis(_header(record.headers, REPLAYED_AT)) or appended
                continue
            found.append(DeadLetter(record, appended))
        for letter in found:
            at = f"{letter.record.partition}:{letter.record.offset}"
            if at in markers:
                letter.replayed = True
                letter.replayed_at = markers[at]
        letters.extend(found)
    letters.sort(key=lambda d: d.dead_lettered_at or datetime.min.replace(tzinfo=UTC))
    return Read(letters)


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay will publish, and what it leaves out (and why)."""

    events: list[DeadLetter]  # one per (topic, event id), in the original log's order
    duplicates: list[DeadLetter]  # the same event dead-lettered by another group too
    poison: list[DeadLetter]  # no CloudEvent: nothing to replay

    def by_topic(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for letter in self.events:
            counts[letter.topic] = counts.get(letter.topic, 0) + 1
        return counts


def plan_replay(letters: Iterable[DeadLetter]) -> ReplayPlan:
    """One publication per event: an event several groups dead-lettered is published once
    (every group of its topic gets it again); ordered as the original log had them, so a
    tenant's events come back in their order."""
    events: dict[tuple[str, str], DeadLetter] = {}
    duplicates: list[DeadLetter] = []
    poison: list[DeadLetter] = []
    for letter in letters:
        if letter.poison:
            poison.append(letter)
            continue
        key = (letter.topic, letter.event_id or "")
        if key in events:
            duplicates.append(letter)
        else:
            events[key] = letter
    ordered = sorted(
        events.values(),
        key=lambda d: (d.topic, d.partition or 0, d.offset or 0, d.record.offset),
    )
    return ReplayPlan(ordered, duplicates, poison)


def replay(bus: EventBus, plan: ReplayPlan) -> int:
    """Publish the plan's events to their topics, then mark every record they stand for
    (duplicates included) as replayed in its DLQ; returns the events published."""
    if not plan.events:
        return 0
    bus.publish_raw_many(
        [
            (letter.topic, letter.record.key, letter.record.value, letter.replay_headers())
            for letter in plan.events
        ]
    )
    now = str(int(time.time() * 1000)).encode()
    markers: dict[tuple[str, bytes | None], list[str]] = {}
    for letter in [*plan.events, *plan.duplicates]:
        at = f"{letter.record.partition}:{letter.record.offset}"
        markers.setdefault((letter.record.topic, letter.record.key), []).append(at)
    bus.publish_raw_many(
        [
            (topic, key, None, [(REPLAYED, ",".join(addresses).encode()), (REPLAYED_AT, now)])
            for (topic, key), addresses in markers.items()
        ]
    )
    return len(plan.events)
