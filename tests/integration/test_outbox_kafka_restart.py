"""Nothing committed is lost while Kafka is down, and nothing arrives twice (real broker)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from citela_common.bus.kafka import KafkaBus
from citela_common.events import CloudEvent, make_event
from citela_common.events.models import FeedbackRetracted
from citela_common.outbox import OutboxRelay, add_event
from tests.conftest import infra_script
from tests.contract.stack import Note, Outbox, fresh_database

pytestmark = pytest.mark.infra


def event(n: int) -> CloudEvent:
    return make_event(
        FeedbackRetracted(
            feedback_id=f"fb-{n}",
            entry_id="service-public:ccas-64445",
            retracted_at=datetime.now(UTC),
        ),
        tenant=("agglo-pau", "ville-lyon")[n % 2],
        source="/citela/tests",
    )


def commit(db, topic: str, start: int, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for n in range(start, start + count):
        e = event(n)
        with db.transaction() as session:
            session.add(Note(tenant_id=e.tenant, text=f"note {n}"))
            add_event(session, Outbox, topic, e)
        ids.append(e.id)
    return ids


def test_every_committed_event_arrives_exactly_once_across_a_broker_restart(
    kafka_bootstrap: str, pg_url: str, topic: str
) -> None:
    db = fresh_database(pg_url)
    # The production delivery timeout (30 s): a batch caught by the restart is retried by the
    # idempotent producer (same producer id and sequence: the broker drops a repeat) until the
    # new leader answers. With 5 s a batch expired during the leader election on a loaded CI
    # box (NotLeaderForPartition, then a lost connection), and the relay's resend from a fresh
    # producer duplicated records an unanswered attempt had written (one CI run in four).
    bus = KafkaBus(kafka_bootstrap)
    bus.ensure_topics([topic])
    relay = OutboxRelay(
        db, Outbox, bus, service="contract", batch_size=50, poll_interval_s=0.1, max_backoff_s=2
    )
    runner = threading.Thread(target=relay.run, daemon=True)
    runner.start()
    try:
        expected = commit(db, topic, 0, 100)  # published while the broker is up
        infra_script("stop", "kafka")
        expected += commit(db, topic, 100, 150)  # committed while it is down
        time.sleep(3)  # the relay tries, fails and backs off meanwhile
        assert relay.backlog()[0] > 0, "events written while Kafka is down must wait"
        infra_script("start", "kafka")
        expected += commit(db, topic, 250, 50)
        deadline = time.monotonic() + 120
        while relay.backlog()[0] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert relay.backlog()[0] == 0, "the relay must catch up once Kafka is back"
    finally:
        relay.stop()
        runner.join(15)

    seen: Counter[str] = Counter()
    transport = KafkaBus(kafka_bootstrap).transport([topic], f"count-{topic}")
    deadline = time.monotonic() + 60
    while sum(seen.values()) < len(expected) and time.monotonic() < deadline:
        for record in transport.poll(1.0):
            seen[record.header("ce_id") or ""] += 1
    # give a duplicate the chance to show up
    for record in transport.poll(2.0):
        seen[record.header("ce_id") or ""] += 1
    transport.close()
    bus.close()
    assert len(expected) == 300
    assert set(seen) == set(expected), "every committed event arrives"
    assert sum(seen.values()) == 300, f"duplicates: {[k for k, v in seen.items() if v > 1][:5]}"
