"""Projects catalogue events into the catalogue store.

Idempotent and order-safe: each row keeps the version it came from, and an event whose version
is not newer than the stored one changes nothing (a redelivered or late event cannot undo a
newer state).

Events are applied in batches (one per polled batch of the consumer). Per tenant and batch:
one SELECT of the stored versions of the entries concerned, the outcome of the events worked
out in order in memory, then bulk statements: one upsert of the entries (its search vector
computed in the same statement on PostgreSQL), one delete and one insert of their communes
(and of their FTS rows on SQLite), one update of the removed ones, one upsert of the
territories. Every upsert also carries the version guard (``WHERE stored.version <
excluded.version``), so a concurrent writer cannot make an older version win either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
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

ENTRIES = cast(Table, Entry.__table__)
COMMUNES = cast(Table, EntryCommune.__table__)
TERRITORIES = cast(Table, TerritoryRow.__table__)

EntryEvent = CatalogueEntryUpserted | CatalogueEntryRemoved
CatalogueData = EntryEvent | TerritoryUpserted


def apply_event(session: Session, event: CloudEvent) -> bool:
    """Apply one catalogue event; True when the store changed."""
    return bool(apply_batch(session, [event]))


def apply_batch(session: Session, events: Sequence[CloudEvent]) -> list[str]:
    """Apply catalogue events in order; the tenants whose store changed.

    Raises (and the caller rolls back) if an event is malformed: the consumer then applies
    the events one by one, so that only the bad one goes to the dead-letter topic.
    """
    by_tenant: dict[str, list[CatalogueData]] = {}
    for event in events:
        data = parse_data(event)
        # other areas' events on a shared topic are not ours
        if isinstance(data, CatalogueEntryUpserted | CatalogueEntryRemoved | TerritoryUpserted):
            by_tenant.setdefault(event.tenant, []).append(data)
    changed = []
    for tenant, items in sorted(by_tenant.items()):
        scope_to_tenant(session, tenant)
        entries = apply_entries(
            session, tenant, [d for d in items if not isinstance(d, TerritoryUpserted)]
        )
        territories = upsert_territories(
            session, tenant, [d for d in items if isinstance(d, TerritoryUpserted)]
        )
        if entries or territories:
            changed.append(tenant)
    return changed


# --- entries ----------------------------------------------------------------------------------


@dataclass
class _Pending:
    """What a batch writes for one entry: the last upsert that won, if any, and its version."""

    version: int
    removed_at: datetime | None
    upsert: CatalogueEntryUpserted | None = None


def upsert_entry(session: Session, tenant: str, data: CatalogueEntryUpserted) -> bool:
    return apply_entries(session, tenant, [data]) > 0


def remove_entry(session: Session, tenant: str, data: CatalogueEntryRemoved) -> bool:
    return apply_entries(session, tenant, [data]) > 0


def apply_entries(session: Session, tenant: str, items: Sequence[EntryEvent]) -> int:
    """Apply entry upserts and removals of one tenant, in order; how many entries changed."""
    if not items:
        return 0
    t = ENTRIES
    wanted = sorted({d.entry_id for d in items})
    versions: dict[str, int] = {
        row[0]: row[1]
        for row in session.execute(
            select(t.c.entry_id, t.c.version).where(
                t.c.tenant_id == tenant, t.c.entry_id.in_(wanted)
            )
        )
    }
    pending: dict[str, _Pending] = {}
    for data in items:
        current = versions.get(data.entry_id)
        if isinstance(data, CatalogueEntryUpserted):
            if current is not None and current >= data.version:
                continue
            pending[data.entry_id] = _Pending(data.version, None, data)
        else:
            if current is None or current >= data.version:
                continue  # a removal of an entry never seen changes nothing
            known = pending.setdefault(data.entry_id, _Pending(data.version, data.removed_at))
            known.version, known.removed_at = data.version, data.removed_at
        versions[data.entry_id] = data.version
    _write_upserts(session, tenant, [p for p in pending.values() if p.upsert is not None])
    removals = [
        {"e": entry_id, "v": p.version, "r": p.removed_at}
        for entry_id, p in pending.items()
        if p.upsert is None
    ]
    if removals:
        session.execute(
            update(t)
            .where(
                t.c.tenant_id == tenant,
                t.c.entry_id == bindparam("e"),
                t.c.version < bindparam("v"),
            )
            .values(version=bindparam("v"), removed_at=bindparam("r", type_=t.c.removed_at.type)),
            removals,
        )
    return len(pending)


def _entry_row(tenant: str, p: _Pending) -> dict[str, Any]:
    data = p.upsert
    assert data is not None
    dates = sorted(data.dates, key=lambda d: (d.start, d.end))
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
        "address": data.address.model_dump(mode="json") if data.address else None,
        "lat": data.point.lat if data.point else None,
        "lon": data.point.lon if data.point else None,
        "contacts": [c.model_dump(mode="json") for c in data.contacts],
        "opening_hours": [s.model_dump(mode="json") for s in data.opening_hours],
        "dates": [d.model_dump(mode="json") for d in dates],
        "first_date": dates[0].start if dates else None,
        "last_date": max(d.end for d in dates) if dates else None,
        "url": data.url,
        "provenance": data.provenance.model_dump(mode="json"),
        "updated_at": data.updated_at,
        "removed_at": p.removed_at,
    }


def _search_body(data: CatalogueEntryUpserted) -> str:
    city = data.address.city if data.address else None
    parts = (data.title, data.source_type, data.policy_area, city, data.description)
    return " ".join(p for p in parts if p)


def _tsvector() -> ColumnElement[Any]:
    """The weighted search vector of bound ``sv_title`` and ``sv_body`` (title weighs more)."""
    config: ColumnElement[Any] = literal_column(f"CAST('{TS_CONFIG}' AS regconfig)")
    title = func.setweight(func.to_tsvector(config, bindparam("sv_title")), literal_column("'A'"))
    return title.op("||")(func.to_tsvector(config, bindparam("sv_body")))


def _write_upserts(session: Session, tenant: str, pending: list[_Pending]) -> None:
    if not pending:
        return
    t = ENTRIES
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = [_entry_row(tenant, p) for p in pending]
    stmt = postgresql.insert(t) if postgres else sqlite.insert(t)
    columns = [c for c in rows[0] if c not in ("tenant_id", "entry_id")]
    set_ = {c: stmt.excluded[c] for c in columns}
    if postgres:
        stmt = stmt.values(search_vector=_tsvector())
        set_["search_vector"] = stmt.excluded.search_vector
        for row, p in zip(rows, pending, strict=True):
            assert p.upsert is not None
            row["sv_title"], row["sv_body"] = p.upsert.title, _search_body(p.upsert)
    ids: dict[str, int] = {
        row[1]: row[0]
        for row in session.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.tenant_id, t.c.entry_id],
                set_=set_,
                where=t.c.version < stmt.excluded.version,  # never an older version
            ).returning(t.c.id, t.c.entry_id),
            rows,
        )
    }
    if not ids:
        return
    written = [p.upsert for p in pending if p.upsert is not None and p.upsert.entry_id in ids]
    pks = sorted(ids.values())
    session.execute(delete(COMMUNES).where(COMMUNES.c.entry_pk.in_(pks)))
    communes = [
        {"tenant_id": tenant, "entry_pk": ids[d.entry_id], "commune_code": code}
        for d in written
        for code in sorted(set(d.commune_codes))
    ]
    if communes:
        session.execute(insert(COMMUNES), communes)
    if not postgres:
        _index_sqlite(session, [(ids[d.entry_id], d) for d in written])


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
    return upsert_territories(session, tenant, [data]) > 0


def upsert_territories(session: Session, tenant: str, items: Sequence[TerritoryUpserted]) -> int:
    """Upsert territories of one tenant (the newest version of each wins); how many changed."""
    newest: dict[tuple[str, str], TerritoryUpserted] = {}
    for data in items:
        key = (data.level.value, data.code)
        if key not in newest or newest[key].version < data.version:
            newest[key] = data
    if not newest:
        return 0
    t = TERRITORIES
    stmt = (
        postgresql.insert(t)
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert(t)
    )
    rows = [_territory_row(tenant, d) for d in newest.values()]
    keys = ("tenant_id", "level", "code")
    result = session.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c[c] for c in keys],
            set_={c: stmt.excluded[c] for c in rows[0] if c not in keys},
            where=t.c.version < stmt.excluded.version,
        ).returning(t.c.code),
        rows,
    )
    return len(result.all())


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
