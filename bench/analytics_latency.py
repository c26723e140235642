"""Freshness under load: time from a feedback event's publication to the matrix including it.

``uv run python bench/analytics_latency.py [--mode distributed|embedded] [--rate 100]``

distributed: Kafka + PostgreSQL (``deploy/infra.sh up``); embedded: in-process bus + SQLite.
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
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

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
    parser.add_argument("--mode", choices=["distributed", "embedded"], default="distributed")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--poll-ms", type=float, default=5.0)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("CITELA_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CITELA_TEST_DATABASE_URL",
            "postgresql+psycopg://citela:citela@127.0.0.1:5432/citela_test",
        ),
    )
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    data_dir = tempfile.mkdtemp()
    if args.mode == "distributed":
        settings = Settings(
            data_dir=data_dir,
            database_url=args.pg_url,
            kafka_bootstrap=args.bootstrap,
            kafka_client_id=f"bench-{run}",
        )
    else:
        settings = Settings(data_dir=data_dir)
    bus = create_bus(settings)
    runtime = build_runtime(settings, bus)
    runtime.migrate()
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
        bus.publish_many((FEEDBACK_TOPIC, e) for e in events)
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
    print(f"mode                {args.mode} ({runtime.db.engine.dialect.name})")
    print(f"events              {sent} over {args.tenants} tenants")
    print(f"offered rate        {sent / publishing:,.0f} events/s")
    print(f"sustained rate      {sent / caught_up:,.0f} events/s (until the matrix had them all)")
    print(f"latency p50         {percentile(latencies, 50):,.1f} ms")
    print(f"latency p90         {percentile(latencies, 90):,.1f} ms")
    print(f"latency p99         {percentile(latencies, 99):,.1f} ms")
    print(f"latency max         {max(latencies):,.1f} ms (mean {statistics.fmean(latencies):,.1f})")


if __name__ == "__main__":
    main()
