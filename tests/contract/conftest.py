from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from citela_common.bus import DurableBus, EventBus, InProcessBus
from citela_common.db import Database
from tests.contract.stack import fresh_database


@dataclass
class Stack:
    """A bus and a database of one mode: in-process + SQLite, or Kafka + PostgreSQL."""

    name: str
    bus: EventBus
    db: Database


@pytest.fixture(params=["in-process", "durable", "kafka"])
def stack(request: pytest.FixtureRequest, sqlite_url: str, tmp_path: Path) -> Iterator[Stack]:
    if request.param == "in-process":
        bus: EventBus = InProcessBus(partitions=3)
        db = fresh_database(sqlite_url)
    elif request.param == "durable":  # the embedded platform's bus: its log in a file
        bus = DurableBus(tmp_path / "bus.db", partitions=3)
        db = fresh_database(sqlite_url)
    else:
        from citela_common.bus.kafka import KafkaBus

        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), partitions=3, send_timeout_s=10)
        db = fresh_database(request.getfixturevalue("pg_url"))
    yield Stack(request.param, bus, db)
    bus.close()
    db.dispose()
