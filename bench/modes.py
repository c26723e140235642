"""Each benchmark runs exactly the mode it names, on stores and streams of its own.

``Settings`` reads ``CITELA_*`` variables (and ``.env``): with the infrastructure's URLs
exported, an "embedded" run silently became distributed. A benchmark calls
``clear_environment()`` first (so nothing that builds its own ``Settings`` later sees them
either) and builds its settings with ``settings_for``: embedded means SQLite files in a fresh
directory, the in-process bus and the in-process cache; distributed means the URLs given on
its command line (the local ``deploy/infra.sh`` ones by default), never the exported ones.

Fresh names per run: a distributed run gets a PostgreSQL database of its own (created, then
dropped), consumer groups of its own positioned at the end of their topics (so no backlog of
older events is replayed into the measure), and, where the benchmark publishes itself,
topics of its own.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from sqlalchemy.engine import make_url

from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings

PG_URL = "postgresql+psycopg://citela:citela@127.0.0.1:5432/citela"
KAFKA = "127.0.0.1:9092"
REDIS_URL = "redis://127.0.0.1:6379/0"


def clear_environment() -> None:
    """Forget every ``CITELA_*`` variable of this process: the benchmark says what it uses."""
    for name in [n for n in os.environ if n.upper().startswith("CITELA_")]:
        del os.environ[name]


def add_mode_arguments(parser: argparse.ArgumentParser, default: str = "embedded") -> None:
    parser.add_argument("--mode", choices=["embedded", "distributed"], default=default)
    parser.add_argument(
        "--pg-url",
        default=PG_URL,
        help="distributed: a PostgreSQL server (a database of its own is created on it)",
    )
    parser.add_argument("--kafka", default=KAFKA, help="distributed: Kafka bootstrap")
    parser.add_argument("--redis-url", default=REDIS_URL, help="distributed: Redis")


def run_id() -> str:
    return uuid.uuid4().hex[:8]


@contextmanager
def fresh_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on ``server_url``'s server, dropped afterwards."""
    import psycopg

    url = make_url(server_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(
    args: argparse.Namespace,
    *,
    database_url: str | None = None,
    kafka: bool = True,
    redis: bool = True,
    client_id: str = "bench",
    cls: type[Settings] = Settings,
    **extra: Any,
) -> Settings:
    """The settings of ``args.mode``, whatever the environment says.

    distributed: ``database_url`` (from ``fresh_database``), Kafka and Redis as given on the
    command line (``kafka``/``redis`` False leaves one out: a read-only benchmark needs no
    bus). embedded: SQLite in a fresh directory, nothing else. ``cls``: a service's own
    settings class, when ``extra`` sets one of its fields.
    """
    values: dict[str, Any] = {
        "data_dir": Path(mkdtemp(prefix="citela-bench-")) / "var",
        "log_level": "WARNING",
        "database_url": None,
        "kafka_bootstrap": None,
        "redis_url": None,
        **extra,
    }
    if args.mode == "distributed":
        if database_url is None:
            raise ValueError("distributed: pass the database of this run (fresh_database)")
        values["database_url"] = database_url
        values["kafka_bootstrap"] = args.kafka if kafka else None
        values["redis_url"] = args.redis_url if redis else None
        values["kafka_client_id"] = client_id
    return cls(_env_file=None, **values)


def describe(settings: Settings) -> str:
    db = make_url(settings.resolved_database_url)
    store = f"PostgreSQL database {db.database}" if db.get_backend_name() != "sqlite" else "SQLite"
    bus = f"Kafka {settings.kafka_bootstrap}" if settings.kafka_bootstrap else "in-process bus"
    cache = "Redis" if settings.redis_url else "in-process cache"
    return f"{store}, {bus}, {cache}"


def group_suffix(run: str) -> str:
    """The consumer group suffix of a benchmark run (``CITELA_CONSUMER_GROUP_SUFFIX``)."""
    return f".bench-{run}"


def own_groups(
    runtimes: Sequence[ServiceRuntime], run: str, topics: dict[str, str] | None = None
) -> list[tuple[str, list[str]]]:
    """Give every consumer of ``runtimes`` a group of this run (and ``topics`` renamed), for
    runtimes built in this process; processes the benchmark starts take
    ``group_suffix(run)`` as their ``consumer_group_suffix`` instead.

    Call before the runtimes start. Returns (group, topics) for ``start_at_end``.
    """
    renamed = topics or {}
    out: list[tuple[str, list[str]]] = []
    for runtime in runtimes:
        runtime.consumers = [
            replace(
                spec,
                group=f"{spec.group}{group_suffix(run)}",
                topics=[renamed.get(t, t) for t in spec.topics],
            )
            for spec in runtime.consumers
        ]
        out.extend(runtime.consumer_groups())
    return out


def start_at_end(bootstrap: str, groups: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Commit each new group's offsets at the current end of its topics: it reads only what
    is published from now on (a new group would otherwise start from the earliest event)."""
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata, TopicPartition

    for group, topics in groups:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        try:
            partitions = [
                TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
            ]
            if partitions:
                ends = consumer.end_offsets(partitions)
                consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in ends.items()})
        finally:
            consumer.close()


def delete_topics(bootstrap: str, topics: Sequence[str]) -> None:
    """Delete this run's topics and their dead-letter topics, those that exist."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        wanted = {name for t in topics for name in (t, f"{t}.dlq")}
        existing = [t for t in admin.list_topics() if t in wanted]
        if existing:
            admin.delete_topics(existing)
    finally:
        admin.close()


def delete_groups(bootstrap: str, groups: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Forget this run's consumer groups (once their consumers have stopped)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_groups([g for g, _topics in groups])
    except Exception as exc:  # a group still closing is forgotten by Kafka's own retention
        print(f"consumer groups left to Kafka's retention: {exc!r}")
    finally:
        admin.close()
