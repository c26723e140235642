"""This service's own read model of the catalogue, projected from the catalogue events.

Versioned (an older version never overwrites a newer one) and idempotent (each event id is
recorded in ``processed_events`` in the same transaction as its effect). The feedback service
reads only these tables to decide whether an entry exists and lies in a tenant's territory.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_common.db import Database
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    CATALOGUE_TOPIC,
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    TerritoryLevel,
    TerritoryUpserted,
    parse_data,
)
from citela_common.outbox import each, idempotent_batch
from citela_common.runtime import ConsumerSpec
from citela_common.tenancy import scope_to_tenant
from citela_feedback import generations
from citela_feedback.domain.rules import Commune, EntryPlace
from citela_feedback.models import CatalogueEntry, ProcessedEvent, Territory

CONSUMER = "feedback-catalogue"
COMMUNE_LEVELS = (TerritoryLevel.COMMUNE.value, TerritoryLevel.ARRONDISSEMENT.value)


def apply_event(session: Session, event: CloudEvent) -> bool:
    """Apply one catalogue event; True when the read model changed.

    A change bumps the tenant's cache generation at commit (citela_feedback.generations):
    every intake worker then drops the verdicts it cached on the tenant's entries. A rewrite
    of this projection that writes without the ORM must keep the ``touch``.
    """
    scope_to_tenant(session, event.tenant)
    data = parse_data(event)
    changed = False
    if isinstance(data, CatalogueEntryUpserted):
        changed = _upsert_entry(session, event.tenant, data)
    elif isinstance(data, CatalogueEntryRemoved):
        changed = _remove_entry(session, event.tenant, data)
    elif isinstance(data, TerritoryUpserted):
        changed = _upsert_territory(session, event.tenant, data)
    if changed:
        generations.touch(session, generations.tenant_scope(event.tenant))
    return changed


def _upsert_entry(session: Session, tenant: str, data: CatalogueEntryUpserted) -> bool:
    row = session.get(CatalogueEntry, (tenant, data.entry_id))
    if row is not None and row.version >= data.version:
        return False
    if row is None:
        row = CatalogueEntry(tenant_id=tenant, entry_id=data.entry_id)
        session.add(row)
    row.version = data.version
    row.kind = data.kind.value
    row.title = data.title[:500]
    row.policy_area = data.policy_area
    row.commune_codes = list(data.commune_codes)
    row.epci_codes = list(data.epci_codes)
    row.departement_codes = list(data.departement_codes)
    row.removed_at = None
    return True


def _remove_entry(session: Session, tenant: str, data: CatalogueEntryRemoved) -> bool:
    row = session.get(CatalogueEntry, (tenant, data.entry_id))
    if row is not None and row.version >= data.version:
        return False
    if row is None:
        # A removal that overtook its upsert still wins over that older upsert later.
        row = CatalogueEntry(
            tenant_id=tenant, entry_id=data.entry_id, kind="service", title=data.entry_id
        )
        session.add(row)
    row.version = data.version
    row.removed_at = data.removed_at
    return True


def _upsert_territory(session: Session, tenant: str, data: TerritoryUpserted) -> bool:
    row = session.get(Territory, (tenant, data.level.value, data.code))
    if row is not None and row.version >= data.version:
        return False
    if row is None:
        row = Territory(tenant_id=tenant, level=data.level.value, code=data.code)
        session.add(row)
    row.version = data.version
    row.name = data.name
    row.epci_code = data.epci_code
    row.departement_codes = list(data.departement_codes)
    row.region_code = data.region_code
    row.parent_commune_code = data.parent_commune_code
    return True


def projection(db: Database) -> ConsumerSpec:
    """The read model's consumer: each polled batch in one transaction, each event once."""
    return ConsumerSpec.batched(
        [CATALOGUE_TOPIC],
        CONSUMER,
        idempotent_batch(db, ProcessedEvent, CONSUMER, each(apply_event)),
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
