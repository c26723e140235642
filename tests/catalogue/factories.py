"""Realistic catalogue events of the Pau agglomeration, for the catalogue's own tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from citela_common.events import CloudEvent, make_event
from citela_common.events.models import (
    Address,
    CatalogueEntryRemoved,
    CatalogueEntryUpserted,
    Contact,
    DateRange,
    EntryKind,
    GeoPoint,
    OpeningSlot,
    Provenance,
    TerritoryLevel,
    TerritoryUpserted,
)

TENANT = "agglo-pau"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def territory(
    code: str, level: TerritoryLevel, name: str, version: int = 1, **extra: Any
) -> TerritoryUpserted:
    return TerritoryUpserted(
        code=code,
        level=level,
        name=name,
        version=version,
        provenance=Provenance(source="territories", remote_id=code, licence="lov2"),
        **extra,
    )


GEOGRAPHY = [
    territory("75", TerritoryLevel.REGION, "Nouvelle-Aquitaine"),
    territory("64", TerritoryLevel.DEPARTEMENT, "Pyrénées-Atlantiques", region_code="75"),
    territory(
        "200067254",
        TerritoryLevel.EPCI,
        "CA Pau Béarn Pyrénées",
        region_code="75",
        departement_codes=["64"],
    ),
    territory(
        "64445",
        TerritoryLevel.COMMUNE,
        "Pau",
        region_code="75",
        departement_codes=["64"],
        epci_code="200067254",
        postal_codes=["64000"],
        population=75665,
        centre=GeoPoint(lat=43.3, lon=-0.3667),
    ),
    territory(
        "64348",
        TerritoryLevel.COMMUNE,
        "Lons",
        region_code="75",
        departement_codes=["64"],
        epci_code="200067254",
        postal_codes=["64140"],
        population=12813,
        centre=GeoPoint(lat=43.3156, lon=-0.4097),
    ),
    territory(
        "64024",
        TerritoryLevel.COMMUNE,
        "Arudy",
        region_code="75",
        departement_codes=["64"],
        epci_code="246401756",
        postal_codes=["64260"],
        population=2400,
    ),
]


def entry(
    remote_id: str,
    title: str,
    commune: str,
    *,
    version: int = 1,
    kind: EntryKind = EntryKind.SERVICE,
    policy_area: str = "Culture",
    description: str = "",
    point: tuple[float, float] | None = None,
    dates: list[tuple[date, date]] | None = None,
    source_type: str = "mairie",
) -> CatalogueEntryUpserted:
    return CatalogueEntryUpserted(
        entry_id=f"service-public:{remote_id}",
        version=version,
        kind=kind,
        title=title,
        description=description,
        source_type=source_type,
        policy_area=policy_area,
        commune_codes=[commune],
        epci_codes=["200067254"],
        departement_codes=["64"],
        address=Address(
            lines=["Place Marguerite Laborde"],
            postal_code="64000",
            city="Pau",
            commune_code=commune,
        ),
        point=GeoPoint(lat=point[0], lon=point[1]) if point else None,
        contacts=[Contact(kind="phone", value="+33 5 59 27 85 80")],
        opening_hours=[OpeningSlot(weekday=0, opens="08:30", closes="17:30")],
        dates=[DateRange(start=s, end=e) for s, e in dates or []],
        url="https://www.pau.fr",
        provenance=Provenance(source="service-public", remote_id=remote_id, licence="lov2"),
        updated_at=NOW,
    )


def removed(remote_id: str, version: int) -> CatalogueEntryRemoved:
    return CatalogueEntryRemoved(
        entry_id=f"service-public:{remote_id}", version=version, removed_at=NOW
    )


def event(data: Any, tenant: str = TENANT) -> CloudEvent:
    return make_event(data, tenant=tenant, source="/citela/ingest")
