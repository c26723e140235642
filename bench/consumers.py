"""Consumer throughput: each event consumer against a bare kafka-python consumer, same run.

``uv run --no-sync python bench/consumers.py --db postgres|sqlite [--consumer facts,catalogue]
[--events 20000]``

For each consumer named (``facts``: analytics' facts and matrix cells; ``catalogue``: the
catalogue service's projection; ``readmodel``: the feedback service's read model of the
catalogue), on a fresh topic of the local Kafka broker (3 partitions), with the run's own
tenants and consumer groups:

1. produce ``--events`` realistic events (feedback: 70 % first posts, 25 % revisions, 5 %
   retractions over 50 services of 5 tenants; catalogue: territories, then French entries,
   80 % new, 15 % newer versions, 5 % removals, over 5 tenants);
2. anchor: a bare kafka-python consumer that only decodes each record (``from_binary``) and
   commits after each poll, until it has read them all;
3. project: the service's consumer (the platform's ``Consumer``, batch handler, DLQ, commit
   after the batch) until every event is applied and committed to the database named.

Both are timed from their first non-empty poll to their last commit (the group join is left
out of both). Then the store is checked (the matrix of each tenant equals its recomputation
from the facts; entries counted). The last line: ``ratio=… project=… bare=…`` per consumer.

It runs exactly the mode it names: ``--db postgres`` uses ``--pg-url`` (default: the local
``citela_test`` database), ``--db sqlite`` a fresh SQLite file, whatever ``CITELA_*``
variables are exported; the broker is ``--bootstrap`` (default the local one). The run's rows
are deleted at the end (``--keep`` keeps them).
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import delete, func, select

from citela_common.bus import Consumer, ConsumerTransport, Record
from citela_common.bus.kafka import KafkaBus
from citela_common.cache import MemoryCache
from citela_common.db import Database
from citela_common.events import CloudEvent, make_event, to_binary
from citela_common.events.envelope import from_binary
from citela_common.events.models import (
    Address,
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    Channel,
    Contact,
    EntryKind,
    EventData,
    FeedbackRetracted,
    FeedbackRevised,
    FeedbackSubmitted,
    GeoPoint,
    OpeningSlot,
    Provenance,
    TerritoryLevel,
    TerritoryUpserted,
)
from citela_common.migrations import upgrade
from citela_common.runtime import ConsumerSpec

PG_URL = "postgresql+psycopg://citela:citela@127.0.0.1:5432/citela_test"
BOOTSTRAP = "127.0.0.1:9092"
BATCH = 500  # max_poll_records of both consumers
COMMENTS = [
    "Temps d'attente trop long au guichet.",
    "Personnel aimable et efficace.",
    "Horaires d'ouverture trop courts, fermé le samedi matin.",
    None,
]
COMMUNES = [
    ("64445", "Pau", "64000"),
    ("64024", "Arudy", "64260"),
    ("64102", "Billère", "64140"),
    ("64348", "Lescar", "64230"),
    ("64320", "Jurançon", "64110"),
    ("64284", "Gelos", "64110"),
    ("64230", "Idron", "64320"),
    ("64373", "Lons", "64140"),
]
OFFICES = [
    ("Mairie", "mairie", "Administration"),
    ("Médiathèque", "mediatheque", "Culture"),
    ("Piscine municipale", "piscine", "Sport"),
    ("CCAS", "ccas", "Action sociale"),
    ("Crèche", "creche", "Petite enfance"),
    ("France services", "france-services", "Administration"),
]


# --- event streams ------------------------------------------------------------------------------


def feedback_stream(n: int, tenants: list[str], seed: int = 1) -> list[CloudEvent]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    live: list[tuple[str, str, str, int]] = []  # tenant, feedback, entry, revision
    out: list[CloudEvent] = []
    for i in range(n):
        roll = rng.random()
        at = start + timedelta(minutes=i)
        data: EventData
        if roll < 0.70 or len(live) < 10:
            tenant = rng.choice(tenants)
            fb = uuid.uuid4().hex
            entry = f"service-public:svc-{rng.randrange(50)}"
            data = FeedbackSubmitted(
                feedback_id=fb,
                entry_id=entry,
                author_ref=fb[:12],
                channel=Channel.PORTAL,
                importance=rng.randint(1, 5),
                satisfaction=rng.randint(1, 5),
                comment=rng.choice(COMMENTS),
                submitted_at=at,
            )
            live.append((tenant, fb, entry, 1))
        elif roll < 0.95:
            k = rng.randrange(len(live))
            tenant, fb, entry, rev = live[k]
            data = FeedbackRevised(
                feedback_id=fb,
                entry_id=entry,
                author_ref=fb[:12],
                channel=Channel.PORTAL,
                importance=rng.randint(1, 5),
                satisfaction=rng.randint(1, 5),
                comment=rng.choice(COMMENTS),
                revision=rev + 1,
                submitted_at=at,
            )
            live[k] = (tenant, fb, entry, rev + 1)
        else:
            tenant, fb, entry, _rev = live.pop(rng.randrange(len(live)))
            data = FeedbackRetracted(feedback_id=fb, entry_id=entry, retracted_at=at)
        out.append(make_event(data, tenant=tenant, source="/citela/feedback"))
    return out


def _entry(rng: random.Random, remote_id: str, version: int) -> CatalogueEntryUpserted:
    code, city, postal = rng.choice(COMMUNES)
    label, source_type, area = rng.choice(OFFICES)
    return CatalogueEntryUpserted(
        entry_id=f"service-public:{remote_id}",
        version=version,
        kind=EntryKind.SERVICE,
        title=f"{label} de {city}",
        description=f"Accueil du public, démarches et renseignements ({city}).",
        source_type=source_type,
        policy_area=area,
        commune_codes=[code],
        epci_codes=["200067254"],
        departement_codes=["64"],
        address=Address(
            lines=[f"{rng.randint(1, 80)} rue de la République"],
            postal_code=postal,
            city=city,
            commune_code=code,
        ),
        point=GeoPoint(lat=43.3 + rng.random() / 10, lon=-0.37 + rng.random() / 10),
        contacts=[Contact(kind="phone", value=f"+33 5 59 {rng.randint(10, 99)} 00 00")],
        opening_hours=[OpeningSlot(weekday=d, opens="08:30", closes="17:00") for d in range(5)],
        provenance=Provenance(source="service-public", remote_id=remote_id, licence="lov2"),
        updated_at=datetime(2026, 11, 28, 9, 0, tzinfo=UTC) + timedelta(minutes=version),
    )


def catalogue_stream(n: int, tenants: list[str], seed: int = 2) -> list[CloudEvent]:
    rng = random.Random(seed)
    out: list[CloudEvent] = []
    for tenant in tenants:
        for code, city, postal in COMMUNES:
            territory = TerritoryUpserted(
                code=code,
                level=TerritoryLevel.COMMUNE,
                name=city,
                version=1,
                region_code="75",
                departement_codes=["64"],
                epci_code="200067254",
                postal_codes=[postal],
                provenance=Provenance(source="geo-api", remote_id=code),
            )
            out.append(make_event(territory, tenant=tenant, source="/citela/ingest"))
    live: list[tuple[str, str, int]] = []  # tenant, remote id, version
    while len(out) < n:
        roll = rng.random()
        data: EventData
        if roll < 0.80 or len(live) < 10:
            tenant, remote_id = rng.choice(tenants), f"bench-{uuid.uuid4().hex[:12]}"
            data = _entry(rng, remote_id, 1)
            live.append((tenant, remote_id, 1))
        elif roll < 0.95:
            k = rng.randrange(len(live))
            tenant, remote_id, version = live[k]
            data = _entry(rng, remote_id, version + 1)
            live[k] = (tenant, remote_id, version + 1)
        else:
            tenant, remote_id, version = live.pop(rng.randrange(len(live)))
            data = CatalogueEntryRemoved(
                entry_id=f"service-public:{remote_id}",
                version=version + 1,
                removed_at=datetime(2026, 11, 29, tzinfo=UTC),
            )
        out.append(make_event(data, tenant=tenant, source="/citela/ingest"))
    return out


# --- the consumers under test -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    package: str
    schema: str
    spec: Callable[[Database], ConsumerSpec]
    stream: Callable[[int, list[str]], list[CloudEvent]]
    check: Callable[[Database, list[str], list[CloudEvent]], str]


def _facts_spec(db: Database) -> ConsumerSpec:
    from citela_analytics.service import facts_consumer

    return facts_consumer(db, MemoryCache(), lambda _tenant: None)


def _facts_check(db: Database, tenants: list[str], _events: list[CloudEvent]) -> str:
    from citela_analytics import cells
    from citela_analytics.models import FeedbackFact

    drifted = 0
    with db.transaction() as session:
        facts = session.scalar(select(func.count()).where(FeedbackFact.tenant_id.in_(tenants)))
        for tenant in tenants:
            drifted += cells.recompute(session, tenant).drifted
    if drifted:
        raise SystemExit(f"{drifted} matrix cells differ from the recomputation")
    return f"{facts:,} facts, matrix equal to its recomputation"


def _catalogue_spec(db: Database) -> ConsumerSpec:
    from citela_catalogue.service import projection_handler

    return projection_handler(db, MemoryCache())


def _expected_entries(events: list[CloudEvent]) -> int:
    return len({e.data["entry_id"] for e in events if e.type.endswith("entry.upserted.v1")})


def _catalogue_check(db: Database, tenants: list[str], events: list[CloudEvent]) -> str:
    from citela_catalogue.models import Entry

    with db.transaction() as session:
        count = session.scalar(select(func.count()).where(Entry.tenant_id.in_(tenants))) or 0
    if count != _expected_entries(events):
        raise SystemExit(f"{count} entries stored, {_expected_entries(events)} expected")
    return f"{count:,} entries"


def _readmodel_spec(db: Database) -> ConsumerSpec:
    from citela_feedback.readmodel import projection

    return projection(db)


def _readmodel_check(db: Database, tenants: list[str], events: list[CloudEvent]) -> str:
    from citela_feedback.models import CatalogueEntry

    with db.transaction() as session:
        count = (
            session.scalar(select(func.count()).where(CatalogueEntry.tenant_id.in_(tenants))) or 0
        )
    if count != _expected_entries(events):
        raise SystemExit(f"{count} entries in the read model, {_expected_entries(events)} expected")
    return f"{count:,} entries"


TARGETS = {
    "facts": Target(
        "facts", "citela_analytics", "analytics", _facts_spec, feedback_stream, _facts_check
    ),
    "catalogue": Target(
        "catalogue",
        "citela_catalogue",
        "catalogue",
        _catalogue_spec,
        catalogue_stream,
        _catalogue_check,
    ),
    "readmodel": Target(
        "readmodel",
        "citela_feedback",
        "feedback",
        _readmodel_spec,
        catalogue_stream,
        _readmodel_check,
    ),
}


# --- the two runs -------------------------------------------------------------------------------


def cleanup(db: Database, package: str, tenants: list[str], events: list[CloudEvent]) -> None:
    """Delete the run's rows (its tenants' rows, its processed event ids): the default
    database is the shared test database, where thousands of unscored bench comments would
    slow every scoring sweep of the tests."""
    models = importlib.import_module(f"{package}.models")
    ids = [e.id for e in events]
    with db.transaction() as session:
        for table in reversed(models.Base.metadata.sorted_tables):
            if "tenant_id" in table.c:
                session.execute(delete(table).where(table.c.tenant_id.in_(tenants)))
            elif table.name == "processed_events":
                for start in range(0, len(ids), 1000):
                    chunk = ids[start : start + 1000]
                    session.execute(delete(table).where(table.c.event_id.in_(chunk)))


def produce(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    for event in events:
        key, value, headers = to_binary(event)
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()


def bare(bootstrap: str, topic: str, group: str, n: int, timeout_s: float) -> float:
    """Seconds a bare kafka-python consumer takes to decode and commit ``n`` records."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=BATCH,
    )
    seen, started, deadline = 0, 0.0, time.monotonic() + timeout_s
    while seen < n and time.monotonic() < deadline:
        batches = consumer.poll(timeout_ms=1000)
        if not batches:
            continue
        started = started or time.perf_counter()
        for messages in batches.values():
            for m in messages:
                from_binary(m.value, [(k, v or b"") for k, v in m.headers or []])
                seen += 1
        consumer.commit()
    elapsed = time.perf_counter() - started
    consumer.close(autocommit=False)
    if seen < n:
        raise SystemExit(f"bare consumer read {seen} of {n} records in {timeout_s} s")
    return elapsed


class TimedTransport(ConsumerTransport):
    """The consumer's transport, noting when its first records arrived."""

    def __init__(self, inner: ConsumerTransport) -> None:
        self.inner = inner
        self.started = 0.0

    def poll(self, timeout_s: float) -> list[Record]:
        records = self.inner.poll(timeout_s)
        if records and not self.started:
            self.started = time.perf_counter()
        return records

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        self.inner.commit(offsets)

    def lag(self) -> dict[tuple[str, int], int]:
        return self.inner.lag()

    def close(self) -> None:
        self.inner.close()


def project(
    bootstrap: str, topic: str, group: str, spec: ConsumerSpec, n: int, timeout_s: float
) -> float:
    """Seconds the service's consumer takes to apply and commit ``n`` events."""
    bus = KafkaBus(bootstrap, partitions=3, max_poll_records=BATCH)
    applied = 0

    def one(event: CloudEvent) -> None:
        nonlocal applied
        spec.handler(event)
        applied += 1

    def batch(events: list[CloudEvent]) -> None:
        nonlocal applied
        assert spec.batch_handler is not None
        spec.batch_handler(events)
        applied += len(events)

    transport = TimedTransport(bus.transport([topic], group))
    consumer = Consumer(
        transport,
        one,
        bus=bus,
        group=group,
        batch_handler=batch if spec.batch_handler else None,
        max_batch=BATCH,
    )
    consumer.run_until(lambda: applied >= n, timeout_s)
    elapsed = time.perf_counter() - transport.started
    consumer.close()
    bus.close()
    if applied < n:
        raise SystemExit(f"{spec.group} applied {applied} of {n} events in {timeout_s} s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["postgres", "sqlite"], required=True)
    parser.add_argument("--consumer", default="facts,catalogue", help="facts,catalogue,readmodel")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--bootstrap", default=BOOTSTRAP)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--keep", action="store_true", help="keep the run's rows in the database")
    args = parser.parse_args()
    names = [n.strip() for n in args.consumer.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown consumer(s): {', '.join(unknown)}")
    run = uuid.uuid4().hex[:8]
    sqlite_dir = tempfile.mkdtemp(prefix="citela-bench-consumers-")
    admin = KafkaBus(args.bootstrap, partitions=3)
    summary = []
    print(f"database {args.db}, broker {args.bootstrap}, {args.events:,} events per consumer")
    print(f"{'consumer':<11}{'bare ev/s':>11}{'project ev/s':>14}{'ratio':>8}  check")
    for name in names:
        target = TARGETS[name]
        url = args.pg_url if args.db == "postgres" else f"sqlite:///{sqlite_dir}/bench.db"
        db = Database(url, target.schema)
        upgrade(db, target.package)
        tenants = [f"bench-{name}-{run}-{c}" for c in "abcde"]
        events = target.stream(args.events, tenants)
        topic = f"bench.consumers.{name}.{run}"
        admin.ensure_topics([topic])
        produce(args.bootstrap, topic, events)
        n = len(events)
        bare_s = bare(args.bootstrap, topic, f"bench-bare-{name}-{run}", n, args.timeout)
        spec = target.spec(db)
        project_s = project(args.bootstrap, topic, f"bench-{name}-{run}", spec, n, args.timeout)
        checked = target.check(db, tenants, events)
        if not args.keep:
            cleanup(db, target.package, tenants, events)
        db.dispose()
        bare_rate, project_rate = n / bare_s, n / project_s
        ratio = project_rate / bare_rate
        print(f"{name:<11}{bare_rate:>11,.0f}{project_rate:>14,.0f}{ratio:>8.2f}  {checked}")
        summary.append(f"{name}: ratio={ratio:.2f} project={project_rate:.0f} bare={bare_rate:.0f}")
    admin.close()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"db={args.db} load={load} " + " | ".join(summary))


if __name__ == "__main__":
    main()
