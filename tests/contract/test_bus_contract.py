"""The delivery semantics every service relies on, run alike on the in-process bus and Kafka."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citela_common.bus import Consumer, Record, dlq_topic
from citela_common.events import CloudEvent, make_event
from citela_common.events.models import FeedbackRetracted
from citela_common.outbox import idempotent, idempotent_batch
from citela_common.runtime import ConsumerSpec
from tests.contract.conftest import Stack
from tests.contract.stack import Counted, ProcessedEvent

SOURCE = "/citela/tests"


def retraction(tenant: str, n: int) -> CloudEvent:
    from datetime import UTC, datetime

    return make_event(
        FeedbackRetracted(
            feedback_id=f"fb-{n}",
            entry_id="service-public:mairie-64445-01",
            retracted_at=datetime(2026, 11, 28, 9, n % 60, tzinfo=UTC),
        ),
        tenant=tenant,
        source=SOURCE,
        subject=f"fb-{n}",
    )


class Collect:
    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    def __call__(self, event: CloudEvent) -> None:
        self.events.append(event)


def consume_all(
    stack: Stack,
    topic: str,
    handler: Collect,
    expected: int,
    group: str | None = None,
    timeout_s: float = 30,
) -> None:
    consumer = stack.bus.consumer(
        [topic],
        group or f"g-{topic}",
        handler,
        max_attempts=3,
        retry_backoff_s=0.01,
    )
    try:
        consumer.run_until(lambda: len(handler.events) >= expected, timeout_s)
    finally:
        consumer.close()


def test_round_trip_keeps_every_attribute(stack: Stack, topic: str) -> None:
    stack.bus.ensure_topics([topic])
    sent = retraction("agglo-pau", 1)
    stack.bus.publish(topic, sent)
    got = Collect()
    consume_all(stack, topic, got, 1)
    assert got.events == [sent]
    received = got.events[0]
    assert (received.id, received.type, received.tenant, received.subject) == (
        sent.id,
        "fr.citela.feedback.retracted.v1",
        "agglo-pau",
        "fb-1",
    )
    assert received.data["entry_id"] == "service-public:mairie-64445-01"


class RecordCollect:
    """Keeps the raw records, to see partitions and offsets."""

    def __init__(self, stack: Stack, topic: str, group: str) -> None:
        self.records: list[Record] = []
        self.transport = stack.bus.transport([topic], group)

    def drain(self, expected: int, timeout_s: float = 30) -> list[Record]:
        import time

        deadline = time.monotonic() + timeout_s
        while len(self.records) < expected and time.monotonic() < deadline:
            self.records.extend(self.transport.poll(0.5))
        self.transport.close()
        return self.records


def test_one_tenants_events_stay_in_one_partition_in_order(stack: Stack, topic: str) -> None:
    stack.bus.ensure_topics([topic])
    tenants = ["agglo-pau", "ville-lyon", "cc-verdon", "dep-oise"]
    sent = [retraction(tenants[i % 4], i) for i in range(40)]
    stack.bus.publish_many((topic, e) for e in sent)
    records = RecordCollect(stack, topic, f"order-{topic}").drain(40)
    assert len(records) == 40
    by_tenant: dict[str, list[Record]] = {}
    for r in records:
        by_tenant.setdefault(r.key.decode() if r.key else "", []).append(r)
    partitions_used = set()
    for tenant in tenants:
        mine = by_tenant[tenant]
        assert len({r.partition for r in mine}) == 1, f"{tenant} spread over partitions"
        partitions_used.add(mine[0].partition)
        ids_in_log = [r.header("ce_id") for r in sorted(mine, key=lambda r: r.offset)]
        assert ids_in_log == [e.id for e in sent if e.tenant == tenant]
    assert len(partitions_used) > 1, "tenants should spread over partitions"


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so nothing catches it."""


def test_crash_before_commit_redelivers_and_idempotent_handler_counts_once(
    stack: Stack, topic: str
) -> None:
    stack.bus.ensure_topics([topic])
    events = [retraction("agglo-pau", i) for i in range(3)]
    stack.bus.publish_many((topic, e) for e in events)

    def count(session: Session, event: CloudEvent) -> None:
        row = session.get(Counted, event.id)
        if row is None:
            session.add(Counted(event_id=event.id))
        else:
            row.times += 1

    handler = idempotent(stack.db, ProcessedEvent, "counter", count)
    deliveries: list[str] = []

    def crashing(event: CloudEvent) -> None:
        deliveries.append(event.id)
        handler(event)  # the effect is committed…
        if event.id == events[1].id and deliveries.count(event.id) == 1:
            raise SimulatedCrash  # …but the process dies before the offset is committed

    first = stack.bus.consumer([topic], f"crashy-{topic}", crashing, max_attempts=1)
    with pytest.raises(SimulatedCrash):
        first.run_until(lambda: False, 30)
    first.transport.close()

    second = stack.bus.consumer([topic], f"crashy-{topic}", crashing, max_attempts=1)
    second.run_until(lambda: deliveries.count(events[2].id) >= 1, 30)
    second.close()

    assert deliveries.count(events[1].id) == 2, "the crashed event must be delivered again"
    with stack.db.transaction() as session:
        rows = {r.event_id: r.times for r in session.scalars(select(Counted))}
    assert rows == {e.id: 1 for e in events}, "the idempotent handler counts each event once"


def test_poison_and_failing_events_go_to_the_dlq_and_the_consumer_goes_on(
    stack: Stack, topic: str
) -> None:
    stack.bus.ensure_topics([topic])
    good, bad = retraction("agglo-pau", 1), retraction("agglo-pau", 2)
    stack.bus.publish_raw(topic, b"agglo-pau", b"\xff not json", [("ce_id", b"x")])
    stack.bus.publish(topic, bad)
    stack.bus.publish(topic, good)
    attempts: list[str] = []

    class Handler(Collect):
        def __call__(self, event: CloudEvent) -> None:
            attempts.append(event.id)
            if event.id == bad.id:
                raise ValueError("entrée de catalogue inconnue")
            super().__call__(event)

    handler = Handler()
    consume_all(stack, topic, handler, 1)
    assert [e.id for e in handler.events] == [good.id]
    assert attempts.count(bad.id) == 3, "bounded retries before the DLQ"

    dead = RecordCollect(stack, dlq_topic(topic), f"dlq-reader-{topic}").drain(2)
    assert len(dead) == 2
    poison, failed = sorted(dead, key=lambda r: int(r.header("citela_original_offset") or 0))
    assert poison.value == b"\xff not json"
    assert "missing CloudEvents headers" in (poison.header("citela_error") or "")
    assert poison.header("citela_attempts") == "0"
    assert failed.header("ce_id") == bad.id
    assert failed.header("citela_error") == "ValueError: entrée de catalogue inconnue"
    assert failed.header("citela_attempts") == "3"
    assert failed.header("citela_original_topic") == topic


def test_outbox_publishes_only_committed_transactions(stack: Stack, topic: str) -> None:
    from citela_common.outbox import OutboxRelay, add_event
    from tests.contract.stack import Note, Outbox

    stack.bus.ensure_topics([topic])
    committed = retraction("agglo-pau", 1)
    with stack.db.transaction() as session:
        session.add(Note(tenant_id="agglo-pau", text="gardée"))
        add_event(session, Outbox, topic, committed)

    rolled_back = retraction("agglo-pau", 2)
    with pytest.raises(RuntimeError), stack.db.transaction() as session:
        session.add(Note(tenant_id="agglo-pau", text="annulée"))
        add_event(session, Outbox, topic, rolled_back)
        raise RuntimeError("the state change fails after the event was staged")

    relay = OutboxRelay(stack.db, Outbox, stack.bus, service="contract")
    assert relay.drain() == 1
    assert relay.backlog() == (0, 0.0)
    got = Collect()
    consume_all(stack, topic, got, 1)
    assert [e.id for e in got.events] == [committed.id]
    with stack.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Note)) == 1
        assert (
            session.scalar(select(func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None)))
            == 0
        )


def test_a_commit_that_staged_events_wakes_the_relay(stack: Stack, topic: str) -> None:
    from citela_common.outbox import OutboxRelay, add_event
    from tests.contract.stack import Outbox

    relay = OutboxRelay(stack.db, Outbox, stack.bus, service="contract", poll_interval_s=30)
    with stack.db.transaction() as session:
        session.add(Counted(event_id="sans-evenement"))
    assert not relay._wake.is_set(), "a transaction without events does not wake it"
    with pytest.raises(RuntimeError), stack.db.transaction() as session:
        add_event(session, Outbox, topic, retraction("agglo-pau", 1))
        raise RuntimeError("rolled back")
    assert not relay._wake.is_set(), "nor does a rolled-back one"
    with stack.db.transaction() as session:
        add_event(session, Outbox, topic, retraction("agglo-pau", 2))
    assert relay._wake.is_set()


class BatchRecorder:
    """A consumer counting each event it applies, wired as every service wires its consumers:
    ``ConsumerSpec.batched`` over ``idempotent_batch`` (the batch handler, and on a failed
    batch the same handler on each event alone)."""

    def __init__(self, stack: Stack, fail_on: set[str] | None = None) -> None:
        self.batches: list[int] = []
        self.applied: list[CloudEvent] = []  # what committed, in order
        self.fail_on = fail_on or set()

        def count(session: Session, events: list[CloudEvent]) -> int:
            for event in events:
                if event.id in self.fail_on:
                    raise ValueError("entrée de catalogue inconnue")
                row = session.get(Counted, event.id)
                if row is None:
                    session.add(Counted(event_id=event.id))
                else:
                    row.times += 1
            return len(events)

        def committed(fresh: list[CloudEvent], applied: int) -> None:
            assert applied == len(fresh)
            self.applied.extend(fresh)

        handler = idempotent_batch(stack.db, ProcessedEvent, "batch-counter", count, then=committed)
        self.spec = ConsumerSpec.batched(["unused"], "batch-counter", handler)

    def batch(self, events: list[CloudEvent]) -> None:
        self.batches.append(len(events))
        assert self.spec.batch_handler is not None
        self.spec.batch_handler(events)

    def one(self, event: CloudEvent) -> None:
        self.batches.append(1)
        self.spec.handler(event)


def counted(stack: Stack) -> dict[str, int]:
    with stack.db.transaction() as session:
        return {r.event_id: r.times for r in session.scalars(select(Counted))}


def test_a_batch_consumer_applies_whole_batches_once_in_per_tenant_order(
    stack: Stack, topic: str
) -> None:
    stack.bus.ensure_topics([topic])
    tenants = ["agglo-pau", "ville-lyon", "cc-verdon"]
    sent = [retraction(tenants[i % 3], i) for i in range(30)]
    stack.bus.publish_many((topic, e) for e in sent)
    stack.bus.publish_many((topic, e) for e in sent[:5])  # redelivered by the producer
    recorder = BatchRecorder(stack)
    consumer = stack.bus.consumer(
        [topic], f"batch-{topic}", recorder.one, batch_handler=recorder.batch, max_attempts=1
    )
    consumer.run_until(lambda: sum(recorder.batches) >= 35, 30)
    consumer.close()

    assert max(recorder.batches) > 1, "the records of a poll are applied as one batch"
    assert counted(stack) == {e.id: 1 for e in sent}, "each event applied once"
    for tenant in tenants:
        mine = [e.id for e in recorder.applied if e.tenant == tenant]
        assert mine == [e.id for e in sent if e.tenant == tenant], f"{tenant} out of order"


def test_a_failing_batch_is_retried_event_by_event_and_only_the_culprit_is_dead_lettered(
    stack: Stack, topic: str
) -> None:
    stack.bus.ensure_topics([topic])
    sent = [retraction("agglo-pau", i) for i in range(8)]
    bad = sent[3]
    stack.bus.publish_many((topic, e) for e in sent[:4])
    stack.bus.publish_raw(topic, b"agglo-pau", b"\xff not json", [("ce_id", b"x")])
    stack.bus.publish_many((topic, e) for e in sent[4:])
    recorder = BatchRecorder(stack, fail_on={bad.id})
    consumer = stack.bus.consumer(
        [topic],
        f"batch-dlq-{topic}",
        recorder.one,
        batch_handler=recorder.batch,
        max_attempts=3,
        retry_backoff_s=0.01,
    )
    consumer.run_until(lambda: len(recorder.applied) >= 7, 30)
    consumer.close()

    assert counted(stack) == {e.id: 1 for e in sent if e is not bad}
    assert [e.id for e in recorder.applied] == [e.id for e in sent if e is not bad]
    dead = RecordCollect(stack, dlq_topic(topic), f"dlq-reader-{topic}").drain(2)
    by_id = {r.header("ce_id"): r for r in dead}
    assert by_id["x"].header("citela_attempts") == "0", "the poison record goes at once"
    assert by_id[bad.id].header("citela_attempts") == "3", "the culprit after its retries"
    assert by_id[bad.id].header("citela_error") == "ValueError: entrée de catalogue inconnue"


def test_a_crash_after_a_batch_commit_redelivers_it_and_nothing_is_applied_twice(
    stack: Stack, topic: str
) -> None:
    stack.bus.ensure_topics([topic])
    sent = [retraction("agglo-pau", i) for i in range(10)]
    stack.bus.publish_many((topic, e) for e in sent)
    recorder = BatchRecorder(stack)
    crashed: list[int] = []

    def crashing(events: list[CloudEvent]) -> None:
        recorder.batch(events)  # the effect is committed…
        if not crashed:
            crashed.append(len(events))
            raise SimulatedCrash  # …but the process dies before the offsets are

    first = stack.bus.consumer(
        [topic], f"batch-crash-{topic}", recorder.one, batch_handler=crashing, max_attempts=1
    )
    with pytest.raises(SimulatedCrash):
        first.run_until(lambda: False, 30)
    first.transport.close()
    second = stack.bus.consumer(
        [topic], f"batch-crash-{topic}", recorder.one, batch_handler=recorder.batch
    )
    second.run_until(lambda: len(recorder.applied) >= 10, 30)
    second.close()

    assert crashed, "the first consumer crashed"
    assert counted(stack) == {e.id: 1 for e in sent}


class Outage:
    """The database out of reach for the first ``tries`` calls: each one really connects to a
    closed port and raises the driver's OperationalError, as a stopped PostgreSQL does."""

    def __init__(self, tries: int) -> None:
        import socket

        from sqlalchemy import create_engine

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.engine = create_engine(
            f"postgresql+psycopg://citela:citela@127.0.0.1:{port}/citela",
            connect_args={"connect_timeout": 2},
        )
        self.left = tries
        self.failures = 0

    def hit(self) -> None:
        if self.left > 0:
            self.left -= 1
            self.failures += 1
            with self.engine.connect():
                pass  # never reached: the connection is refused


def dead_lettered(stack: Stack, topic: str, expected: int) -> list[Record]:
    """The records of ``topic``'s DLQ (waiting for ``expected`` of them, then a little more)."""
    return RecordCollect(stack, dlq_topic(topic), f"dlq-reader-{topic}").drain(
        expected + 1, timeout_s=3
    )


def test_an_outage_longer_than_the_retries_pauses_then_applies_everything_in_order(
    stack: Stack, topic: str
) -> None:
    from prometheus_client import REGISTRY

    stack.bus.ensure_topics([topic])
    tenants = ["agglo-pau", "ville-lyon", "cc-verdon"]
    first = [retraction(tenants[i % 3], i) for i in range(12)]
    second = [retraction(tenants[i % 3], i) for i in range(12, 24)]
    stack.bus.publish_many((topic, e) for e in first)
    recorder = BatchRecorder(stack)
    outage = Outage(tries=7)  # more than max_attempts, batch and single-event tries alike
    group = f"outage-{topic}"
    holder: list[Consumer] = []

    def batch(events: list[CloudEvent]) -> None:
        if outage.failures == 0:
            # The outage starts while the next poll is being prefetched: it must be kept.
            stack.bus.publish_many((topic, e) for e in second)
            wait_until(lambda: holder[0]._next is not None, 20)
        outage.hit()
        recorder.batch(events)

    def one(event: CloudEvent) -> None:
        outage.hit()
        recorder.one(event)

    consumer = stack.bus.consumer(
        [topic],
        group,
        one,
        batch_handler=batch,
        max_attempts=3,
        retry_backoff_s=0.01,
        retry_max_backoff_s=0.05,
    )
    holder.append(consumer)
    consumer.run_until(lambda: len(recorder.applied) >= 24, 60)
    consumer.close()

    sent = first + second
    assert outage.failures == 7
    assert counted(stack) == {e.id: 1 for e in sent}, "everything applied, once"
    for tenant in tenants:
        mine = [e.id for e in recorder.applied if e.tenant == tenant]
        assert mine == [e.id for e in sent if e.tenant == tenant], f"{tenant} out of order"
    assert dead_lettered(stack, topic, 0) == [], "an outage sends nothing to the DLQ"
    labels = {"topic": topic, "group": group}
    assert REGISTRY.get_sample_value("citela_bus_transient_failures_total", labels) == 7
    assert REGISTRY.get_sample_value("citela_bus_consumer_paused", labels) == 0


def test_an_outage_during_isolation_does_not_dead_letter_twice(stack: Stack, topic: str) -> None:
    stack.bus.ensure_topics([topic])
    sent = [retraction("agglo-pau", i) for i in range(6)]
    bad = sent[1]
    stack.bus.publish_many((topic, e) for e in sent)
    recorder = BatchRecorder(stack, fail_on={bad.id})
    outage = Outage(tries=5)
    singles: list[str] = []

    def batch(events: list[CloudEvent]) -> None:
        if sent[3] in events and bad not in events:  # the rest, once the culprit is gone
            outage.hit()
        recorder.batch(events)

    def one(event: CloudEvent) -> None:
        singles.append(event.id)
        if event.id == sent[3].id:  # the outage starts after the culprit was dead-lettered
            outage.hit()
        recorder.one(event)

    consumer = stack.bus.consumer(
        [topic],
        f"isolation-outage-{topic}",
        one,
        batch_handler=batch,
        max_attempts=3,
        retry_backoff_s=0.01,
        retry_max_backoff_s=0.05,
    )
    consumer.run_until(lambda: len(recorder.applied) >= 5, 60)
    consumer.close()

    assert outage.failures == 5
    assert [e.id for e in recorder.applied] == [e.id for e in sent if e is not bad]
    dead = dead_lettered(stack, topic, 1)
    assert [r.header("ce_id") for r in dead] == [bad.id], "the culprit once, nothing else"
    assert dead[0].header("citela_attempts") == "3"
    assert dead[0].header("citela_error_type") == "ValueError"
    assert singles.count(bad.id) == 3, "the culprit's tries are not redone after the pause"


def test_stop_during_a_pause_returns_at_once_and_commits_nothing(stack: Stack, topic: str) -> None:
    import threading
    import time

    stack.bus.ensure_topics([topic])
    sent = retraction("agglo-pau", 1)
    stack.bus.publish(topic, sent)
    outage = Outage(tries=10**6)

    def down(event: CloudEvent) -> None:
        outage.hit()

    group = f"stop-{topic}"
    consumer = stack.bus.consumer([topic], group, down, retry_backoff_s=20, retry_max_backoff_s=60)
    runner = threading.Thread(target=consumer.run, kwargs={"poll_timeout_s": 0.2})
    runner.start()
    wait_until(lambda: consumer.paused, 30)
    started = time.monotonic()
    consumer.stop()
    runner.join(5)
    stopped_in = time.monotonic() - started
    consumer.close()
    assert not runner.is_alive()
    assert stopped_in < 2, f"stop() took {stopped_in:.1f} s during a 20 s backoff"
    assert outage.failures == 1

    again = Collect()
    consume_all(stack, topic, again, 1, group=group)
    assert [e.id for e in again.events] == [sent.id], "the paused event was not committed"
    assert dead_lettered(stack, topic, 0) == []


def wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
