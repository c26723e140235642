"""The outbox relay: batches in order, gauges without a count per poll, woken across processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select

from citela_common.bus import InProcessBus, PublishError
from citela_common.db import Database
from citela_common.events import CloudEvent, make_event
from citela_common.events.envelope import Headers, from_binary, to_binary
from citela_common.events.models import FeedbackRetracted
from citela_common.outbox import OutboxRelay, add_event, binary_record
from tests.contract.conftest import Stack
from tests.contract.stack import Outbox, fresh_database

Records = Iterable[tuple[str, bytes | None, bytes | None, Headers]]


def retraction(tenant: str, n: int) -> CloudEvent:
    return make_event(
        FeedbackRetracted(
            feedback_id=f"avis-{n}",
            entry_id="service-public:mairie-64445-01",
            retracted_at=datetime(2026, 11, 28, 9, n % 60, tzinfo=UTC),
        ),
        tenant=tenant,
        source="/citela/feedback",
        subject=f"avis-{n}",
    )


def stage(db: Database, topic: str, events: list[CloudEvent], per_transaction: int = 300) -> None:
    for start in range(0, len(events), per_transaction):
        with db.transaction() as session:
            for e in events[start : start + per_transaction]:
                add_event(session, Outbox, topic, e)


def unsent(db: Database) -> int:
    with db.read() as session:
        return int(
            session.scalar(select(func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None)))
            or 0
        )


def gauge(name: str, service: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": service})


class RefusingBus(InProcessBus):
    """A bus whose broker is down: nothing is acknowledged."""

    def send_raw_many(self, records: Records) -> Callable[[], None]:
        raise PublishError("Kafka did not acknowledge: broker down")


class GatedBus(InProcessBus):
    """Holds each publication until the test opens the gate (a relay caught mid-batch)."""

    def __init__(self) -> None:
        super().__init__(partitions=3)
        self.gate = threading.Event()
        self.sending = threading.Event()

    def send_raw_many(self, records: Records) -> Callable[[], None]:
        batch = list(records)
        self.sending.set()
        self.gate.wait(30)
        return super().send_raw_many(batch)


def test_a_backlog_larger_than_a_batch_goes_out_in_order_one_transaction_per_batch(
    stack: Stack, topic: str
) -> None:
    stack.bus.ensure_topics([topic])
    events = [retraction("ville-de-pau", n) for n in range(1_250)]
    stage(stack.db, topic, events)
    relay = OutboxRelay(stack.db, Outbox, stack.bus, service="contract", batch_size=1_000)
    assert relay.fetch_size == 500, "a batch is read in chunks"
    assert [relay.relay_once(), relay.relay_once(), relay.relay_once()] == [1_000, 250, 0]
    assert unsent(stack.db) == 0
    if isinstance(stack.bus, InProcessBus):  # one tenant, one partition: the staging order
        got = [r.header("ce_id") for r in stack.bus.records(topic)]
        assert got == [e.id for e in events]


def test_the_backlog_gauges_come_from_the_batch_even_while_the_bus_refuses(
    stack: Stack, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = f"contract-{stack.name}-gauges"
    statements: list[str] = []
    event.listen(
        stack.db.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement.lower()),
    )
    if stack.db.engine.dialect.name == "postgresql":
        # The PostgreSQL relay talks to the driver directly: watch the driver's cursors too.
        import psycopg

        execute = psycopg.Cursor.execute

        def watched(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(str(query).lower())
            return execute(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", watched)
    stage(stack.db, topic, [retraction("agglo-pau", n) for n in range(3)])
    down = OutboxRelay(stack.db, Outbox, RefusingBus(), service=service)
    with pytest.raises(PublishError):
        down.relay_once()
    # Set before the attempt: ops see the backlog while Kafka is down.
    assert gauge("citela_outbox_backlog_events", service) == 3
    assert (gauge("citela_outbox_oldest_event_age_seconds", service) or -1) >= 0
    assert unsent(stack.db) == 3, "nothing refused is marked sent"

    stack.bus.ensure_topics([topic])
    up = OutboxRelay(stack.db, Outbox, stack.bus, service=service)
    statements.clear()
    assert up.relay_once() == 3
    assert [up.relay_once() for _ in range(3)] == [0, 0, 0]
    assert gauge("citela_outbox_backlog_events", service) == 0
    assert gauge("citela_outbox_oldest_event_age_seconds", service) == 0
    assert [s for s in statements if "sent_at" in s], "the relay's statements are seen"
    assert not [s for s in statements if "count(" in s], "no count on a poll"


def test_records_built_from_the_stored_envelope_are_those_of_the_event() -> None:
    for event_ in (
        retraction("agglo-pau", 1),
        retraction("cc-du-pays-de-nay", 2).model_copy(update={"subject": None}),
        retraction("agglo-pau", 3).model_copy(
            update={"time": datetime(2026, 11, 28, 9, 0, tzinfo=UTC)}
        ),
    ):
        assert binary_record(event_.model_dump(mode="json")) == to_binary(event_)


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    db = fresh_database(pg_url)
    yield db
    db.dispose()


def run_in_thread(relay: OutboxRelay) -> threading.Thread:
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool], timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_a_commit_in_a_process_without_relay_wakes_the_relay_of_another(
    pg_db: Database, pg_url: str, topic: str
) -> None:
    bus = InProcessBus()
    # Polling once a minute: only the NOTIFY can make it publish within the test.
    relay = OutboxRelay(pg_db, Outbox, bus, service="contract", poll_interval_s=60)
    thread = run_in_thread(relay)
    other_process = Database(pg_url, pg_db.schema)  # e.g. `citela ingest` harvesting
    try:
        assert relay.listening.wait(20)
        assert wait_until(lambda: not relay._wake.is_set())  # its first pass is done
        OutboxRelay(other_process, Outbox, InProcessBus(), service="contract")  # not running
        stage(other_process, topic, [retraction("agglo-pau", 7)])
        assert wait_until(lambda: len(bus.records(topic)) == 1), "woken by the commit"
    finally:
        relay.stop()
        thread.join(10)
        other_process.dispose()


def test_a_relay_that_finds_another_publishing_asks_it_for_one_more_pass(
    pg_db: Database, pg_url: str, topic: str
) -> None:
    gated = GatedBus()
    worker_1 = OutboxRelay(pg_db, Outbox, gated, service="contract", poll_interval_s=60)
    db_2 = Database(pg_url, pg_db.schema)  # the second worker process
    worker_2 = OutboxRelay(db_2, Outbox, gated, service="contract", poll_interval_s=60)
    threads = [run_in_thread(worker_1)]
    try:
        assert worker_1.listening.wait(20)
        first = [retraction("agglo-pau", n) for n in range(5)]
        stage(pg_db, topic, first)
        assert gated.sending.wait(20), "worker 1 holds the lock, mid-batch"
        threads.append(run_in_thread(worker_2))
        assert worker_2.listening.wait(20)
        later = [retraction("agglo-pau", n) for n in range(5, 8)]
        stage(db_2, topic, later)  # worker 2 is woken, finds the lock taken, notifies
        time.sleep(0.5)
        gated.gate.set()
        assert wait_until(lambda: len(gated.records(topic)) == 8), "no wait for the poll"
        got = [r.header("ce_id") for r in gated.records(topic)]
        assert got == [e.id for e in first + later], "one tenant's order kept"
    finally:
        gated.gate.set()
        worker_1.stop()
        worker_2.stop()
        for thread in threads:
            thread.join(10)
        db_2.dispose()


def test_the_postgresql_relay_sends_each_stored_envelope_as_its_event(
    pg_db: Database, topic: str
) -> None:
    plain = retraction("agglo-pau", 1)
    no_subject = retraction("cc-du-pays-de-nay", 2).model_copy(update={"subject": None})
    accented = retraction("ville-de-pau", 3).model_copy(
        update={"data": {**plain.data, "reason": "Avis retiré à la demande de l'usager « Élodie »"}}
    )
    offset = retraction("agglo-pau", 4)
    stage(pg_db, topic, [plain, no_subject, accented])
    with pg_db.transaction() as session:
        # Stored by an older producer: the time with its offset, not in the canonical form.
        envelope = offset.model_dump(mode="json") | {"time": "2026-11-28T10:04:00+01:00"}
        session.add(
            Outbox(
                event_id=offset.id,
                topic=topic,
                tenant=offset.tenant,
                event_type=offset.type,
                envelope=envelope,
            )
        )
    bus = InProcessBus()
    relay = OutboxRelay(pg_db, Outbox, bus, service="contract-envelopes")
    assert relay.relay_once() == 4
    sent = {r.header("ce_id"): r for r in bus.records(topic)}
    for original in (plain, no_subject, accented):
        record = sent[original.id]
        assert record.key == original.tenant.encode()
        assert from_binary(record.value, record.headers) == original
    moved = from_binary(sent[offset.id].value, sent[offset.id].headers)
    assert moved.time == datetime(2026, 11, 28, 9, 4, tzinfo=UTC)
    assert moved.model_dump(exclude={"time"}) == offset.model_dump(exclude={"time"})
    assert unsent(pg_db) == 0
