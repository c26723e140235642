"""`citela events dlq list|show|replay` on Kafka and on the embedded (durable) bus.

Real consumers dead-letter real events (a catalogue entry they do not know yet, a record that
is no CloudEvent); the commands list them by topic, tenant and time, show one, and replay the
selected ones to their topic once the cause is gone: consumers apply them, once, even when the
replay is repeated. Each test uses a topic of its own (the platform's topics are shared).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from citela_common.bus import DurableBus, EventBus, dlq_topic
from citela_common.db import Database
from citela_common.events import CloudEvent, make_event
from citela_common.events.models import FeedbackRetracted
from citela_common.outbox import idempotent_batch
from citela_common.settings import get_settings
from citela_platform.cli import app
from tests.contract.stack import Counted, ProcessedEvent, fresh_database

SOURCE = "/citela/feedback"


@dataclass
class Mode:
    name: str
    open_bus: Callable[[], EventBus]


@pytest.fixture(params=["embedded", "kafka"])
def mode(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Mode]:
    if request.param == "kafka":
        from citela_common.bus.kafka import KafkaBus

        bootstrap = request.getfixturevalue("kafka_bootstrap")
        monkeypatch.setenv("CITELA_KAFKA_BOOTSTRAP", bootstrap)

        def open_bus() -> EventBus:
            return KafkaBus(bootstrap, send_timeout_s=10)
    else:
        monkeypatch.delenv("CITELA_KAFKA_BOOTSTRAP", raising=False)
        monkeypatch.setenv("CITELA_DATA_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("CITELA_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'citela.db'}")

        def open_bus() -> EventBus:
            return DurableBus(tmp_path / "var" / "bus.db")

    get_settings.cache_clear()
    yield Mode(request.param, open_bus)
    get_settings.cache_clear()


def retraction(tenant: str, n: int) -> CloudEvent:
    return make_event(
        FeedbackRetracted(
            feedback_id=f"avis-{n}",
            entry_id=f"service-public:mairie-64445-{n:02d}",
            retracted_at=datetime(2026, 11, 28, 9, n, tzinfo=UTC),
        ),
        tenant=tenant,
        source=SOURCE,
        subject=f"avis-{n}",
    )


class Projection:
    """An idempotent consumer (processed-event marks, as every service's) that refuses the
    entries it does not know yet: a deterministic failure, dead-lettered."""

    def __init__(self, db: Database, name: str, unknown: set[str]) -> None:
        self.unknown = unknown
        self.applied: list[str] = []

        def apply(session: Session, events: list[CloudEvent]) -> None:
            for event in events:
                if event.data["entry_id"] in self.unknown:
                    raise LookupError(f"entrée de catalogue inconnue : {event.data['entry_id']}")
                row = session.get(Counted, f"{name}:{event.id}")
                if row is None:
                    session.add(Counted(event_id=f"{name}:{event.id}"))
                else:
                    row.times += 1

        def then(fresh: list[CloudEvent], _: None) -> None:
            self.applied.extend(e.id for e in fresh)

        self.batch = idempotent_batch(db, ProcessedEvent, name, apply, then=then)

    def one(self, event: CloudEvent) -> None:
        self.batch([event])


def consume(
    bus: EventBus, topic: str, group: str, projection: Projection, done: Callable[[], bool]
) -> None:
    consumer = bus.consumer(
        [topic],
        group,
        projection.one,
        batch_handler=projection.batch,
        max_attempts=3,
        retry_backoff_s=0.01,
    )
    try:
        consumer.run_until(done, 60)
    finally:
        consumer.close()
    assert done(), f"{group} did not get there"


def citela(*args: str, input: str | None = None) -> Any:
    result = CliRunner().invoke(app, ["events", "dlq", *args], input=input)
    return result


def listed(*args: str) -> list[dict[str, Any]]:
    result = citela("list", "--json", *args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_dead_letters_are_listed_shown_and_replayed_once_the_cause_is_fixed(
    mode: Mode, tmp_path: Path
) -> None:
    topic = f"test.dlq.{uuid.uuid4().hex[:10]}"
    pau, lyon = f"agglo-pau-{uuid.uuid4().hex[:6]}", f"ville-lyon-{uuid.uuid4().hex[:6]}"
    db = fresh_database(f"sqlite:///{tmp_path / 'projections.db'}")
    sent = [retraction(pau, n) for n in range(6)] + [retraction(lyon, n) for n in range(6, 8)]
    unknown = {sent[1].data["entry_id"], sent[3].data["entry_id"], sent[6].data["entry_id"]}
    matrix = Projection(db, "matrice", unknown)
    # A second group that also misses one entry: the same event dead-lettered twice.
    read_model = Projection(db, "lecture", {sent[1].data["entry_id"]})

    bus = mode.open_bus()
    bus.ensure_topics([topic])
    bus.publish_many((topic, e) for e in sent[:4])
    bus.publish_raw(topic, pau.encode(), b"\xff pas du json", [])  # no CloudEvent
    bus.publish_many((topic, e) for e in sent[4:])
    consume(bus, topic, f"matrice-{topic}", matrix, lambda: len(matrix.applied) == 5)
    consume(bus, topic, f"lecture-{topic}", read_model, lambda: len(read_model.applied) == 7)
    bus.close()

    # list: by topic, tenant and time
    everything = listed("--topic", topic)
    # 3, the second group's one, and the unreadable record, which both groups set aside
    assert len(everything) == 6
    mine = listed("--topic", topic, "--tenant", pau)
    assert sorted(r["ref"] for r in mine if r["event_id"]) == sorted(
        [sent[1].id, sent[1].id, sent[3].id]
    )
    failed = next(r for r in mine if r["event_id"] == sent[3].id)
    assert failed["topic"] == topic
    assert failed["tenant"] == pau
    assert failed["event_type"] == "fr.citela.feedback.retracted.v1"
    assert failed["error_type"] == "LookupError"
    assert failed["error"] == (
        f"LookupError: entrée de catalogue inconnue : {sent[3].data['entry_id']}"
    )
    assert failed["attempts"] == 3
    assert failed["group"] == f"matrice-{topic}"
    assert isinstance(failed["offset"], int)
    assert failed["replayed"] is False
    poisons = [r for r in mine if r["event_id"] is None]
    assert len(poisons) == 2
    poison = poisons[0]
    assert poison["attempts"] == 0
    assert poison["ref"].startswith(dlq_topic(topic) + ":")
    assert [r["event_id"] for r in listed("--topic", topic, "--tenant", lyon)] == [sent[6].id]
    assert len(listed("--topic", topic, "--since", "1h")) == 6
    assert listed("--topic", topic, "--until", "2026-01-01") == []
    assert len(listed("--topic", topic, "--limit", "2")) == 2

    table = citela("list", "--topic", topic, "--tenant", lyon)
    assert table.exit_code == 0, table.output
    assert "collectivité" in table.stdout
    assert sent[6].id in table.stdout
    assert "entrée de catalogue inconnue" in table.stdout

    # show: headers and data
    shown = citela("show", sent[3].id, "--topic", topic)
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    assert detail["data"]["entry_id"] == sent[3].data["entry_id"]
    assert detail["headers"]["ce_id"] == sent[3].id
    assert detail["headers"]["citela_original_topic"] == topic
    both = json.loads(citela("show", sent[1].id, "--topic", topic).stdout)
    assert {d["group"] for d in both} == {f"matrice-{topic}", f"lecture-{topic}"}
    unreadable = json.loads(citela("show", poison["ref"]).stdout)
    assert unreadable["data"] == repr(b"\xff pas du json")
    assert citela("show", "inconnu-0000", "--topic", topic).exit_code == 1

    # replay: --dry-run says what, publishes nothing; a refusal publishes nothing either
    dry = citela("replay", "--topic", topic, "--tenant", pau, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "À rejouer : 2 événement(s)" in dry.stdout
    assert "2 message(s) illisible(s)" in dry.stdout
    assert "rien n'a été publié" in dry.stdout
    refused = citela("replay", "--topic", topic, "--tenant", pau, input="n\n")
    assert refused.exit_code == 1
    assert len(listed("--topic", topic, "--tenant", pau)) == 5, "nothing marked replayed"

    # the cause fixed (the entries arrived), the replay publishes each event once
    unknown.clear()
    read_model.unknown.clear()
    done = citela("replay", "--topic", topic, "--tenant", pau, input="y\n")
    assert done.exit_code == 0, done.output
    assert "2 événement(s) rejoué(s)" in done.stdout
    bus = mode.open_bus()
    consume(bus, topic, f"matrice-{topic}", matrix, lambda: len(matrix.applied) == 7)
    consume(bus, topic, f"lecture-{topic}", read_model, lambda: len(read_model.applied) == 8)
    bus.close()

    left = listed("--topic", topic, "--tenant", pau)
    assert [r["event_id"] for r in left] == [None, None], "only the unreadable record is left"
    replayed = [r for r in listed("--topic", topic, "--tenant", pau, "--all") if r["replayed"]]
    assert len(replayed) == 3, "both records of the event dead-lettered twice are marked"
    assert all(r["replayed_at"] for r in replayed)

    # a replay repeated by name is harmless: the consumers' marks skip what they applied
    again = citela("replay", sent[3].id, "--topic", topic, "--yes")
    assert again.exit_code == 0, again.output
    assert "1 événement(s) rejoué(s)" in again.stdout
    # Behind it in its tenant's partition, an event it must apply: then the replay was seen.
    marker = retraction(pau, 20)
    bus = mode.open_bus()
    bus.publish(topic, marker)
    consume(bus, topic, f"matrice-{topic}", matrix, lambda: marker.id in matrix.applied)
    bus.close()
    with db.transaction() as session:
        counts = {r.event_id: r.times for r in session.scalars(select(Counted))}
    db.dispose()
    expected = {f"matrice:{e.id}": 1 for e in [*sent, marker] if e is not sent[6]}
    expected |= {f"lecture:{e.id}": 1 for e in sent}
    assert counts == expected, "every event applied once per group, replays included"
    assert listed("--topic", topic, "--tenant", lyon)[0]["event_id"] == sent[6].id
