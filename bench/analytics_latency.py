"""Freshness under load: time from a feedback event's publication to the matrix including it.

``uv run python bench/analytics_latency.py [--mode distributed|embedded] [--rate 100]``

distributed: Kafka + PostgreSQL (``deploy/infra.sh up``; the servers given by ``--pg-url``
and ``--kafka``, never the exported ``CITELA_*``): a database of its own, a feedback topic of
its own and consumer groups of its own, positioned at the end of their topics (a fixed group
once started 22k events behind and reported 12 events/s); embedded: in-process bus + SQLite.
The analytics service runs as in production (its consumers on background threads). A
publisher sends ``submitted`` events at ``--rate`` events/s spread over ``--tenants`` tenants,
in small batches acknowledged by the bus (as the feedback service's outbox relay does); a
poller reads each tenant's answer count from the matrix sums every ``--poll-ms``
milliseconds, the very rows the matrix API aggregates. A tenant's events stay in order, so
its k-th event is in the matrix once the count reaches k; its latency is the time from its
acknowledged publication to the first poll that sees it (so it is overstated by up to one
poll interval).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ as a package
from bench.modes import (
    add_mode_arguments,
    clear_environment,
    delete_groups,
    delete_topics,
    describe,
    fresh_database,
    own_groups,
    settings_for,
    start_at_end,
)
from bench.modes import run_id as new_run_id

from citela_analytics.models import MatrixCell
from citela_analytics.service import build_runtime
from citela_common.bus import create_bus
from citela_common.events import make_event
from citela_common.events.models import FEEDBACK_TOPIC, Channel, FeedbackSubmitted
from citela_common.settings import Settings


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_mode_arguments(parser, default="distributed")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--poll-ms", type=float, default=5.0)
    args = parser.parse_args()
    clear_environment()
    run = new_run_id()
    with ExitStack() as stack:
        url = None
        if args.mode == "distributed":
            url = stack.enter_context(fresh_database(args.pg_url, f"bench_lat_{run}"))
        settings = settings_for(args, database_url=url, redis=False, client_id=f"bench-{run}")
        measure(args, settings, run)


def measure(args: argparse.Namespace, settings: Settings, run: str) -> None:
    topic = f"{FEEDBACK_TOPIC}.bench-{run}"
    bus = create_bus(settings)
    runtime = build_runtime(settings, bus)
    groups = own_groups([runtime], run, topics={FEEDBACK_TOPIC: topic})
    runtime.migrate()
    if settings.kafka_bootstrap:
        bus.ensure_topics([topic])
        start_at_end(settings.kafka_bootstrap, groups)
    runtime.start_background()
    tenants = [f"bench-lat-{i}-{run}" for i in range(args.tenants)]
    published: dict[str, list[float]] = {t: [] for t in tenants}
    seen: dict[str, list[float]] = {t: [] for t in tenants}
    done = threading.Event()

    def poll() -> None:
        m = MatrixCell
        stmt = (
            select(m.tenant_id, func.sum(m.n)).where(m.tenant_id.in_(tenants)).group_by(m.tenant_id)
        )
        while True:
            with runtime.db.transaction() as session:
                counts = {t: int(n or 0) for t, n in session.execute(stmt)}
            now = time.perf_counter()
            for t, n in counts.items():
                while len(seen[t]) < n:
                    seen[t].append(now)
            if done.is_set() and all(len(seen[t]) >= len(published[t]) for t in tenants):
                return
            time.sleep(args.poll_ms / 1000)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(1.0)  # let the consumers join their groups
    total = int(args.rate * args.seconds)
    batch = max(1, int(args.rate / 100))  # one batch every ~10 ms
    started = time.perf_counter()
    sent = 0
    while sent < total:
        events = []
        for i in range(sent, min(total, sent + batch)):
            tenant = tenants[i % len(tenants)]
            data = FeedbackSubmitted(
                feedback_id=f"{run}-{i}",
                entry_id=f"service-public:svc-{i % 40}",
                author_ref=f"{i:08x}",
                channel=Channel.PORTAL,
                importance=1 + i % 5,
                satisfaction=1 + (i * 7) % 5,
                submitted_at=datetime.now(UTC),
            )
            events.append(make_event(data, tenant=tenant, source="/citela/feedback"))
        bus.publish_many((topic, e) for e in events)
        acked = time.perf_counter()
        for e in events:
            published[e.tenant].append(acked)
        sent += len(events)
        due = started + sent / args.rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    publishing = time.perf_counter() - started
    done.set()
    poller.join(timeout=300)
    caught_up = time.perf_counter() - started
    latencies = [
        (s - p) * 1000 for t in tenants for p, s in zip(published[t], seen[t], strict=False)
    ]
    runtime.stop_background()
    bus.close()
    runtime.db.dispose()
    if settings.kafka_bootstrap:
        delete_groups(settings.kafka_bootstrap, groups)
        delete_topics(settings.kafka_bootstrap, [topic])
    print(f"mode                {args.mode}: {describe(settings)}, topic {topic}")
    print(f"events              {sent} over {args.tenants} tenants")
    print(f"offered rate        {sent / publishing:,.0f} events/s")
    print(f"sustained rate      {sent / caught_up:,.0f} events/s (until the matrix had them all)")
    print(f"latency p50         {percentile(latencies, 50):,.1f} ms")
    print(f"latency p90         {percentile(latencies, 90):,.1f} ms")
    print(f"latency p99         {percentile(latencies, 99):,.1f} ms")
    print(f"latency max         {max(latencies):,.1f} ms (mean {statistics.fmean(latencies):,.1f})")
    print(f"load average        {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
