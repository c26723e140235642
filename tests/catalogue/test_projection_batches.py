"""The catalogue projection applied a batch at a time leaves the store it leaves event by event.

The events go through the consumer's handler (processed events, versions, communes, search
index), once as one batch and once one by one into another tenant, on SQLite and PostgreSQL;
the two tenants' stores must then agree row for row, search index included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from citela_catalogue.models import Entry, EntryCommune, TerritoryRow
from citela_catalogue.service import projection_handler
from citela_common.cache import MemoryCache
from citela_common.db import Database
from citela_common.events import CloudEvent
from citela_common.events.models import TerritoryLevel
from citela_common.migrations import upgrade
from citela_common.runtime import ConsumerSpec
from citela_common.tenancy import scope_to_tenant
from tests.catalogue import factories as f


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Database, ConsumerSpec]]:
    url = (
        f"sqlite:///{tmp_path}/c.db"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    db = Database(url, "catalogue")
    upgrade(db, "citela_catalogue")
    yield db, projection_handler(db, MemoryCache())
    db.dispose()


def story(tenant: str) -> list[CloudEvent]:
    """A harvest's worth of events, with what makes a batch tricky: several versions of one
    entry, a late older version, a removal then a newer upsert, a removal of an entry never
    seen, a territory renamed twice, and an event delivered twice."""
    pau = f.territory("64445", TerritoryLevel.COMMUNE, "Pau", epci_code="200067254")
    datas = [
        pau,
        f.territory("64445", TerritoryLevel.COMMUNE, "Pau (ville)", version=2),
        f.territory("64445", TerritoryLevel.COMMUNE, "Pau, ancienne", version=1),
        f.entry("mairie-pau", "Mairie de Pau", "64445"),
        f.entry("mairie-pau", "Hôtel de ville de Pau", "64445", version=2),
        f.entry("mairie-pau", "Mairie de Pau (ancien)", "64445", version=1),
        f.entry("mediatheque-lons", "Médiathèque de Lons", "64348"),
        f.removed("mediatheque-lons", 2),
        f.entry("mediatheque-lons", "Médiathèque de Lons, rouverte", "64348", version=3),
        f.removed("piscine-arudy", 4),  # never seen: changes nothing
        f.entry("piscine-arudy", "Piscine d'Arudy", "64024"),
        f.entry("ccas-pau", "CCAS de Pau", "64445"),
        f.removed("ccas-pau", 2),
    ]
    events = [f.event(d, tenant) for d in datas]
    return [*events[:5], events[3], *events[5:]]  # the first upsert of the mairie twice


def snapshot(db: Database, tenant: str) -> dict[str, Any]:
    with db.transaction() as session:
        scope_to_tenant(session, tenant)
        entries = {
            e.entry_id: (e.version, e.title, e.title_sort, e.removed_at, e.commune_codes, e.address)
            for e in session.scalars(select(Entry))
        }
        pks = {e.id: e.entry_id for e in session.scalars(select(Entry))}
        communes = sorted(
            (pks[c.entry_pk], c.commune_code) for c in session.scalars(select(EntryCommune))
        )
        territories = {
            (t.level, t.code): (t.version, t.name, t.name_folded)
            for t in session.scalars(select(TerritoryRow))
        }
        sql = (
            "SELECT e.entry_id, CAST(e.search_vector AS TEXT) FROM catalogue.entries e"
            if db.engine.dialect.name == "postgresql"
            else "SELECT e.entry_id, f.body FROM catalogue.entries e"
            " JOIN catalogue.entries_fts f ON f.rowid = e.id"
        )
        index: dict[str, str] = {
            row[0]: row[1]
            for row in session.execute(text(sql + " WHERE e.tenant_id = :t"), {"t": tenant})
        }
    return {"entries": entries, "communes": communes, "territories": territories, "index": index}


def test_a_batch_leaves_the_store_one_by_one_leaves(store: tuple[Database, ConsumerSpec]) -> None:
    db, spec = store
    assert spec.batch_handler is not None
    run = uuid.uuid4().hex[:8]
    batched, single = f"lot-{run}", f"unite-{run}"
    spec.batch_handler(story(batched))
    for event in story(single):
        spec.handler(event)

    got, want = snapshot(db, batched), snapshot(db, single)
    assert got == want
    entries = got["entries"]
    assert entries["service-public:mairie-pau"][:2] == (2, "Hôtel de ville de Pau")
    lons = entries["service-public:mediatheque-lons"]
    assert (lons[1], lons[3]) == ("Médiathèque de Lons, rouverte", None), "back after removal"
    assert entries["service-public:ccas-pau"][3] is not None, "removed"
    assert got["territories"][("commune", "64445")][:2] == (2, "Pau (ville)")
    assert "rouvert" in got["index"]["service-public:mediatheque-lons"]


def test_a_redelivered_batch_changes_nothing(store: tuple[Database, ConsumerSpec]) -> None:
    db, spec = store
    assert spec.batch_handler is not None
    tenant = f"lot-{uuid.uuid4().hex[:8]}"
    events = story(tenant)
    spec.batch_handler(events)
    before = snapshot(db, tenant)
    spec.batch_handler(events[::-1])  # all already processed: skipped, whatever the order
    assert snapshot(db, tenant) == before
