"""What a running service is made of, and its background loops (outbox relay, consumers).

Each service builds a ServiceRuntime from the settings and a bus; the platform package
starts one per process (distributed) or all four in one process (embedded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic

from fastapi import FastAPI
from typing_extensions import TypeVar

from citela_common.bus.base import BatchHandler, Consumer, EventBus, Handler
from citela_common.db import Database
from citela_common.events.envelope import CloudEvent
from citela_common.logging import get_logger
from citela_common.metrics import BUS_CONSUMER_LAG
from citela_common.migrations import upgrade
from citela_common.outbox import OutboxMixin, OutboxRelay
from citela_common.readiness import Probe, Readiness, consumers_check, outbox_check
from citela_common.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer group: its per-event handler and, optionally, its batch handler.

    With a batch handler, each polled batch is applied in one go and ``handler`` only serves
    to isolate a failing event when the batch fails (see bus/base.py).
    """

    topics: Sequence[str]
    group: str
    handler: Handler
    batch_handler: BatchHandler | None = None

    @classmethod
    def batched(cls, topics: Sequence[str], group: str, batch: BatchHandler) -> ConsumerSpec:
        """A spec whose single-event handler is the batch handler on a batch of one."""

        def handle(event: CloudEvent) -> None:
            batch([event])

        return cls(topics, group, handle, batch)


ContextT = TypeVar("ContextT", default=Any)
"""What a service's routes, jobs and CLI share beyond the runtime (caches, gateways, its own
settings): one typed object per service, ``ServiceRuntime[FeedbackContext]`` for instance."""


@dataclass
class ServiceRuntime(Generic[ContextT]):
    name: str
    package: str
    settings: Settings
    db: Database
    bus: EventBus
    outbox_model: type[OutboxMixin]
    app_factory: Callable[[ServiceRuntime[ContextT]], FastAPI]
    context: ContextT
    consumers: list[ConsumerSpec] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    # Called by stop_background once the consumers have stopped (flush what they left).
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    relay: OutboxRelay = field(init=False)
    readiness: Readiness = field(init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _running: list[Consumer] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.relay = OutboxRelay(
            self.db,
            self.outbox_model,
            self.bus,
            service=self.name,
            batch_size=self.settings.outbox_batch_size,
            poll_interval_s=self.settings.outbox_poll_interval_s,
            linger_s=self.settings.outbox_linger_s,
        )
        # Required: the database (nothing works without it). Reported only: the bus (the
        # outbox holds the events meanwhile), the relay's backlog, the consumers' pauses.
        # A service adds its own (Redis) with ``readiness.add``.
        self.readiness = Readiness(
            [
                Probe("database", self.db.probe, required=True),
                Probe("bus", getattr(self.bus, "probe", self.bus.ping), required=False),
                outbox_check(self.relay),
                consumers_check(lambda: self._running),
            ]
        )

    def migrate(self) -> None:
        upgrade(self.db, self.package)

    def create_app(self) -> FastAPI:
        app = self.app_factory(self)
        app.state.runtime = self
        return app

    def readiness_checks(self) -> Readiness:
        """What ``/readyz`` reads (its probe threads start with the background, or at the
        first ``/readyz``)."""
        return self.readiness

    def group_of(self, spec: ConsumerSpec) -> str:
        """The Kafka group ``spec`` consumes in: its name plus the settings' suffix (a bench or
        a blue/green deploy gives its processes groups of their own)."""
        return f"{spec.group}{self.settings.consumer_group_suffix}"

    def consumer_groups(self) -> list[tuple[str, list[str]]]:
        """(group, topics) of each consumer, as ``start_background`` will name them."""
        return [(self.group_of(spec), list(spec.topics)) for spec in self.consumers]

    def start_background(self) -> None:
        """Start the outbox relay and the consumers, each on a daemon thread."""
        self.readiness.start()
        self.bus.ensure_topics([*self.topics, *(t for spec in self.consumers for t in spec.topics)])
        self._spawn(f"{self.name}-relay", self.relay.run)
        for spec in self.consumers:
            group = self.group_of(spec)
            consumer = self.bus.consumer(
                spec.topics,
                group,
                spec.handler,
                batch_handler=spec.batch_handler,
                max_batch=self.settings.bus_max_batch,
                max_attempts=self.settings.bus_max_attempts,
                retry_backoff_s=self.settings.bus_retry_backoff_s,
                retry_max_backoff_s=self.settings.bus_retry_max_backoff_s,
            )
            self._running.append(consumer)
            self._spawn(f"{self.name}-{group}", partial(self._consume, consumer))

    def _consume(self, consumer: Consumer) -> None:
        while not consumer._stop.is_set():
            try:
                consumer.poll_once(0.5)
                per_topic: dict[str, int] = {}
                for (topic, _partition), lag in consumer.transport.lag().items():
                    per_topic[topic] = per_topic.get(topic, 0) + lag
                for topic, total in per_topic.items():
                    BUS_CONSUMER_LAG.labels(topic=topic, group=consumer.group).set(total)
            except Exception as exc:
                log.exception("bus.consumer_error", group=consumer.group, error=repr(exc))
                consumer._stop.wait(1.0)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop_background(self, timeout_s: float = 10.0) -> None:
        self.readiness.stop()
        self.relay.stop()
        for consumer in self._running:
            consumer.stop()
        for thread in self._threads:
            thread.join(timeout_s)
        for consumer in self._running:
            consumer.transport.close()
        for stop in self.on_stop:
            try:
                stop()
            except Exception as exc:
                log.exception("runtime.on_stop_failed", service=self.name, error=repr(exc))
        self._threads.clear()
        self._running.clear()
