"""Projects catalogue events into the catalogue store.

Idempotent and order-safe: each row keeps the version it came from, and an event whose version
is not newer than the stored one changes nothing (a redelivered or late event cannot undo a
newer state).
"""

from __future__ import annotations

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from citela_catalogue.models import TS_CONFIG, Entry, EntryCommune, TerritoryRow
from citela_catalogue.search import fold, index_text
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    TerritoryLevel,
    TerritoryUpserted,
    parse_data,
)
from citela_common.tenancy import scope_to_tenant


def apply_event(session: Session, event: CloudEvent) -> bool:
    """Apply one catalogue event; True when the store changed."""
    scope_to_tenant(session, event.tenant)
    data = parse_data(event)
    if isinstance(data, CatalogueEntryUpserted):
        return upsert_entry(session, event.tenant, data)
    if isinstance(data, CatalogueEntryRemoved):
        return remove_entry(session, data)
    if isinstance(data, TerritoryUpserted):
        return upsert_territory(session, event.tenant, data)
    return False  # another area's event on a shared topic: not ours


def upsert_entry(session: Session, tenant: str, data: CatalogueEntryUpserted) -> bool:
    entry = session.scalar(select(Entry).where(Entry.entry_id == data.entry_id))
    if entry is not None and entry.version >= data.version:
        return False
    if entry is None:
        entry = Entry(tenant_id=tenant, entry_id=data.entry_id)
        session.add(entry)
    dates = sorted(data.dates, key=lambda d: (d.start, d.end))
    entry.version = data.version
    entry.kind = data.kind.value
    entry.title = data.title
    entry.title_sort = fold(data.title)[:500]
    entry.description = data.description
    entry.source_type = data.source_type
    entry.policy_area = data.policy_area
    entry.commune_codes = list(data.commune_codes)
    entry.epci_codes = list(data.epci_codes)
    entry.departement_codes = list(data.departement_codes)
    entry.address = data.address.model_dump(mode="json") if data.address else None
    entry.lat = data.point.lat if data.point else None
    entry.lon = data.point.lon if data.point else None
    entry.contacts = [c.model_dump(mode="json") for c in data.contacts]
    entry.opening_hours = [s.model_dump(mode="json") for s in data.opening_hours]
    entry.dates = [d.model_dump(mode="json") for d in dates]
    entry.first_date = dates[0].start if dates else None
    entry.last_date = max(d.end for d in dates) if dates else None
    entry.url = data.url
    entry.provenance = data.provenance.model_dump(mode="json")
    entry.updated_at = data.updated_at
    entry.removed_at = None
    session.flush()
    session.execute(delete(EntryCommune).where(EntryCommune.entry_pk == entry.id))
    session.add_all(
        EntryCommune(tenant_id=tenant, entry_pk=entry.id, commune_code=code)
        for code in sorted(set(data.commune_codes))
    )
    _index(session, entry)
    return True


def _index(session: Session, entry: Entry) -> None:
    body = " ".join(
        p
        for p in (
            entry.title,
            entry.source_type or "",
            entry.policy_area or "",
            (entry.address or {}).get("city") or "",
            entry.description,
        )
        if p
    )
    if session.get_bind().dialect.name == "postgresql":
        # Title weighs more than the rest in ranking.
        session.execute(
            text(
                "UPDATE catalogue.entries SET search_vector ="
                " setweight(to_tsvector(CAST(:cfg AS regconfig), :title), 'A') ||"
                " to_tsvector(CAST(:cfg AS regconfig), :body) WHERE id = :id"
            ),
            {"cfg": TS_CONFIG, "title": entry.title, "body": body, "id": entry.id},
        )
    else:
        session.execute(
            text("DELETE FROM catalogue.entries_fts WHERE rowid = :id"), {"id": entry.id}
        )
        session.execute(
            text("INSERT INTO catalogue.entries_fts (rowid, body) VALUES (:id, :body)"),
            {"id": entry.id, "body": index_text(entry.title, entry.title, body)},
        )


def remove_entry(session: Session, data: CatalogueEntryRemoved) -> bool:
    entry = session.scalar(select(Entry).where(Entry.entry_id == data.entry_id))
    if entry is None or entry.version >= data.version:
        return False
    entry.version = data.version
    entry.removed_at = data.removed_at
    return True


def upsert_territory(session: Session, tenant: str, data: TerritoryUpserted) -> bool:
    row = session.get(TerritoryRow, (tenant, data.level.value, data.code))
    if row is not None and row.version >= data.version:
        return False
    if row is None:
        row = TerritoryRow(tenant_id=tenant, level=data.level.value, code=data.code)
        session.add(row)
    row.version = data.version
    row.name = data.name
    row.name_folded = fold(data.name)
    row.region_code = data.region_code
    row.departement_codes = list(data.departement_codes)
    row.departement_code = (
        data.departement_codes[0]
        if data.departement_codes
        else (data.code if data.level is TerritoryLevel.DEPARTEMENT else None)
    )
    row.epci_code = data.epci_code
    row.parent_commune_code = data.parent_commune_code
    row.postal_codes = list(data.postal_codes)
    row.population = data.population
    row.lat = data.centre.lat if data.centre else None
    row.lon = data.centre.lon if data.centre else None
    return True
