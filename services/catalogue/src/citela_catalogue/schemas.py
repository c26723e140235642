"""What the catalogue API returns."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from citela_catalogue.models import Entry, TerritoryRow
from citela_common.events.models import (
    Address,
    Contact,
    DateRange,
    GeoPoint,
    OpeningSlot,
    Provenance,
)
from citela_common.web.pagination import Page


class EntryOut(BaseModel):
    entry_id: str = Field(description="<source>:<remote id>, stable across harvests")
    kind: str = Field(description="service, dataset, event or place")
    title: str
    description: str
    source_type: str | None
    policy_area: str | None = Field(description="domaine d'action publique")
    commune_codes: list[str]
    epci_codes: list[str]
    departement_codes: list[str]
    address: Address | None
    point: GeoPoint | None
    contacts: list[Contact]
    opening_hours: list[OpeningSlot] = Field(description="weekly schedule, 0 = lundi")
    dates: list[DateRange] = Field(description="events: the periods, merged and sorted")
    url: str | None
    provenance: Provenance
    updated_at: datetime
    distance_km: float | None = Field(None, description="with `near`: distance to the point")
    next_date: date | None = Field(None, description="events listing: next date in the window")

    @classmethod
    def of(cls, e: Entry, distance: float | None = None, next_date: date | None = None) -> EntryOut:
        return cls.model_validate(cls.data_of(e, distance, next_date))

    @staticmethod
    def data_of(
        e: Entry, distance: float | None = None, next_date: date | None = None
    ) -> dict[str, Any]:
        """The fields of an entry as plain data: a page of them is validated in one call."""
        point = {"lat": e.lat, "lon": e.lon} if e.lat is not None and e.lon is not None else None
        return {
            "entry_id": e.entry_id,
            "kind": e.kind,
            "title": e.title,
            "description": e.description,
            "source_type": e.source_type,
            "policy_area": e.policy_area,
            "commune_codes": e.commune_codes,
            "epci_codes": e.epci_codes,
            "departement_codes": e.departement_codes,
            "address": e.address or None,
            "point": point,
            "contacts": e.contacts,
            "opening_hours": e.opening_hours,
            "dates": e.dates,
            "url": e.url,
            "provenance": e.provenance,
            "updated_at": e.updated_at,
            "distance_km": round(distance, 3) if distance is not None else None,
            "next_date": next_date,
        }


ENTRY_PAGE = TypeAdapter(Page[EntryOut])
# The last fields of an entry's JSON written by PostgreSQL (EntryOut's order), outside a
# proximity search or the events listing.
ITEM_TAIL = ',"distance_km":null,"next_date":null}'


def page_json(items: list[dict[str, Any]], next_cursor: str | None) -> bytes:
    """A page of entries given as ``EntryOut.data_of``: validated and serialised in one call
    each, in pydantic's core (a model per entry and per nested item cost half the request)."""
    page = {"items": items, "next_cursor": next_cursor}
    return ENTRY_PAGE.dump_json(ENTRY_PAGE.validate_python(page))


def raw_page_json(items: list[str], next_cursor: str | None) -> bytes:
    """A page of entries already serialised (``Page[EntryOut]``'s form)."""
    cursor = json.dumps(next_cursor, ensure_ascii=False)
    return f'{{"items":[{",".join(items)}],"next_cursor":{cursor}}}'.encode()


class TerritoryRef(BaseModel):
    code: str
    level: str
    name: str

    @classmethod
    def of(cls, row: TerritoryRow) -> TerritoryRef:
        return cls(code=row.code, level=row.level, name=row.name)


class TerritoryOut(TerritoryRef):
    postal_codes: list[str]
    population: int | None
    centre: GeoPoint | None
    parents: list[TerritoryRef] = Field(description="région, département, EPCI, commune")
    children: list[TerritoryRef] = Field(description="communes of an EPCI or département…")

    @classmethod
    def full(
        cls, row: TerritoryRow, parents: list[TerritoryRow], children: list[TerritoryRow]
    ) -> TerritoryOut:
        centre = (
            GeoPoint(lat=row.lat, lon=row.lon)
            if row.lat is not None and row.lon is not None
            else None
        )
        return cls(
            code=row.code,
            level=row.level,
            name=row.name,
            postal_codes=row.postal_codes,
            population=row.population,
            centre=centre,
            parents=[TerritoryRef.of(p) for p in parents],
            children=[TerritoryRef.of(c) for c in children],
        )


class CommuneMatch(TerritoryRef):
    postal_codes: list[str]
    departement_code: str | None
    epci_code: str | None


class TerritoryHit(CommuneMatch):
    """A commune found across every tenant's catalogue: the tenant says whose."""

    tenant: str = Field(description="code of the tenant whose catalogue holds the commune")
    region_code: str | None


def dump(model: BaseModel | list[Any] | dict[str, Any]) -> Any:
    if isinstance(model, BaseModel):
        return model.model_dump(mode="json")
    return model
