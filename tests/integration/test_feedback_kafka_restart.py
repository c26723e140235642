"""Nothing lost: feedback posted over HTTP (singles and batches, each retried with the same
Idempotency-Key) before, while and after Kafka is stopped arrives on the topic exactly once
per accepted feedback. The feedback service runs distributed (PostgreSQL, Kafka, Redis).

Stops the shared broker: run it sparingly (other test runs use the same Kafka).
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from citela_common.events import from_binary
from citela_common.events.models import CATALOGUE_TOPIC, FEEDBACK_TOPIC
from citela_common.settings import Settings
from citela_feedback import partners, tenants
from citela_feedback.models import ProcessedEvent
from citela_feedback.readmodel import CONSUMER
from citela_platform.standalone import create_app
from tests.catalogue import factories as cf
from tests.conftest import infra_script
from tests.feedback.conftest import PAU_ENTRIES

pytestmark = pytest.mark.infra
ENTRIES = [
    "service-public:mairie-pau",
    "service-public:mediatheque-lons",
    "service-public:ccas-pau",
]


def end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [
        TopicPartition(FEEDBACK_TOPIC, p)
        for p in sorted(consumer.partitions_for_topic(FEEDBACK_TOPIC) or [])
    ]
    offsets: dict[TopicPartition, int] = consumer.end_offsets(partitions)
    consumer.close()
    return offsets


def read_tenant_events(
    bootstrap: str, start: dict[TopicPartition, int], tenant: str, want: int
) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    found: list[Any] = []
    deadline = time.monotonic() + 60
    quiet_until = None
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=1000)
        for records in batch.values():
            for r in records:
                event = from_binary(r.value, [(k, v or b"") for k, v in (r.headers or [])])
                if event.tenant == tenant:
                    found.append(event)
        if len(found) >= want:
            quiet_until = quiet_until or time.monotonic() + 3  # give a duplicate time to show
            if time.monotonic() > quiet_until:
                break
    consumer.close()
    return found


def test_feedback_accepted_while_kafka_is_down_arrives_once(
    kafka_bootstrap: str, pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    tenant = f"k-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        data_dir=tmp_path,
        database_url=pg_url,
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        kafka_client_id=f"test-{tenant}",
        outbox_poll_interval_s=0.2,
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )
    app = create_app("feedback", settings)
    with TestClient(app) as client:
        runtime = app.state.runtime
        with runtime.db.transaction() as session:
            from citela_common.tenancy import scope_to_tenant

            scope_to_tenant(session, tenant)
            tenants.create(
                session, code=tenant, name="Agglo", siren="200067254", territory_codes=["200067254"]
            )
            partner_app = partners.create_app(
                session, tenant=tenant, name="Appli", rate_limit_per_minute=10_000
            )
            key = partners.create_key(
                session, partner_app, scopes=["feedback:write"], tenants=[tenant]
            ).key
        events = [cf.event(d, tenant) for d in [*cf.GEOGRAPHY, *PAU_ENTRIES]]
        runtime.bus.publish_many((CATALOGUE_TOPIC, e) for e in events)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with runtime.db.transaction() as s:
                if s.get(ProcessedEvent, (CONSUMER, events[-1].id)):
                    break
            time.sleep(0.1)
        start = end_offsets(kafka_bootstrap)
        headers = {"X-API-Key": key}
        accepted: set[str] = set()
        retries = Counter[str]()
        serial = iter(range(1_000_000))

        def item() -> dict[str, Any]:
            n = next(serial)
            return {
                "entry_id": ENTRIES[n % 3],
                "satisfaction": 1 + n % 5,
                "importance": 1 + (n * 3) % 5,
                "comment": f"Avis numéro {n}.",
                "user_ref": f"usager-{n}",
            }

        def single() -> None:
            key_header = {**headers, "Idempotency-Key": uuid.uuid4().hex}
            body = item()
            first = client.post(f"/v1/tenants/{tenant}/feedback", json=body, headers=key_header)
            again = client.post(f"/v1/tenants/{tenant}/feedback", json=body, headers=key_header)
            assert first.status_code == 201, first.text
            assert again.status_code == 201
            assert again.json() == first.json()
            retries["single"] += 1
            accepted.add(first.json()["id"])

        def batch(size: int, bad: int = 2) -> None:
            key_header = {**headers, "Idempotency-Key": uuid.uuid4().hex}
            items = [item() for _ in range(size)]
            for n in range(bad):  # rejected ones never reach the topic
                items[n * 7]["entry_id"] = "service-public:nulle-part"
            first = client.post(
                f"/v1/tenants/{tenant}/feedback/batch", json={"items": items}, headers=key_header
            )
            again = client.post(
                f"/v1/tenants/{tenant}/feedback/batch", json={"items": items}, headers=key_header
            )
            assert first.status_code == 200, first.text
            assert again.json() == first.json()
            assert again.headers["idempotent-replayed"] == "true"
            out = first.json()
            assert (out["accepted"], out["rejected"]) == (size - bad, bad)
            retries["batch"] += 1
            accepted.update(r["feedback_id"] for r in out["results"] if r["status"] == "accepted")

        for _ in range(20):
            single()
        batch(50)
        infra_script("stop", "kafka")
        try:
            for _ in range(30):
                single()
            batch(100)
            batch(40)
            time.sleep(2)
            backlog, _age = runtime.relay.backlog()
            assert backlog > 0, "feedback taken while Kafka is down waits in the outbox"
            # The relay refreshes the backlog gauge after each refused attempt (each waits
            # for the producer's timeout).
            shown = 0.0
            deadline = time.monotonic() + 90  # each refused attempt waits for a timeout
            while shown <= 0 and time.monotonic() < deadline:
                gauge = re.search(
                    r'^citela_outbox_backlog_events\{service="feedback"\} ([0-9.e+]+)$',
                    client.get("/metrics").text,
                    re.MULTILINE,
                )
                shown = float(gauge.group(1)) if gauge else 0.0
                time.sleep(0.5)
            assert shown > 0, "the backlog shows in the metrics while Kafka is down"
        finally:
            infra_script("start", "kafka")
        for _ in range(15):
            single()
        batch(60)
        deadline = time.monotonic() + 120
        while runtime.relay.backlog()[0] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert runtime.relay.backlog()[0] == 0, "the relay catches up once Kafka is back"

    expected = 20 + 30 + 15 + (50 + 100 + 40 + 60) - 2 * 4
    assert len(accepted) == expected
    found = read_tenant_events(kafka_bootstrap, start, tenant, expected)
    ids = Counter(e.data["feedback_id"] for e in found)
    assert set(ids) == accepted, "every accepted feedback is on the topic"
    assert sum(ids.values()) == expected, f"duplicates: {[k for k, v in ids.items() if v > 1][:5]}"
    assert len({e.id for e in found}) == expected
    assert {e.type for e in found} == {"fr.citela.feedback.submitted.v1"}
