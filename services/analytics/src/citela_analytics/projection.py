"""Analytics' own projections of other services' events: catalogue entries and sentiment scores.

Catalogue: what the matrix needs of an entry (title, policy area, territory), versioned like
the catalogue's projection (an older version never wins). Scores: ``comment.scored`` events,
one row per feedback revision, backend and model version; a score of a retracted feedback is
dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citela_analytics.models import CatalogueEntry, CommentScore, FeedbackFact
from citela_common import bulk
from citela_common.db import utcnow
from citela_common.events import entry_batches
from citela_common.events.entry_batches import EntryKey
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    CommentScored,
    parse_data,
)
from citela_common.tenancy import scope_to_tenant

ENTRIES = cast(Table, CatalogueEntry.__table__)


_UPSERT = bulk.OnConflict(
    ("tenant_id", "entry_id"),
    overwrite=(
        "version",
        "kind",
        "title",
        "policy_area",
        "commune_codes",
        "epci_codes",
        "departement_codes",
        "removed_at",
        "updated_at",
    ),
    newer="version",  # never an older version, even against a concurrent writer
)


def apply_catalogue_batch(session: Session, events: Sequence[CloudEvent]) -> list[str]:
    """Apply catalogue events, in order, with the versioning of ``apply_catalogue_event``;
    the tenants whose projection changed. All tenants at once: one SELECT of the stored
    versions, one upsert, one update of the removed entries."""
    items: list[tuple[str, CatalogueEntryUpserted | CatalogueEntryRemoved]] = []
    for event in events:
        data = parse_data(event)
        if isinstance(data, CatalogueEntryUpserted | CatalogueEntryRemoved):
            items.append((event.tenant, data))
    if not items:
        return []
    t = ENTRIES
    versions: dict[EntryKey, int] = {
        (row[0], row[1]): row[2]
        for row in bulk.rows_by_keys(
            session,
            t,
            ("tenant_id", "entry_id"),
            sorted({(tenant, d.entry_id) for tenant, d in items}),
            ("tenant_id", "entry_id", "version"),
        )
    }
    pending = entry_batches.fold(items, versions)
    now = utcnow()
    bulk.write(
        session,
        t,
        [
            {
                "tenant_id": tenant,
                "entry_id": entry_id,
                "version": p.version,
                "kind": p.upsert.kind.value,
                "title": p.upsert.title[:500],
                "policy_area": p.upsert.policy_area,
                "commune_codes": list(p.upsert.commune_codes),
                "epci_codes": list(p.upsert.epci_codes),
                "departement_codes": list(p.upsert.departement_codes),
                "removed_at": p.removed_at,
                "updated_at": now,
            }
            for (tenant, entry_id), p in sorted(pending.items(), key=lambda kv: kv[0])
            if p.upsert is not None
        ],
        on_conflict=_UPSERT,
    )
    removals = [
        {"t": tenant, "e": entry_id, "v": p.version, "r": p.removed_at}
        for (tenant, entry_id), p in sorted(pending.items(), key=lambda kv: kv[0])
        if p.upsert is None
    ]
    if removals:
        session.execute(
            update(t)
            .where(
                t.c.tenant_id == bindparam("t"),
                t.c.entry_id == bindparam("e"),
                t.c.version < bindparam("v"),
            )
            .values(
                version=bindparam("v"),
                removed_at=bindparam("r", type_=t.c.removed_at.type),
                updated_at=now,
            ),
            removals,
        )
    return sorted({tenant for tenant, _ in pending})


def apply_catalogue_event(session: Session, event: CloudEvent) -> bool:
    """Apply one catalogue event; True when the projection changed."""
    scope_to_tenant(session, event.tenant)
    data = parse_data(event)
    if isinstance(data, CatalogueEntryUpserted):
        return upsert_entry(session, event.tenant, data)
    if isinstance(data, CatalogueEntryRemoved):
        return remove_entry(session, event.tenant, data)
    return False  # territories: the catalogue's business


def upsert_entry(session: Session, tenant: str, data: CatalogueEntryUpserted) -> bool:
    entry = session.get(CatalogueEntry, (tenant, data.entry_id))
    if entry is not None and entry.version >= data.version:
        return False
    if entry is None:
        entry = CatalogueEntry(tenant_id=tenant, entry_id=data.entry_id)
        session.add(entry)
    entry.version = data.version
    entry.kind = data.kind.value
    entry.title = data.title[:500]
    entry.policy_area = data.policy_area
    entry.commune_codes = list(data.commune_codes)
    entry.epci_codes = list(data.epci_codes)
    entry.departement_codes = list(data.departement_codes)
    entry.removed_at = None
    entry.updated_at = utcnow()
    return True


def remove_entry(session: Session, tenant: str, data: CatalogueEntryRemoved) -> bool:
    entry = session.get(CatalogueEntry, (tenant, data.entry_id))
    if entry is None or entry.version >= data.version:
        return False
    entry.version = data.version
    entry.removed_at = data.removed_at
    entry.updated_at = utcnow()
    return True


def insert_score(session: Session, tenant: str, data: CommentScored) -> bool:
    """Store one score unless that revision, backend and version already has one."""
    table = cast(Table, CommentScore.__table__)
    insert = (
        postgresql.insert(table)
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert(table)
    )
    result = session.execute(
        insert.values(
            tenant_id=tenant,
            feedback_id=data.feedback_id,
            revision=data.revision,
            backend=data.backend,
            model_version=data.model_version,
            label=data.label.value,
            score=data.score,
            confidence=data.confidence,
            scored_at=data.scored_at,
        )
        .on_conflict_do_nothing()
        .returning(table.c.feedback_id)
    )
    return result.first() is not None  # rowcount is not reliable here across drivers


def apply_score_event(session: Session, event: CloudEvent) -> bool:
    """Apply one analytics event; True when a new score was stored."""
    scope_to_tenant(session, event.tenant)
    data = parse_data(event)
    if not isinstance(data, CommentScored):
        return False
    retracted = session.scalar(
        select(FeedbackFact.retracted_at).where(
            FeedbackFact.tenant_id == event.tenant, FeedbackFact.feedback_id == data.feedback_id
        )
    )
    if retracted is not None:
        return False
    return insert_score(session, event.tenant, data)
