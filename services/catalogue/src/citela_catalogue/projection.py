"""Projects catalogue events into the catalogue store.

Idempotent and order-safe: each row keeps the version it came from, and an event whose version
is not newer than the stored one changes nothing (a redelivered or late event cannot undo a
newer state).

Events are applied in batches (one per polled batch of the consumer). Per tenant and batch:
one SELECT of the stored versions of the entries concerned, the outcome of the events worked
out in order in memory, then bulk statements: one upsert of the entries (its search vector
computed in the same statement on PostgreSQL), one delete and one insert of their communes
(and of their FTS rows on SQLite), one update of the removed ones, one upsert of the
territories. Entries and territories go through ``bulk.versioned_upsert``: the version guard
(``WHERE stored.version < excluded.version``) is in the statements, so a concurrent writer
cannot make an older version win either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import (
    Table,
    delete,
    text,
)
from sqlalchemy.orm import Session

from citela_catalogue.models import TS_CONFIG, Entry, EntryCommune, TerritoryRow
from citela_catalogue.search import fold, index_text
from citela_common import bulk
from citela_common.events import entry_batches
from citela_common.events.entry_batches import EntryEvent, EntryKey
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    TerritoryLevel,
    TerritoryUpserted,
    parse_data,
)
from citela_common.tenancy import scope_to_tenant

ENTRIES = cast(Table, Entry.__table__)
COMMUNES = cast(Table, EntryCommune.__table__)
TERRITORIES = cast(Table, TerritoryRow.__table__)

CatalogueData = EntryEvent | TerritoryUpserted


def apply_batch(session: Session, events: Sequence[CloudEvent]) -> list[str]:
    """Apply catalogue events in order; the tenants whose store changed.

    Raises (and the caller rolls back) if an event is malformed: the consumer then applies
    the events one by one, so that only the bad one goes to the dead-letter topic.
    """
    entries: list[tuple[str, EntryEvent]] = []
    territories: list[tuple[str, TerritoryUpserted]] = []
    for event in events:
        data = parse_data(event)
        if isinstance(data, CatalogueEntryUpserted | CatalogueEntryRemoved):
            entries.append((event.tenant, data))
        elif isinstance(data, TerritoryUpserted):
            territories.append((event.tenant, data))
        # other areas' events on a shared topic are not ours
    changed = apply_entries(session, entries) | upsert_territories(session, territories)
    return sorted(changed)


# --- entries ----------------------------------------------------------------------------------


def upsert_entry(session: Session, tenant: str, data: CatalogueEntryUpserted) -> bool:
    scope_to_tenant(session, tenant)
    return bool(apply_entries(session, [(tenant, data)]))


def remove_entry(session: Session, tenant: str, data: CatalogueEntryRemoved) -> bool:
    scope_to_tenant(session, tenant)
    return bool(apply_entries(session, [(tenant, data)]))


def apply_entries(session: Session, items: Sequence[tuple[str, EntryEvent]]) -> set[str]:
    """Apply entry upserts and removals in order; the tenants with an entry changed."""
    pending, written = bulk.upsert_entries(
        session,
        ENTRIES,
        items,
        _entry_row,
        returning=("id", "tenant_id", "entry_id"),
        pg_computed={"search_vector": _TSVECTOR},
    )
    upserts = {key: p for key, p in pending.items() if p.upsert is not None}
    _write_communes(session, upserts, {(row[1], row[2]): row[0] for row in written})
    return {tenant for tenant, _ in pending}


def _entry_row(tenant: str, p: entry_batches.EntryChange) -> dict[str, Any]:
    data = p.upsert
    assert data is not None
    order = sorted(range(len(data.dates)), key=lambda i: (data.dates[i].start, data.dates[i].end))
    dates = [data.dates[i] for i in order]
    # The nested values as JSON, in one pass of pydantic's serialiser rather than one per item.
    nested = data.model_dump(
        mode="json", include={"address", "contacts", "opening_hours", "dates", "provenance"}
    )
    return {
        "tenant_id": tenant,
        "entry_id": data.entry_id,
        "version": p.version,
        "kind": data.kind.value,
        "title": data.title,
        "title_sort": fold(data.title)[:500],
        "description": data.description,
        "source_type": data.source_type,
        "policy_area": data.policy_area,
        "commune_codes": list(data.commune_codes),
        "epci_codes": list(data.epci_codes),
        "departement_codes": list(data.departement_codes),
        "address": nested["address"],
        "lat": data.point.lat if data.point else None,
        "lon": data.point.lon if data.point else None,
        "contacts": nested["contacts"],
        "opening_hours": nested["opening_hours"],
        "dates": [nested["dates"][i] for i in order],
        "first_date": dates[0].start if dates else None,
        "last_date": max(d.end for d in dates) if dates else None,
        "url": data.url,
        "provenance": nested["provenance"],
        "updated_at": data.updated_at,
        "removed_at": p.removed_at,
        # not columns: what the PostgreSQL search vector is computed from
        "sv_title": data.title,
        "sv_body": _search_body(data),
    }


def _search_body(data: CatalogueEntryUpserted) -> str:
    city = data.address.city if data.address else None
    parts = (data.title, data.source_type, data.policy_area, city, data.description)
    return " ".join(p for p in parts if p)


# Title weighs more than the rest in ranking.
_TSVECTOR = (
    f"setweight(to_tsvector(CAST('{TS_CONFIG}' AS regconfig), u.sv_title), 'A')"
    f" || to_tsvector(CAST('{TS_CONFIG}' AS regconfig), u.sv_body)"
)


def _write_communes(
    session: Session, pending: dict[EntryKey, entry_batches.EntryChange], ids: dict[EntryKey, int]
) -> None:
    """The communes (and on SQLite the FTS rows) of the entries just written."""
    if not ids:
        return
    session.execute(
        delete(COMMUNES).where(bulk.among(session, COMMUNES.c.entry_pk, sorted(ids.values())))
    )
    upserts = [(key, p.upsert) for key, p in pending.items() if key in ids and p.upsert]
    bulk.write(
        session,
        COMMUNES,
        [
            {"tenant_id": tenant, "entry_pk": ids[(tenant, d.entry_id)], "commune_code": code}
            for (tenant, _), d in upserts
            for code in sorted(set(d.commune_codes))
        ],
    )
    if session.get_bind().dialect.name != "postgresql":
        _index_sqlite(session, [(ids[key], d) for key, d in upserts])


def _index_sqlite(session: Session, entries: Iterable[tuple[int, CatalogueEntryUpserted]]) -> None:
    """FTS5 rows: text folded and stemmed here (SQLite has no French stemmer)."""
    rows = [{"id": pk, "body": index_text(d.title, d.title, _search_body(d))} for pk, d in entries]
    session.execute(
        text("DELETE FROM catalogue.entries_fts WHERE rowid = :id"), [{"id": r["id"]} for r in rows]
    )
    session.execute(
        text("INSERT INTO catalogue.entries_fts (rowid, body) VALUES (:id, :body)"), rows
    )


# --- territories ------------------------------------------------------------------------------


def upsert_territory(session: Session, tenant: str, data: TerritoryUpserted) -> bool:
    scope_to_tenant(session, tenant)
    return bool(upsert_territories(session, [(tenant, data)]))


_TERRITORY_KEYS = ("tenant_id", "level", "code")


def upsert_territories(
    session: Session, items: Sequence[tuple[str, TerritoryUpserted]]
) -> set[str]:
    """Upsert territories (the newest version of each wins); the tenants with one changed."""
    newest: dict[tuple[str, str, str], TerritoryUpserted] = {}
    for tenant, data in items:
        key = (tenant, data.level.value, data.code)
        if key not in newest or newest[key].version < data.version:
            newest[key] = data
    if not newest:
        return set()
    written = bulk.versioned_upsert(
        session,
        TERRITORIES,
        _TERRITORY_KEYS,
        [_territory_row(tenant, d) for (tenant, _, _), d in sorted(newest.items())],
        returning=("tenant_id",),
    )
    return {row[0] for row in written}


def _territory_row(tenant: str, data: TerritoryUpserted) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "level": data.level.value,
        "code": data.code,
        "version": data.version,
        "name": data.name,
        "name_folded": fold(data.name),
        "region_code": data.region_code,
        "departement_codes": list(data.departement_codes),
        "departement_code": (
            data.departement_codes[0]
            if data.departement_codes
            else (data.code if data.level is TerritoryLevel.DEPARTEMENT else None)
        ),
        "epci_code": data.epci_code,
        "parent_commune_code": data.parent_commune_code,
        "postal_codes": list(data.postal_codes),
        "population": data.population,
        "lat": data.centre.lat if data.centre else None,
        "lon": data.centre.lon if data.centre else None,
    }
