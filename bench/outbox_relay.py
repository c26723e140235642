"""Outbox relay throughput: the feedback service's relay draining its outbox to Kafka, vs a bare
kafka-python producer sending the very same records, in one run.

    uv run --no-sync python bench/outbox_relay.py [--events 20000] [--repeat 3]

Distributed only (the relay's job is to reach Kafka): a PostgreSQL database of this run
(created, then dropped) on ``--pg-url``'s server and topics of this run on ``--kafka``,
whatever ``CITELA_*`` variables are exported.

Each repetition stages ``--events`` FeedbackSubmitted events through the feedback service's own
staging code (``citela_feedback.events.stage_current``, 500 per transaction, as a batch POST
would), then times, back to back:
- bare:  one KafkaProducer configured as the platform's (acks=all, idempotent, linger 5 ms)
         sending the records the relay publishes (same key, value and headers, read from the
         outbox and encoded before the clock starts), all of them, then one flush;
- relay: ``OutboxRelay.relay_once`` until the outbox is empty: each batch selected with
         ``FOR UPDATE SKIP LOCKED`` under the advisory lock, published and acknowledged, marked
         sent, committed; the backlog gauges set as in production.
The two alternate which runs first. It checks that the relay's topic holds every event, and
prints the medians and, last, ``ratio=<median of the runs' relay/bare> relay=<events/s>
bare=<events/s>``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition
from sqlalchemy import select, update

from citela_common.bus.kafka import KafkaBus
from citela_common.db import Database
from citela_common.events.envelope import Headers
from citela_common.outbox import OutboxRelay, binary_record
from citela_common.settings import Settings
from citela_feedback.events import stage_current
from citela_feedback.models import Feedback, Outbox
from citela_feedback.service import build_runtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ as a package
from bench.modes import KAFKA, PG_URL, clear_environment, delete_topics, fresh_database, run_id

Record = tuple[bytes, bytes, Headers]
TENANTS = ("agglo-pau", "ville-lyon", "cc-verdon", "dep-oise", "ville-rennes")
COMMENTS = (
    "Horaires d'ouverture trop courts, toujours fermé le samedi matin.",
    "Accueil très aimable, dossier de carte d'identité traité en dix minutes.",
    "Impossible de joindre le standard de la mairie avant 10 h.",
)


def stage(db: Database, secret: str, n: int, topic: str) -> None:
    """Stage ``n`` events as the intake does, then point them at this run's topic."""
    now = datetime.now(UTC)
    for start in range(0, n, 500):
        with db.transaction() as session:
            for i in range(start, min(n, start + 500)):
                feedback = Feedback(
                    id=uuid.uuid4().hex,
                    tenant_id=TENANTS[i % len(TENANTS)],
                    entry_id=f"service-public:mairie-{64400 + i % 90:05d}-01",
                    author_key=f"partner:bench:{i:08x}",
                    channel="partner",
                    satisfaction=1 + i % 5,
                    importance=1 + (i * 7) % 5,
                    comment_redacted=COMMENTS[i % len(COMMENTS)],
                    moderation_status="visible",
                    revision=1,
                    submitted_at=now - timedelta(seconds=i),
                )
                stage_current(session, feedback, secret, first=True)
    with db.transaction() as session:
        session.execute(update(Outbox).where(Outbox.sent_at.is_(None)).values(topic=topic))


def end_offset_total(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def platform_producer(bootstrap: str) -> KafkaProducer:
    """A producer configured as KafkaBus's (citela_common.bus.kafka)."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="bench-bare",
        acks="all",
        enable_idempotence=True,
        retries=2**31 - 1,
        max_in_flight_requests_per_connection=5,
        linger_ms=5,
        max_block_ms=10_000,
        request_timeout_ms=10_000,
        delivery_timeout_ms=30_000,
    )


def bare_run(producer: KafkaProducer, topic: str, records: list[Record]) -> float:
    """Events/s of the bare producer sending ``records``, all acknowledged."""
    t0 = time.perf_counter()
    for key, value, headers in records:
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    return len(records) / (time.perf_counter() - t0)


def relay_run(relay: OutboxRelay, expected: int) -> float:
    """Events/s of the relay draining the outbox, all acknowledged and marked sent."""
    t0 = time.perf_counter()
    published = 0
    while (batch := relay.relay_once()) > 0:
        published += batch
    rate = published / (time.perf_counter() - t0)
    assert published == expected, f"relay published {published} of {expected}"
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["distributed"], default="distributed")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--kafka", default=KAFKA)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the setting")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    clear_environment()
    run = run_id()
    bare_topic, relay_topic = f"bench.relay.bare.{run}", f"bench.relay.outbox.{run}"
    bare_rates: list[float] = []
    relay_rates: list[float] = []
    with fresh_database(args.pg_url, f"bench_relay_{run}") as url:
        settings = Settings(
            _env_file=None,
            database_url=url,
            kafka_bootstrap=args.kafka,
            kafka_client_id=f"bench-relay-{run}",
            log_level="WARNING",
        )
        bus = KafkaBus(args.kafka, client_id=f"bench-relay-{run}")
        runtime = build_runtime(settings, bus)
        runtime.migrate()
        bus.ensure_topics([bare_topic, relay_topic])
        relay = OutboxRelay(
            runtime.db,
            Outbox,
            bus,
            service=f"bench-relay-{run}",
            batch_size=args.batch_size or settings.outbox_batch_size,
        )
        secret = settings.secret_key.get_secret_value()
        producer = platform_producer(args.kafka)
        producer.send(bare_topic, b"warm-up").get(30)  # connection and metadata, both sides
        bus.publish_raw(relay_topic, None, b"warm-up", [])
        try:
            for rep in range(args.repeat):
                stage(runtime.db, secret, args.events, relay_topic)
                with runtime.db.read() as session:
                    envelopes = session.scalars(
                        select(Outbox.envelope).where(Outbox.sent_at.is_(None)).order_by(Outbox.id)
                    ).all()
                records = [binary_record(e) for e in envelopes]

                # Alternate which goes first: a burst of load on a shared host hits both alike.
                if rep % 2 == 0:
                    bare_rates.append(bare_run(producer, bare_topic, records))
                    relay_rates.append(relay_run(relay, args.events))
                else:
                    relay_rates.append(relay_run(relay, args.events))
                    bare_rates.append(bare_run(producer, bare_topic, records))
                print(
                    f"run {rep + 1}: bare {bare_rates[-1]:,.0f} events/s, "
                    f"relay {relay_rates[-1]:,.0f} events/s, "
                    f"ratio {relay_rates[-1] / bare_rates[-1]:.2f}",
                    flush=True,
                )
            on_topic = end_offset_total(args.kafka, relay_topic)
            expected = args.events * args.repeat + 1
            assert on_topic == expected, f"{on_topic} records on the relay topic, {expected} sent"
        finally:
            producer.close()
            bus.close()
            runtime.db.dispose()
            delete_topics(args.kafka, [bare_topic, relay_topic])
    bare, relayed = statistics.median(bare_rates), statistics.median(relay_rates)
    # The median of the runs' ratios: each pair ran back to back, under the same load.
    ratio = statistics.median(r / b for r, b in zip(relay_rates, bare_rates, strict=True))
    print(
        f"events per run: {args.events}, relay batches of {relay.batch_size}, "
        f"PostgreSQL + Kafka {args.kafka}, medians of {args.repeat}"
    )
    print(f"{'bare kafka-python producer':<36}{bare:>12,.0f} events/s")
    print(f"{'outbox relay (feedback service)':<36}{relayed:>12,.0f} events/s")
    print(f"ratio={ratio:.2f} relay={relayed:.0f} bare={bare:.0f}")


if __name__ == "__main__":
    main()
