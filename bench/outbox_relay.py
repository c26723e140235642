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

    uv run --no-sync python bench/outbox_relay.py --trickle 300 [--seconds 20] [--linger-ms 5]

The production pattern instead: single feedback POSTs, each its own transaction with one
event, arriving at ``RATE`` per second. A thread of the bench commits them at that pace (each
as ``add_event`` in one transaction, which wakes the relay of this process as a web worker's
commit does) while the relay runs as in a service (``OutboxRelay.run``: woken by the commit,
lingering ``--linger-ms``, default the setting). Measured: the CPU time of every thread but
the committing one (the relay, its Kafka producer's network thread, its LISTEN thread) per
1,000 events, the relay's passes, and the delay from each commit to the record's append on
Kafka (the topic keeps the broker's LogAppendTime), p50 and p99. Anchor, same run, same rate:
a bare kafka-python producer sending each record as it comes (its thread and network thread).
Last line: ``trickle ratio=<bare CPU/relay CPU> relay_cpu_ms_per_1000=… bare_cpu_ms_per_1000=…
p50_ms=… p99_ms=… events=… passes=…``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.structs import TopicPartition
from sqlalchemy import select, update

from citela_common.bus.kafka import KafkaBus
from citela_common.db import Database
from citela_common.events import make_event, to_binary
from citela_common.events.envelope import Headers
from citela_common.events.models import Channel, FeedbackSubmitted
from citela_common.outbox import OutboxRelay, add_event, binary_record
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
    parser.add_argument(
        "--trickle", type=float, default=None, metavar="RATE", help="single-event commits/s"
    )
    parser.add_argument("--seconds", type=float, default=20, help="--trickle: how long")
    parser.add_argument("--linger-ms", type=float, default=None, help="default: the setting")
    args = parser.parse_args()
    clear_environment()
    if args.trickle is not None:
        trickle(args)
        return
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


# --- trickle: one event per transaction, at a steady rate --------------------------------------


def thread_cpu_s(threads: list[threading.Thread]) -> float:
    """CPU seconds the given (running) threads have used."""
    total = 0.0
    for thread in threads:
        if thread.ident is not None and thread.is_alive():
            total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return total


def others(excluded: set[int | None]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.ident not in excluded]


def feedback_event(i: int, run: str) -> FeedbackSubmitted:
    return FeedbackSubmitted(
        feedback_id=f"{run}-{i:08d}",
        entry_id=f"service-public:mairie-{64400 + i % 90:05d}-01",
        author_ref=f"partner:bench:{i:08x}",
        channel=Channel.PARTNER,
        satisfaction=1 + i % 5,
        importance=1 + (i * 7) % 5,
        comment=COMMENTS[i % len(COMMENTS)],
        submitted_at=datetime.now(UTC),
    )


def paced(rate: float, seconds: float, step: Callable[[int], None]) -> int:
    """Call ``step(i)`` ``rate`` times a second for ``seconds`` (catching up if late)."""
    n = int(rate * seconds)
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        step(i)
    return n


def append_times(bootstrap: str, topic: str, expected: int) -> dict[str, int]:
    """ce_id -> the broker's append time (ms) of each record of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        out: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while len(out) < expected and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=1000).values():
                for m in messages:
                    ce_id = dict(m.headers or []).get("ce_id")
                    if ce_id is not None:
                        out[ce_id.decode()] = m.timestamp
        return out
    finally:
        consumer.close()


def delays_ms(committed: dict[str, float], appended: dict[str, int]) -> list[float]:
    missing = len(committed) - len(committed.keys() & appended.keys())
    assert missing == 0, f"{missing} committed events never reached Kafka"
    return sorted(appended[i] - committed[i] * 1000 for i in committed)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def log_append_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        config = {"message.timestamp.type": "LogAppendTime"}
        admin.create_topics([NewTopic(topic, 3, 1, topic_configs=config)], timeout_ms=15_000)
    finally:
        admin.close()


def trickle_bare(args: argparse.Namespace, topic: str, run: str) -> tuple[float, list[float]]:
    """CPU ms per 1,000 events of a bare producer sending each event as it comes; delays."""
    producer = platform_producer(args.kafka)
    producer.send(topic, b"warm-up").get(30)
    records = [
        to_binary(
            make_event(feedback_event(i, run), tenant=TENANTS[i % 5], source="/citela/feedback")
        )
        for i in range(int(args.trickle * args.seconds))
    ]
    sent: dict[str, float] = {}
    sending = 0.0  # CPU of the send() calls, in the pacing thread

    def send(i: int) -> None:
        nonlocal sending
        key, value, headers = records[i]
        sent[headers[1][1].decode()] = time.time()
        started = time.thread_time()
        producer.send(topic, key=key, value=value, headers=headers)
        sending += time.thread_time() - started

    main = {threading.main_thread().ident}
    cpu0 = thread_cpu_s(others(main))
    n = paced(args.trickle, args.seconds, send)
    producer.flush()
    cpu = thread_cpu_s(others(main)) - cpu0 + sending
    producer.close()
    return cpu * 1e6 / n, delays_ms(sent, append_times(args.kafka, topic, n + 1))


def trickle(args: argparse.Namespace) -> None:
    run = run_id()
    bare_topic, relay_topic = f"bench.trickle.bare.{run}", f"bench.trickle.outbox.{run}"
    log_append_topic(args.kafka, bare_topic)
    log_append_topic(args.kafka, relay_topic)
    try:
        with fresh_database(args.pg_url, f"bench_trickle_{run}") as url:
            settings = Settings(
                _env_file=None,
                database_url=url,
                kafka_bootstrap=args.kafka,
                kafka_client_id=f"bench-trickle-{run}",
                log_level="WARNING",
            )
            linger_s = (
                args.linger_ms / 1000 if args.linger_ms is not None else settings.outbox_linger_s
            )
            bare_cpu, bare_delays = trickle_bare(args, bare_topic, run)
            relay_cpu, relay_delays, passes, n = trickle_relay(
                args, settings, relay_topic, run, linger_s
            )
    finally:
        delete_topics(args.kafka, [bare_topic, relay_topic])
    print(f"{n} single-event commits at {args.trickle:g}/s for {args.seconds:g} s,", end=" ")
    print(f"relay linger {linger_s * 1000:g} ms, {passes} relay passes ({n / passes:.1f}/pass)")
    for name, cpu, delays in (
        ("bare kafka-python producer", bare_cpu, bare_delays),
        ("outbox relay (in process)", relay_cpu, relay_delays),
    ):
        print(
            f"{name:<30} CPU {cpu:7.1f} ms per 1,000 events, "
            f"send/commit -> Kafka p50 {percentile(delays, 0.5):.1f} ms, "
            f"p99 {percentile(delays, 0.99):.1f} ms"
        )
    print(
        f"trickle ratio={bare_cpu / relay_cpu:.2f} relay_cpu_ms_per_1000={relay_cpu:.1f} "
        f"bare_cpu_ms_per_1000={bare_cpu:.1f} p50_ms={percentile(relay_delays, 0.5):.1f} "
        f"p99_ms={percentile(relay_delays, 0.99):.1f} events={n} passes={passes}"
    )


def trickle_relay(
    args: argparse.Namespace, settings: Settings, topic: str, run: str, linger_s: float
) -> tuple[float, list[float], int, int]:
    """The relay under a trickle: CPU ms per 1,000 events, delays, passes, events."""
    bus = KafkaBus(args.kafka, client_id=f"bench-trickle-{run}")
    runtime = build_runtime(settings, bus)
    runtime.migrate()
    db = runtime.db
    relay = OutboxRelay(db, Outbox, bus, service=f"bench-trickle-{run}", linger_s=linger_s)
    passes = 0
    relay_once = relay.relay_once

    def counted() -> int:
        nonlocal passes
        published = relay_once()
        passes += published > 0
        return published

    relay.relay_once = counted  # type: ignore[method-assign]  # count the passes that sent
    bus.publish_raw(topic, None, b"warm-up", [])
    runner = threading.Thread(target=relay.run, name="bench-relay", daemon=True)
    runner.start()
    committed: dict[str, float] = {}

    def commit(i: int) -> None:
        event = make_event(feedback_event(i, run), tenant=TENANTS[i % 5], source="/citela/feedback")
        with db.transaction() as session:
            add_event(session, Outbox, topic, event)
        committed[event.id] = time.time()

    relay.wake()
    time.sleep(1)  # the relay's first pass and its LISTEN connection
    passes = 0
    main = {threading.main_thread().ident}
    cpu0 = thread_cpu_s(others(main))
    n = paced(args.trickle, args.seconds, commit)
    deadline = time.monotonic() + 30
    while relay.backlog()[0] and time.monotonic() < deadline:
        time.sleep(0.01)
    cpu = thread_cpu_s(others(main)) - cpu0
    relay.stop()
    runner.join(10)
    bus.close()
    db.dispose()
    return cpu * 1e6 / n, delays_ms(committed, append_times(args.kafka, topic, n + 1)), passes, n


if __name__ == "__main__":
    main()
