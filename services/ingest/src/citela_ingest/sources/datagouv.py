"""data.gouv.fr (udata API v1): the public datasets of a territory.

Listing: ``GET {base}/datasets/?geozone=…`` and/or ``?organization=<id>``, page after page by
following ``next_page`` until it is null (``{"data": [...], "next_page": …, "total": …}``). A
dataset found by several queries is listed once. A file holds one API page, a JSON array of
datasets, or a single dataset (``GET /datasets/{id}/``).

Geozones: current ids are ``fr:commune:64445``, ``fr:epci:200067254``, ``fr:departement:64``,
``fr:region:75``, ``country:fr``; data before 2023 carries an ``@date`` suffix
(``fr:commune:36044@1943-01-01``), which is stripped everywhere.

Mapping (one dataset → one ``CatalogueEntryUpserted`` of kind ``dataset``):

* ``id`` → ``entry_id`` ``datagouv:<id>``; ``title`` → title (none: invalid);
* ``description`` (Markdown, sometimes HTML) → plain text (``text.plain_text``), else
  ``description_short``;
* ``archived``, ``deleted`` (a date when set) and ``private`` → skipped;
* source type and policy area: best effort from ``tags`` then the title
  (``policy_areas.datagouv_keyword``); no keyword → neither;
* territory: the communes, EPCIs and départements of ``spatial.zones``. With a territory, a
  dataset whose zones name communes, EPCIs or départements must name one of the territory's,
  else it is skipped; a dataset with no zone or only broader zones (région, country) is kept,
  since it was listed by a query the tenant chose (its geozone or organisation);
* ``page`` → url; ``contact_points[]`` e-mails / forms and the organisation's (or owner's) page
  → contacts;
* ``license`` id → ``provenance.licence``, with its title for the common ids (``lov2`` →
  "Licence Ouverte / Open Licence version 2.0");
* ``last_update`` (last change of data or resources; not ``last_modified``, which is metadata)
  → ``remote_updated_at`` and ``updated_at``; udata writes naive times, taken as UTC.

Resources (files, APIs) are not copied: the contract has no field for them, and listing their
formats or URLs in the description would make it worse. The dataset page (url) lists them, and
``provenance.remote_id`` gives the id to fetch them through the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from citela_common.events.models import Contact, EntryKind
from citela_ingest.limits import ArchiveRefused
from citela_ingest.policy_areas import datagouv_keyword
from citela_ingest.records import (
    BrokenRecord,
    Fetcher,
    HarvestContext,
    InvalidRecord,
    Output,
    RawRecord,
    SkipRecord,
    Territory,
)
from citela_ingest.sources.common import (
    FileOrApiSource,
    JsonFileError,
    clean_text,
    contact,
    fetch_page,
    is_commune_code,
    is_departement_code,
    is_siren,
    load_json_file,
    once_each,
    parse_iso_datetime,
    raw_text,
    unique,
)
from citela_ingest.text import plain_text

__all__ = [
    "DEFAULT_DATAGOUV_API",
    "LICENCE_TITLES",
    "DatagouvSource",
    "geozone_code",
    "geozones_for",
]

DEFAULT_DATAGOUV_API = "https://www.data.gouv.fr/api/1"

# Titles as data.gouv.fr publishes them (GET /api/1/datasets/licenses/).
LICENCE_TITLES: Mapping[str, str] = {
    "cc-by": "Creative Commons Attribution",
    "cc-by-sa": "Creative Commons Attribution Share-Alike",
    "cc-zero": "Creative Commons CCZero",
    "fr-lo": "Licence Ouverte / Open Licence",
    "lov2": "Licence Ouverte / Open Licence version 2.0",
    "notspecified": "License Not Specified",
    "odc-by": "Open Data Commons Attribution License",
    "odc-odbl": "Open Data Commons Open Database License (ODbL)",
    "odc-pddl": "Open Data Commons Public Domain Dedication and Licence (PDDL)",
    "other-at": "Other (Attribution)",
    "other-open": "Other (Open)",
    "other-pd": "Other (Public Domain)",
}


def geozone_code(zone: str) -> tuple[str, str] | None:
    """``"fr:commune:36044@1943-01-01"`` → ``("commune", "36044")``; ``"country:fr"`` →
    ``("country", "fr")``; None for an id that is not a geozone."""
    zone = zone.split("@", 1)[0].strip()
    parts = zone.split(":")
    if len(parts) == 3 and parts[0] == "fr" and parts[2]:
        return parts[1], parts[2]
    if len(parts) == 2 and parts[1]:
        return parts[0], parts[1]
    return None


def geozones_for(
    territory: Territory, *, communes: bool = True, epcis: bool = True, departements: bool = False
) -> list[str]:
    """The geozone ids to query for a territory (communes and EPCIs by default)."""
    zones: list[str] = []
    if communes:
        zones += [f"fr:commune:{c}" for c in sorted(territory.commune_codes)]
    if epcis:
        zones += [f"fr:epci:{e}" for e in sorted(territory.epci_codes)]
    if departements:
        zones += [f"fr:departement:{d}" for d in sorted(territory.departement_codes)]
    return zones


class DatagouvSource(FileOrApiSource):
    """Datasets of data.gouv.fr, from the API (by geozone / organisation) or from a file."""

    name: ClassVar[str] = "datagouv"
    licence: ClassVar[str] = "Licence Ouverte v2.0 (Etalab) — catalogue data.gouv.fr"

    def __init__(
        self,
        *,
        path: Path | None = None,
        fetcher: Fetcher | None = None,
        base_url: str = DEFAULT_DATAGOUV_API,
        queries: Sequence[Mapping[str, str | int]] = (),
        page_size: int = 100,
        max_pages: int = 1000,
    ) -> None:
        super().__init__(path=path, fetcher=fetcher)
        self.datasets_url = f"{base_url.rstrip('/')}/datasets/"
        self.queries = list(queries)
        self.page_size = page_size
        self.max_pages = max_pages

    @classmethod
    def from_api(
        cls,
        fetcher: Fetcher,
        *,
        base_url: str = DEFAULT_DATAGOUV_API,
        geozones: Iterable[str] = (),
        organizations: Iterable[str] = (),
        page_size: int = 100,
        sort: str = "-last_update",
    ) -> DatagouvSource:
        """One query per geozone id (``fr:commune:64445``…) and per organisation id."""
        queries: list[dict[str, str | int]] = []
        for zone in geozones:
            queries.append({"geozone": zone.split("@", 1)[0], "sort": sort})
        for organization in organizations:
            queries.append({"organization": organization, "sort": sort})
        if not queries:
            raise ValueError("give at least one geozone or organisation")
        return cls(fetcher=fetcher, base_url=base_url, queries=queries, page_size=page_size)

    # --- listing ---------------------------------------------------------------------------

    def list_records(self) -> Iterator[RawRecord | BrokenRecord]:
        return once_each(self._list_file() if self.path is not None else self._list_api())

    def _list_file(self) -> Iterator[RawRecord | BrokenRecord]:
        assert self.path is not None
        try:
            document = load_json_file(self.path, self.limits)
        except JsonFileError as exc:
            yield BrokenRecord(reason=exc.reason, incomplete=True)
            return
        except ArchiveRefused as exc:
            yield BrokenRecord(reason=exc.reason, incomplete=True, explanation=exc.reason)
            return
        if isinstance(document, dict) and isinstance(document.get("data"), list):
            items: list[Any] = document["data"]
        elif isinstance(document, list):
            items = document
        elif isinstance(document, dict):
            items = [document]
        else:
            yield BrokenRecord(
                reason=f"{self.path.name} is not a dataset or a page of datasets", incomplete=True
            )
            return
        for position, item in enumerate(items):
            yield _record(item, where=f"{self.path.name} item #{position + 1}")

    def _list_api(self) -> Iterator[RawRecord | BrokenRecord]:
        assert self.fetcher is not None
        for query in self.queries:
            url: str | None = self.datasets_url
            params: dict[str, str | int] | None = {**query, "page_size": self.page_size}
            visited: set[str] = set()
            for page_number in range(1, self.max_pages + 1):
                if url is None:
                    break
                page = fetch_page(
                    self.fetcher,
                    url,
                    params,
                    items="data",
                    where=f"page {page_number} of {dict(query)}",
                )
                if page is None:  # 304 Not Modified
                    self.not_modified += 1
                    break
                if isinstance(page, BrokenRecord):
                    yield page
                    break
                for position, item in enumerate(page.items):
                    yield _record(item, where=f"page {page_number} item #{position + 1}")
                next_page = page.document.get("next_page")
                if not isinstance(next_page, str) or not next_page or not page.items:
                    break
                if next_page in visited:
                    yield BrokenRecord(reason=f"next_page loops back to {next_page}")
                    break
                visited.add(next_page)
                url, params = next_page, None  # next_page carries every parameter
            else:
                yield BrokenRecord(
                    reason=f"stopped after {self.max_pages} pages of {dict(query)}: "
                    "the listing may be incomplete",
                    incomplete=True,
                )

    # --- mapping ---------------------------------------------------------------------------

    def map_record(self, record: RawRecord, ctx: HarvestContext) -> Iterable[Output]:
        item = record.payload
        if not isinstance(item, dict):
            raise InvalidRecord("dataset is not a JSON object")
        for flag in ("deleted", "archived"):
            if item.get(flag):
                raise SkipRecord(f"dataset is {flag} ({item.get(flag)})")
        if item.get("private") is True:
            raise SkipRecord("dataset is private")
        title = clean_text(item.get("title"))
        if title is None:
            raise InvalidRecord("dataset has no title")

        zones = _zones(item)
        communes = unique(code for level, code in zones if level == "commune")
        epcis = unique(code for level, code in zones if level == "epci")
        departements = unique(code for level, code in zones if level == "departement")
        territory = ctx.territory
        if territory is not None and (communes or epcis or departements):
            inside = (
                any(territory.covers(c) for c in communes)
                or any(e in territory.epci_codes for e in epcis)
                or any(d in territory.departement_codes for d in departements)
            )
            if not inside:
                shown = ", ".join(f"{lv}:{c}" for lv, c in zones[:5])
                raise SkipRecord(
                    f"dataset zones ({shown}) are outside territory {territory.code}",
                    outside_territory=True,
                )
        if territory is not None:
            for code in communes:
                epci, departement = territory.commune_parents.get(code, (None, None))
                if epci and epci not in epcis:
                    epcis.append(epci)
                if departement and departement not in departements:
                    departements.append(departement)

        tags = [t for t in item.get("tags") or [] if isinstance(t, str)]
        source_type = datagouv_keyword(tags, title)
        updated = _datetime(item, "last_update") or _datetime(item, "last_modified")
        description = plain_text(item.get("description")) or plain_text(
            item.get("description_short")
        )
        return [
            self.entry(
                record,
                ctx,
                source_type=source_type,
                updated=updated,
                kind=EntryKind.DATASET,
                title=title,
                description=description,
                commune_codes=communes,
                epci_codes=epcis,
                departement_codes=departements,
                contacts=_contacts(item),
                url=clean_text(item.get("page")),
            )
        ]

    def licence_of(self, record: RawRecord) -> str | None:
        """The dataset's own licence (``license`` id, by its title when known), or none."""
        item = record.payload
        licence_id = clean_text(item.get("license")) if isinstance(item, dict) else None
        return LICENCE_TITLES.get(licence_id, licence_id) if licence_id else None


def _record(item: Any, *, where: str) -> RawRecord | BrokenRecord:
    raw = raw_text(item)
    if not isinstance(item, dict):
        return BrokenRecord(reason=f"{where} is not a JSON object", raw=raw[:2000])
    remote_id = clean_text(item.get("id"))
    if remote_id is None:
        return BrokenRecord(reason=f"{where}: dataset without id", raw=raw)
    return RawRecord(
        remote_id=remote_id,
        payload=item,
        raw=raw,
        remote_updated_at=parse_iso_datetime(item.get("last_update")),
    )


def _datetime(item: Mapping[str, Any], key: str) -> datetime | None:
    value = item.get(key)
    if value in (None, ""):
        return None
    parsed = parse_iso_datetime(value)
    if parsed is None:
        raise InvalidRecord(f"{key} is not an ISO date-time: {value!r}")
    return parsed


def _zones(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    spatial = item.get("spatial")
    zones = spatial.get("zones") if isinstance(spatial, dict) else None
    found: list[tuple[str, str]] = []
    for zone in zones or []:
        parsed = geozone_code(zone) if isinstance(zone, str) else None
        if parsed is None:
            continue
        level, code = parsed
        valid = {
            "commune": is_commune_code,
            "epci": is_siren,
            "departement": is_departement_code,
        }.get(level)
        if valid is not None and not valid(code):
            raise InvalidRecord(f"geozone {zone!r} has a malformed {level} code")
        if parsed not in found:
            found.append(parsed)
    return found


def _contacts(item: Mapping[str, Any]) -> list[Contact]:
    found: list[Contact] = []
    for point in item.get("contact_points") or []:
        if not isinstance(point, dict):
            continue
        name = point.get("name")
        for entry in (
            contact("email", point.get("email"), name),
            contact("form", point.get("contact_form"), name),
        ):
            if entry is not None:
                found.append(entry)
    owner = item.get("organization") or item.get("owner")
    if isinstance(owner, dict):
        label = owner.get("name") or " ".join(
            n for n in (owner.get("first_name"), owner.get("last_name")) if isinstance(n, str)
        )
        entry = contact("website", owner.get("page"), label)
        if entry is not None:
            found.append(entry)
    unique_found: list[Contact] = []
    for entry in found:
        if all((c.kind, c.value) != (entry.kind, entry.value) for c in unique_found):
            unique_found.append(entry)
    return unique_found
