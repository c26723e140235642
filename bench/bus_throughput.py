"""Bus throughput: events/s through the platform's Kafka bus vs a bare kafka-python producer.

Run against the local broker (`deploy/infra.sh up`): ``uv run python bench/bus_throughput.py``.
All figures come from one run on one machine; compare them as ratios, not across runs.

Measured paths, same events (a real FeedbackSubmitted payload, ~450 bytes), same broker:
- bare:       kafka-python KafkaProducer (acks=all, idempotent), send all, flush;
- bus batch:  EventBus.publish_many (CloudEvents binary encoding + awaited acks), batches of 500
              as the outbox relay publishes them;
- bus single: EventBus.publish, one awaited acknowledgement per event (the latency-bound path);
- consume:    a bare kafka-python KafkaConsumer that decodes each record (from_binary) and
              commits after each poll, then the platform's Consumer (decode, a no-op batch
              handler, commit per batch) reading the same topic back, each in its own group.

The producers are compared with the bare producer, the consumers with the bare consumer.
``bench/consumers.py`` measures the services' consumers (database work included) the same way.
It runs against ``--bootstrap`` (default the local broker), whatever CITELA_* is exported.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer

from citela_common.bus.kafka import KafkaBus
from citela_common.events import CloudEvent, make_event, to_binary
from citela_common.events.envelope import from_binary
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
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
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

    total = args.events + 1  # with the warm-up event
    bare_consumer = KafkaConsumer(
        topics["batch"],
        bootstrap_servers=args.bootstrap,
        group_id=f"bench-bare-{run}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    read, t0 = 0, 0.0
    while read < total:
        polled = bare_consumer.poll(timeout_ms=1000)
        t0 = t0 or (time.perf_counter() if polled else 0.0)
        for messages in polled.values():
            for m in messages:
                from_binary(m.value, [(k, v or b"") for k, v in m.headers or []])
                read += 1
        bare_consumer.commit()
    bare_consume = rate(read, time.perf_counter() - t0)
    bare_consumer.close(autocommit=False)

    seen = 0

    def handler(_event: CloudEvent) -> None:
        nonlocal seen
        seen += 1

    def batch_handler(events: list[CloudEvent]) -> None:
        nonlocal seen
        seen += len(events)

    consumer = bus.consumer([topics["batch"]], f"bench-{run}", handler, batch_handler=batch_handler)
    first = 0
    while not first:  # joins the group; timed from the first records on, as the bare one
        first = consumer.poll_once(1.0)
    t0 = time.perf_counter()
    consumer.run_until(lambda: seen >= total, 120)
    consume = rate(seen - first, time.perf_counter() - t0)
    consumer.close()
    bus.close()

    print(f"events: {args.events} (one-ack path: {args.single}), broker {args.bootstrap}")
    print(f"{'path':<36}{'events/s':>12}{'vs bare':>10}")
    for label, figure, anchor in [
        ("bare kafka-python producer", bare, bare),
        ("platform bus, batches of 500", batch, bare),
        ("platform bus, one ack per event", single, bare),
        ("bare kafka-python consumer", bare_consume, bare_consume),
        ("platform consumer (no-op batches)", consume, bare_consume),
    ]:
        print(f"{label:<36}{figure:>12,.0f}{figure / anchor:>10.2f}")


if __name__ == "__main__":
    main()
