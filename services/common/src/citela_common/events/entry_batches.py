"""How a batch of catalogue entry events folds into one change per entry, for every projection
of the catalogue topic: versions only move forward, the last upsert that wins carries the
entry's content, and a removal of an entry never seen changes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from citela_common.events.models import CatalogueEntryRemoved, CatalogueEntryUpserted

EntryKey = tuple[str, str]  # (tenant, entry id)
EntryEvent = CatalogueEntryUpserted | CatalogueEntryRemoved


@dataclass
class EntryChange:
    """What a batch writes for one entry: the last upsert that won, if any, and its version."""

    version: int
    removed_at: datetime | None
    upsert: CatalogueEntryUpserted | None = None


def fold(
    items: Iterable[tuple[str, EntryEvent]], versions: dict[EntryKey, int]
) -> dict[EntryKey, EntryChange]:
    """The net change per entry of ``items`` (in order) over the stored ``versions``, which
    it advances as the events win."""
    pending: dict[EntryKey, EntryChange] = {}
    for tenant, data in items:
        key = (tenant, data.entry_id)
        current = versions.get(key)
        if isinstance(data, CatalogueEntryUpserted):
            if current is not None and current >= data.version:
                continue
            pending[key] = EntryChange(data.version, None, data)
        else:
            if current is None or current >= data.version:
                continue  # a removal of an entry never seen changes nothing
            known = pending.setdefault(key, EntryChange(data.version, data.removed_at))
            known.version, known.removed_at = data.version, data.removed_at
        versions[key] = data.version
    return pending


def mirror_row(tenant: str, change: EntryChange) -> dict[str, Any]:
    """What another service's mirror of the catalogue keeps of an upserted entry (the columns
    of analytics' and feedback's ``catalogue_entries``)."""
    data = change.upsert
    assert data is not None
    return {
        "tenant_id": tenant,
        "entry_id": data.entry_id,
        "version": change.version,
        "kind": data.kind.value,
        "title": data.title[:500],
        "policy_area": data.policy_area,
        "commune_codes": list(data.commune_codes),
        "epci_codes": list(data.epci_codes),
        "departement_codes": list(data.departement_codes),
        "removed_at": change.removed_at,
    }
