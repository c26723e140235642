"""This service's own read model of the catalogue, projected from the catalogue events.

Versioned (an older version never overwrites a newer one: ``bulk.versioned_upsert``, the write
the catalogue's and analytics' projections use too) and idempotent (each event id is recorded in
``processed_events`` in the same transaction as its effect). The feedback service
reads only these tables to decide whether an entry exists and lies in a tenant's territory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from citela_common import bulk
from citela_common.db import Database
from citela_common.events import entry_batches
from citela_common.events.entry_batches import EntryEvent
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    CATALOGUE_TOPIC,
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    TerritoryLevel,
    TerritoryUpserted,
    parse_data,
)
from citela_common.outbox import idempotent_batch
from citela_common.runtime import ConsumerSpec
from citela_feedback import generations
from citela_feedback.domain.rules import Commune, EntryPlace
from citela_feedback.models import CatalogueEntry, ProcessedEvent, Territory

CONSUMER = "feedback-catalogue"
COMMUNE_LEVELS = (TerritoryLevel.COMMUNE.value, TerritoryLevel.ARRONDISSEMENT.value)


ENTRIES = cast(Table, CatalogueEntry.__table__)
TERRITORIES = cast(Table, Territory.__table__)
_TERRITORY_KEYS = ("tenant_id", "level", "code")


def apply_batch(session: Session, events: Sequence[CloudEvent]) -> list[str]:
    """Apply catalogue events in order; the tenants whose read model changed.

    A change bumps the tenant's cache generation at commit (citela_feedback.generations):
    every intake worker then drops the verdicts it cached on the tenant's entries (the writes
    below are Core statements, which the ORM's flush hook does not see: hence the ``touch``).
    """
    entries: list[tuple[str, EntryEvent]] = []
    territories: dict[tuple[str, str, str], TerritoryUpserted] = {}  # the newest of each
    for event in events:
        data = parse_data(event)
        if isinstance(data, CatalogueEntryUpserted | CatalogueEntryRemoved):
            entries.append((event.tenant, data))
        elif isinstance(data, TerritoryUpserted):
            key = (event.tenant, data.level.value, data.code)
            if key not in territories or territories[key].version < data.version:
                territories[key] = data
    changed = _apply_entries(session, entries) | _upsert_territories(session, territories)
    for tenant in sorted(changed):
        generations.touch(session, generations.tenant_scope(tenant))
    return sorted(changed)


def _apply_entries(session: Session, items: Sequence[tuple[str, EntryEvent]]) -> set[str]:
    pending, _ = bulk.upsert_entries(session, ENTRIES, items, entry_batches.mirror_row)
    return {tenant for tenant, _ in pending}


def _upsert_territories(
    session: Session, newest: dict[tuple[str, str, str], TerritoryUpserted]
) -> set[str]:
    written = bulk.versioned_upsert(
        session,
        TERRITORIES,
        _TERRITORY_KEYS,
        [
            {
                "tenant_id": tenant,
                "level": level,
                "code": code,
                "version": d.version,
                "name": d.name,
                "epci_code": d.epci_code,
                "departement_codes": list(d.departement_codes),
                "region_code": d.region_code,
                "parent_commune_code": d.parent_commune_code,
            }
            for (tenant, level, code), d in sorted(newest.items())
        ],
        returning=("tenant_id",),
    )
    return {row[0] for row in written}


def projection(db: Database) -> ConsumerSpec:
    """The read model's consumer: each polled batch in one transaction, each event once."""
    return ConsumerSpec.batched(
        [CATALOGUE_TOPIC], CONSUMER, idempotent_batch(db, ProcessedEvent, CONSUMER, apply_batch)
    )


# --- reads ------------------------------------------------------------------------------------


def live_entry(session: Session, entry_id: str) -> CatalogueEntry | None:
    """The entry as last published, or None (scoped session: the tenant's catalogue)."""
    return session.scalar(select(CatalogueEntry).where(CatalogueEntry.entry_id == entry_id))


def place_of(entry: CatalogueEntry) -> EntryPlace:
    return EntryPlace(
        tuple(entry.commune_codes), tuple(entry.epci_codes), tuple(entry.departement_codes)
    )


def communes(session: Session, codes: Iterable[str]) -> dict[str, Commune]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = session.scalars(
        select(Territory).where(Territory.code.in_(wanted), Territory.level.in_(COMMUNE_LEVELS))
    )
    return {
        r.code: Commune(
            code=r.code,
            epci_code=r.epci_code,
            departement_codes=tuple(r.departement_codes),
            region_code=r.region_code,
            parent_commune_code=r.parent_commune_code,
        )
        for r in rows
    }
