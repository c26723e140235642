"""Analytics' projection of the catalogue, and the one write of a sentiment score.

Catalogue: what the matrix needs of an entry (title, policy area, territory), versioned like
the catalogue's projection (an older version never wins). Scores: one row per feedback
revision, backend and model version, written by the scorer in the transaction that stages its
``comment.scored`` event (analytics does not consume its own topic).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citela_analytics.models import CatalogueEntry, CommentScore
from citela_common import bulk
from citela_common.db import utcnow
from citela_common.events import entry_batches
from citela_common.events.envelope import CloudEvent
from citela_common.events.models import (
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    CommentScored,
    parse_data,
)

ENTRIES = cast(Table, CatalogueEntry.__table__)


def apply_catalogue_batch(session: Session, events: Sequence[CloudEvent]) -> list[str]:
    """Apply catalogue events, in order, versioned (an older version never wins); the tenants
    whose projection changed. All tenants at once: one SELECT of the stored versions, then
    ``bulk.versioned_upsert`` (one upsert, one update of the removed entries)."""
    items: list[tuple[str, CatalogueEntryUpserted | CatalogueEntryRemoved]] = []
    for event in events:
        data = parse_data(event)
        if isinstance(data, CatalogueEntryUpserted | CatalogueEntryRemoved):
            items.append((event.tenant, data))
    if not items:
        return []
    now = utcnow()

    def row(tenant: str, change: entry_batches.EntryChange) -> dict[str, Any]:
        return {**entry_batches.mirror_row(tenant, change), "updated_at": now}

    pending, _ = bulk.upsert_entries(session, ENTRIES, items, row, removed={"updated_at": now})
    return sorted({tenant for tenant, _ in pending})


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
