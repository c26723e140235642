"""The event bus: Kafka in the distributed mode, in-process in the embedded mode."""

from __future__ import annotations

from citela_common.bus.base import (
    BatchHandler,
    Consumer,
    ConsumerTransport,
    EventBus,
    Handler,
    PublishError,
    Record,
    dlq_topic,
)
from citela_common.bus.durable import BusLockedError, DurableBus
from citela_common.bus.memory import InProcessBus
from citela_common.settings import Settings

BUS_FILE = "bus.db"


def create_bus(settings: Settings) -> EventBus:
    """The bus the configuration asks for."""
    if settings.kafka_bootstrap:
        from citela_common.bus.kafka import KafkaBus

        return KafkaBus(
            settings.kafka_bootstrap,
            client_id=settings.kafka_client_id,
            partitions=settings.kafka_partitions,
            max_poll_records=settings.bus_max_batch,
            # The processed-event marks are kept for as long (citela_common.retention).
            topic_configs={
                "retention.ms": str(settings.topic_retention_s * 1000),
                "segment.ms": str(settings.topic_segment_s * 1000),
            },
        )
    if settings.resolved_database_url in {"sqlite://", "sqlite:///:memory:"}:
        # Nothing of the platform outlives the process: neither need its events.
        return InProcessBus(partitions=settings.kafka_partitions)
    # Embedded: the log and the offsets in a file beside the services' own (opened on first
    # use, so a CLI command that never publishes never touches it).
    return DurableBus.shared(
        settings.data_dir / BUS_FILE,
        partitions=settings.kafka_partitions,
        retention_s=settings.topic_retention_s,
    )


__all__ = [
    "BUS_FILE",
    "BatchHandler",
    "BusLockedError",
    "Consumer",
    "ConsumerTransport",
    "DurableBus",
    "EventBus",
    "Handler",
    "InProcessBus",
    "PublishError",
    "Record",
    "create_bus",
    "dlq_topic",
]
