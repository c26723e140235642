"""``CITELA_CONSUMER_GROUP_SUFFIX``: processes given a suffix consume in groups of their own.

A blue/green deploy (or a benchmark) starts a second analytics service beside the first: with
another suffix, each reads every event of the feedback topic itself, instead of sharing the
partitions with the first. Real Kafka; each service on a SQLite store of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from sqlalchemy import select

from citela_analytics.models import FeedbackFact
from citela_analytics.service import CATALOGUE, FACTS, build_runtime
from citela_common.bus import create_bus
from citela_common.events.models import ANALYTICS_TOPIC, FEEDBACK_TOPIC
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from tests.analytics import factories as f

pytestmark = pytest.mark.infra


def analytics(kafka: str, store: Path, suffix: str, topic: str) -> ServiceRuntime:
    """An analytics service whose facts consumer reads ``topic`` (a fresh one: a new group
    starts from the topic's beginning), its other consumers left out."""
    settings = Settings(
        _env_file=None,
        data_dir=store,
        kafka_bootstrap=kafka,
        kafka_client_id=f"test-suffix-{store.name}",
        consumer_group_suffix=suffix,
    )
    runtime = build_runtime(settings, create_bus(settings))
    runtime.consumers = [replace(s, topics=[topic]) for s in runtime.consumers if s.group == FACTS]
    runtime.migrate()
    return runtime


@pytest.fixture
def admin(kafka_bootstrap: str, topic: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    yield client
    client.delete_topics([topic, f"{topic}.dlq"])
    client.close()


def committed(kafka: str, group: str, topic: str) -> int:
    """The offsets ``group`` committed on ``topic``, summed over its partitions."""
    consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in parts)
    finally:
        consumer.close()


def facts_of(runtime: ServiceRuntime, tenant: str) -> list[tuple[str, int]]:
    with runtime.db.read() as session:
        rows = session.execute(
            select(FeedbackFact.feedback_id, FeedbackFact.satisfaction).where(
                FeedbackFact.tenant_id == tenant
            )
        )
        return [(r.feedback_id, r.satisfaction) for r in rows]


def test_services_with_different_suffixes_each_consume_the_same_event(
    kafka_bootstrap: str, topic: str, tmp_path: Path, admin: KafkaAdminClient
) -> None:
    run = uuid.uuid4().hex[:8]
    blue = analytics(kafka_bootstrap, tmp_path / "blue", f".blue-{run}", topic)
    green = analytics(kafka_bootstrap, tmp_path / "green", f".green-{run}", topic)
    assert blue.consumer_groups() == [(f"{FACTS}.blue-{run}", [topic])]
    assert green.consumer_groups() == [(f"{FACTS}.green-{run}", [topic])]
    plain_settings = Settings(_env_file=None, data_dir=tmp_path / "plain")
    plain = build_runtime(plain_settings, create_bus(plain_settings))
    assert (FACTS, [FEEDBACK_TOPIC]) in plain.consumer_groups()  # no suffix: the usual names
    # Two groups: the scores are stored by the scorer, analytics does not consume its own topic.
    assert [g for g, _ in plain.consumer_groups()] == [FACTS, CATALOGUE]
    assert all(ANALYTICS_TOPIC not in topics for _, topics in plain.consumer_groups())

    tenant = f"agglo-pau-{run}"
    answer = f.event(
        f.submitted(
            f.fid(),
            "mairie-64445",
            importance=5,
            satisfaction=2,
            comment=None,
            author="usager-lescar",
        ),
        tenant,
    )
    for runtime in (blue, green):
        runtime.start_background()
    try:
        blue.bus.publish(topic, answer)
        deadline = time.monotonic() + 90
        while not (facts_of(blue, tenant) and facts_of(green, tenant)):
            assert time.monotonic() < deadline, "an analytics service never got the answer"
            time.sleep(0.2)
    finally:
        for runtime in (blue, green):
            runtime.stop_background()
            runtime.bus.close()
            runtime.db.dispose()
    expected = [(answer.data["feedback_id"], 2)]
    assert facts_of(blue, tenant) == expected
    assert facts_of(green, tenant) == expected
    # Each group committed its own offset past the event.
    for group in (f"{FACTS}.blue-{run}", f"{FACTS}.green-{run}"):
        assert committed(kafka_bootstrap, group, topic) == 1
    admin.delete_groups([f"{FACTS}.blue-{run}", f"{FACTS}.green-{run}"])
