"""Aggregation throughput: feedback events/s through the analytics consumer, and recomputation.

``uv run python bench/analytics_aggregation.py [--db sqlite|postgresql] [--events 20000]``

What one event costs: the idempotency check, the fact upsert and the matrix cells moved, in
one transaction, exactly as the ``analytics-facts`` consumer does it (the bus is left out:
``bench/bus_throughput.py`` measures it). The stream is realistic: 70 % first posts, 25 %
revisions, 5 % retractions, over 50 services of 5 tenants. Then the exact recomputation of
the biggest tenant, and a check that the incremental sums equal it.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from citela_analytics import cells
from citela_analytics.service import facts_consumer
from citela_common.cache import MemoryCache
from citela_common.db import Database
from citela_common.events import CloudEvent, make_event
from citela_common.events.models import (
    Channel,
    FeedbackRetracted,
    FeedbackRevised,
    FeedbackSubmitted,
)
from citela_common.migrations import upgrade

COMMENTS = [
    "Temps d'attente trop long au guichet.",
    "Personnel aimable et efficace.",
    "Horaires d'ouverture trop courts.",
    None,
]


def stream(n: int, tenants: list[str], seed: int = 1) -> list[CloudEvent]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    live: list[tuple[str, str, str, int]] = []  # tenant, feedback, entry, revision
    out: list[CloudEvent] = []
    for i in range(n):
        roll = rng.random()
        at = start + timedelta(minutes=i)
        if roll < 0.70 or len(live) < 10:
            tenant = rng.choice(tenants)
            fb = uuid.uuid4().hex
            entry = f"service-public:svc-{rng.randrange(50)}"
            data: FeedbackSubmitted | FeedbackRetracted = FeedbackSubmitted(
                feedback_id=fb,
                entry_id=entry,
                author_ref=fb[:12],
                channel=Channel.PORTAL,
                importance=rng.randint(1, 5),
                satisfaction=rng.randint(1, 5),
                comment=rng.choice(COMMENTS),
                submitted_at=at,
            )
            live.append((tenant, fb, entry, 1))
        elif roll < 0.95:
            k = rng.randrange(len(live))
            tenant, fb, entry, rev = live[k]
            data = FeedbackRevised(
                feedback_id=fb,
                entry_id=entry,
                author_ref=fb[:12],
                channel=Channel.PORTAL,
                importance=rng.randint(1, 5),
                satisfaction=rng.randint(1, 5),
                comment=rng.choice(COMMENTS),
                revision=rev + 1,
                submitted_at=at,
            )
            live[k] = (tenant, fb, entry, rev + 1)
        else:
            tenant, fb, entry, _rev = live.pop(rng.randrange(len(live)))
            data = FeedbackRetracted(feedback_id=fb, entry_id=entry, retracted_at=at)
        out.append(make_event(data, tenant=tenant, source="/citela/feedback"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CITELA_TEST_DATABASE_URL",
            "postgresql+psycopg://citela:citela@127.0.0.1:5432/citela_test",
        ),
    )
    args = parser.parse_args()
    url = f"sqlite:///{tempfile.mkdtemp()}/bench.db" if args.db == "sqlite" else args.pg_url
    db = Database(url, "analytics")
    upgrade(db, "citela_analytics")
    run = uuid.uuid4().hex[:6]
    tenants = [f"bench-{c}-{run}" for c in "abcde"]
    events = stream(args.events, tenants)
    handle = facts_consumer(db, MemoryCache(), lambda _tenant: None).handler

    started = time.perf_counter()
    for event in events:
        handle(event)
    elapsed = time.perf_counter() - started
    print(f"database            {db.engine.dialect.name}")
    print(f"events              {len(events)}")
    print(f"aggregation         {len(events) / elapsed:,.0f} events/s ({elapsed:.2f} s)")

    started = time.perf_counter()
    for event in events[: len(events) // 10]:
        handle(event)  # redelivered: skipped by the idempotency table
    dup = time.perf_counter() - started
    print(f"duplicates skipped  {len(events) // 10 / dup:,.0f} events/s")

    biggest = max(tenants, key=lambda t: sum(1 for e in events if e.tenant == t))
    started = time.perf_counter()
    with db.transaction() as session:
        done = cells.recompute(session, biggest)
    print(
        f"recompute           {done.answers} answers, {done.cells} cells in "
        f"{time.perf_counter() - started:.3f} s, drifted cells: {done.drifted}"
    )
    db.dispose()


if __name__ == "__main__":
    main()
