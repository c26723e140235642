"""Bus throughput: events/s through the platform's Kafka bus vs a bare kafka-python producer.

Run against the local broker (`deploy/infra.sh up`): ``uv run python bench/bus_throughput.py``.
All figures come from one run on one machine; compare them as ratios, not across runs.

Measured paths, same events (a real FeedbackSubmitted payload, ~450 bytes), same broker:
- bare:       kafka-python KafkaProducer (acks=all, idempotent), send all, flush;
- bus batch:  EventBus.publish_many (CloudEvents binary encoding + awaited acks), batches of 500
              as the outbox relay publishes them;
- bus single: EventBus.publish, one awaited acknowledgement per event (the latency-bound path);
- consume:    the platform's Consumer (decode, handler, commit per batch) reading it all back.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime

from kafka import KafkaProducer

from citela_common.bus.kafka import KafkaBus
from citela_common.events import CloudEvent, make_event, to_binary
from citela_common.events.models import FeedbackSubmitted


def events(n: int) -> list[CloudEvent]:
    tenants = ["agglo-pau", "ville-lyon", "cc-verdon", "dep-oise", "ville-rennes"]
    return [
        make_event(
            FeedbackSubmitted(
                feedback_id=f"fb-{i}",
                entry_id="service-public:mairie-64445-01",
                author_ref=f"{i:08x}",
                channel="portal",
                satisfaction=1 + i % 5,
                importance=1 + (i * 7) % 5,
                comment="Horaires d'ouverture trop courts, toujours fermé le samedi matin.",
                submitted_at=datetime.now(UTC),
            ),
            tenant=tenants[i % len(tenants)],
            source="/citela/feedback",
        )
        for i in range(n)
    ]


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("CITELA_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--single", type=int, default=1_000, help="events for the one-ack-per-event path"
    )
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    sample = events(args.events)
    encoded = [to_binary(e) for e in sample]
    bus = KafkaBus(args.bootstrap)
    topics = {name: f"bench.{name}.{run}" for name in ("bare", "batch", "single")}
    bus.ensure_topics(topics.values())

    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    producer.send(topics["bare"], b"warm-up").get(30)
    t0 = time.perf_counter()
    for key, value, headers in encoded:
        producer.send(topics["bare"], key=key, value=value, headers=headers)
    producer.flush()
    bare = rate(args.events, time.perf_counter() - t0)
    producer.close()

    bus.publish(topics["batch"], sample[0])  # warm-up: connection and metadata
    t0 = time.perf_counter()
    for start in range(0, args.events, 500):
        bus.publish_many((topics["batch"], e) for e in sample[start : start + 500])
    batch = rate(args.events, time.perf_counter() - t0)

    t0 = time.perf_counter()
    for e in sample[: args.single]:
        bus.publish(topics["single"], e)
    single = rate(args.single, time.perf_counter() - t0)

    seen = 0

    def handler(_event: CloudEvent) -> None:
        nonlocal seen
        seen += 1

    consumer = bus.consumer([topics["batch"]], f"bench-{run}", handler)
    consumer.poll_once(5.0)  # join the group before timing
    t0 = time.perf_counter()
    consumer.run_until(lambda: seen >= args.events + 1, 120)
    consume = rate(seen, time.perf_counter() - t0)
    consumer.close()
    bus.close()

    print(f"events: {args.events} (one-ack path: {args.single}), broker {args.bootstrap}")
    print(f"{'path':<34}{'events/s':>12}{'vs bare':>10}")
    for label, figure in [
        ("bare kafka-python producer", bare),
        ("platform bus, batches of 500", batch),
        ("platform bus, one ack per event", single),
        ("platform consumer (decode+commit)", consume),
    ]:
        print(f"{label:<34}{figure:>12,.0f}{figure / bare:>10.2f}")


if __name__ == "__main__":
    main()
