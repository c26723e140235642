"""The embedded platform's bus keeps its log and its groups' offsets across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from citela_common.bus import BusLockedError, DurableBus, dlq_topic
from citela_common.bus.durable import read_log
from citela_common.events import CloudEvent
from tests.contract.test_bus_contract import Collect, retraction

TOPIC = "citela.feedback"


def consume(bus: DurableBus, group: str, expected: int, timeout_s: float = 10) -> list[CloudEvent]:
    got = Collect()
    consumer = bus.consumer([TOPIC], group, got, retry_backoff_s=0.01)
    try:
        consumer.run_until(lambda: len(got.events) >= expected, timeout_s)
    finally:
        consumer.close()
    return got.events


def test_a_restart_redelivers_what_was_not_committed_and_only_that(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    bus = DurableBus(path, partitions=3)
    sent = [retraction("ville-de-pau", n) for n in range(10)]
    bus.publish_many((TOPIC, e) for e in sent[:6])
    assert [e.id for e in consume(bus, "analytics", 6)] == [e.id for e in sent[:6]]
    bus.publish_many((TOPIC, e) for e in sent[6:])  # published, never consumed: then a stop
    bus.close()

    again = DurableBus(path, partitions=3)
    try:
        # the committed six are not delivered again; the four published after are
        assert [e.id for e in consume(again, "analytics", 4)] == [e.id for e in sent[6:]]
        # a group seen for the first time reads the whole log kept (earliest)
        assert [e.id for e in consume(again, "feedback-read-model", 10)] == [e.id for e in sent]
        assert len(again.records(TOPIC)) == 10
    finally:
        again.close()


def test_a_consumer_killed_before_its_commit_gets_the_batch_again(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    bus = DurableBus(path, partitions=3)
    sent = [retraction("agglo-pau", n) for n in range(5)]
    bus.publish_many((TOPIC, e) for e in sent)
    transport = bus.transport([TOPIC], "analytics")
    assert len(transport.poll(1.0)) == 5  # handled, then the process dies: no commit
    bus.close()

    again = DurableBus(path, partitions=3)
    try:
        assert [e.id for e in consume(again, "analytics", 5)] == [e.id for e in sent]
    finally:
        again.close()


def test_memory_keeps_only_the_tail_a_lagging_group_reads_back_from_the_file(
    tmp_path: Path,
) -> None:
    bus = DurableBus(tmp_path / "bus.db", partitions=1, trim_every_s=0)
    try:
        sent = [retraction("agglo-pau", n) for n in range(700)]
        slow = bus.transport([TOPIC], "slow")  # joined before: it is owed everything
        bus.publish_many((TOPIC, e) for e in sent)
        assert consume(bus, "fast", 700)
        fast = bus.transport([TOPIC], "fast")
        fast.commit({(TOPIC, 0): 700})
        assert len(bus._logs[TOPIC][0].records) == 700, "the slow group still needs them"
        slow.commit({(TOPIC, 0): 650})
        fast.commit({(TOPIC, 0): 700})
        assert len(bus._logs[TOPIC][0].records) == 50, "memory: what some group still needs"
        late = bus.transport([TOPIC], "late")  # a new group: the whole log, from the file
        offsets: list[int] = []
        for _ in range(5):  # a poll gives up to 500 records of a partition
            offsets += [r.offset for r in late.poll(0.1)]
        assert offsets == list(range(700))
    finally:
        bus.close()


def test_retention_deletes_only_what_every_group_committed(tmp_path: Path) -> None:
    bus = DurableBus(tmp_path / "bus.db", partitions=1, retention_s=0)
    try:
        sent = [retraction("agglo-pau", n) for n in range(20)]
        bus.publish_many((TOPIC, e) for e in sent)
        a, b = bus.transport([TOPIC], "a"), bus.transport([TOPIC], "b")
        a.commit({(TOPIC, 0): 20})
        b.commit({(TOPIC, 0): 12})
        assert bus.compact() == 12
        assert [r.offset for r in bus.records(TOPIC)] == list(range(12, 20))
        bus.publish_many((TOPIC, e) for e in sent[:1])
        assert bus.records(TOPIC)[-1].offset == 20, "offsets go on after a compaction"
    finally:
        bus.close()


def test_a_second_process_on_the_same_file_is_refused(tmp_path: Path) -> None:
    first = DurableBus(tmp_path / "bus.db")
    first.ensure_topics([TOPIC])
    second = DurableBus(tmp_path / "bus.db")
    with pytest.raises(BusLockedError, match="déjà utilisé par un autre processus"):
        second.ensure_topics([TOPIC])
    first.close()
    second.ensure_topics([TOPIC])  # free once the first let go
    second.close()


def test_platforms_of_one_process_share_the_file_s_bus_until_the_last_closes(
    tmp_path: Path,
) -> None:
    first = DurableBus.shared(tmp_path / "bus.db")
    second = DurableBus.shared(tmp_path / "bus.db")  # `citela demo` finding a demo in place
    assert second is first
    first.publish(TOPIC, retraction("agglo-pau", 1))
    first.close()  # one platform stops: the other goes on
    second.publish(TOPIC, retraction("agglo-pau", 2))
    assert len(second.records(TOPIC)) == 2
    second.close()
    other = DurableBus(tmp_path / "bus.db")  # the file is free again
    try:
        assert len(other.records(TOPIC)) == 2
    finally:
        other.close()


def test_another_process_may_read_the_log_while_the_platform_owns_it(tmp_path: Path) -> None:
    owner = DurableBus(tmp_path / "bus.db")
    try:
        sent = retraction("agglo-pau", 1)
        owner.publish(dlq_topic(TOPIC), sent)
        found = read_log(tmp_path / "bus.db", [dlq_topic(TOPIC)])  # e.g. a CLI listing DLQs
        assert [r.header("ce_id") for r in found] == [sent.id]
        assert read_log(tmp_path / "absent.db") == []
    finally:
        owner.close()
