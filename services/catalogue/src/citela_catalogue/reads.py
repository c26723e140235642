"""The catalogue's public reads: each function answers one GET with its JSON body
(``queries.entries_page`` and ``queries.events_page`` answer ``GET /entries`` and ``/events``).

Plain functions of an open session (scoped to the tenant by the caller, except
``communes_everywhere``); the HTTP layer caches the bodies and translates the errors.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_catalogue import queries
from citela_catalogue.models import Entry, TerritoryRow
from citela_catalogue.schemas import CommuneMatch, EntryOut, TerritoryHit, TerritoryOut


class UnknownEntry(LookupError):
    """No live entry has this id in the tenant's catalogue."""


def to_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def entry(session: Session, entry_id: str) -> bytes:
    found = session.scalar(
        select(Entry).where(Entry.entry_id == entry_id, Entry.removed_at.is_(None))
    )
    if found is None:
        raise UnknownEntry(entry_id)
    return to_json(EntryOut.of(found).model_dump(mode="json"))


def communes(session: Session, q: str, limit: int) -> bytes:
    return to_json(
        [
            CommuneMatch(**_commune(r)).model_dump(mode="json")
            for r in queries.search_territories(session, q, limit)
        ]
    )


def territory(session: Session, code: str) -> bytes:
    """Raises ``queries.UnknownTerritory`` when the tenant's catalogue has no such code."""
    rows = queries.territory_rows(session, code)
    if not rows:
        raise queries.UnknownTerritory(code)
    row = rows[0]
    out = TerritoryOut.full(
        row, queries.parents_of(session, row), queries.children_of(session, row)
    )
    return to_json(out.model_dump(mode="json"))


def policy_areas(session: Session, territory: str | None) -> bytes:
    return to_json(queries.policy_area_counts(session, territory))


def communes_everywhere(session: Session, q: str, limit: int) -> bytes:
    """Communes of every tenant's catalogue (``session`` is not scoped: public rows)."""
    return to_json(
        [
            TerritoryHit(tenant=r.tenant_id, region_code=r.region_code, **_commune(r)).model_dump(
                mode="json"
            )
            for r in queries.search_territories(session, q, limit)
        ]
    )


def _commune(row: TerritoryRow) -> dict[str, Any]:
    """``CommuneMatch``'s fields of a territory row."""
    return {
        "code": row.code,
        "level": row.level,
        "name": row.name,
        "postal_codes": row.postal_codes,
        "departement_code": row.departement_code,
        "epci_code": row.epci_code,
    }
