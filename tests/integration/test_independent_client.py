"""An event the platform puts on Kafka reads the same with clients that share none of our code."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from citela_common.bus.kafka import KafkaBus
from citela_common.events import make_event
from citela_common.events.models import FeedbackSubmitted

pytestmark = pytest.mark.infra


def test_cloudevents_sdk_and_kcat_read_what_the_platform_publishes(
    kafka_bootstrap: str, topic: str
) -> None:
    data = FeedbackSubmitted(
        feedback_id="fb-42",
        entry_id="service-public:mairie-64445-01",
        author_ref="9f1c",
        channel="partner",
        satisfaction=2,
        importance=5,
        comment="Accueil injoignable au téléphone, attente de 40 minutes.",
        submitted_at=datetime(2026, 11, 28, 10, 5, tzinfo=UTC),
    )
    sent = make_event(data, tenant="agglo-pau", source="/citela/feedback", subject="fb-42")
    bus = KafkaBus(kafka_bootstrap)
    bus.ensure_topics([topic])
    bus.publish(topic, sent)
    bus.close()

    # 1. the raw record read by kafka-python's bare consumer, decoded by the CloudEvents SDK
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
    )
    raw = next(iter(consumer))
    consumer.close()
    sdk_event = from_binary_event(
        KafkaMessage(headers=dict(raw.headers), key=raw.key, value=raw.value)
    )
    assert sdk_event.get_id() == sent.id
    assert sdk_event.get_type() == "fr.citela.feedback.submitted.v1"
    assert sdk_event.get_extension("tenant") == "agglo-pau"
    assert sdk_event.get_source() == "/citela/feedback"
    assert sdk_event.get_subject() == "fb-42"
    assert sdk_event.get_time() == sent.time
    assert sdk_event.get_data() == data.model_dump(mode="json")

    # 2. kcat, a C client from Debian, with nothing of Python in the way
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    assert kcat, "kcat is installed by deploy/infra.sh install"
    out = subprocess.run(
        [kcat, "-C", "-b", kafka_bootstrap, "-t", topic, "-o", "beginning", "-e", "-c", "1", "-J"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    record = json.loads(out.strip().splitlines()[0])
    headers = dict(zip(record["headers"][::2], record["headers"][1::2], strict=True))
    assert record["key"] == "agglo-pau"
    assert headers["ce_id"] == sent.id
    assert headers["ce_type"] == "fr.citela.feedback.submitted.v1"
    assert headers["ce_tenant"] == "agglo-pau"
    assert json.loads(record["payload"]) == data.model_dump(mode="json")
