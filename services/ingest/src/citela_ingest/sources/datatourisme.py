"""DATAtourisme "flux" exports: tourist places (POI) and events.

A flux is a folder or a ZIP with ``index.json`` = ``[{"label", "lastUpdateDatatourisme",
"file"}]`` and ``objects/<h>/<hh>/<NN>-<uuid>.json``, one compacted JSON-LD object per file
(``@vocab`` = the DATAtourisme core ontology, so bare names like ``isLocatedAt`` are core
properties). The layout is checked before anything is read: a flux without ``index.json``,
whose listed objects are neither under ``objects/`` nor beside the index, or holding another
ZIP is refused as a whole, the run failing with the layout expected and what was found. ZIPs
are read within the run's limits (``limits.SafeZip``). An object file that cannot be read
(missing, truncated, not UTF-8) is a ``BrokenRecord``; the others still map.

Mapping (one object → one ``CatalogueEntryUpserted``):

* ``entry_id`` ``datatourisme:<uuid>``, the uuid of ``@id``
  (``https://data.datatourisme.fr/30/<uuid>``); the host may also be written
  ``data.datatourisme.gouv.fr`` or with ``http``: all give the same id;
* kind ``event`` when ``@type`` has ``schema:Event`` or ``EntertainmentAndEvent``, else ``place``;
* title from ``rdfs:label``, description from ``hasDescription[].dc:description`` else
  ``rdfs:comment``; both are language maps of arrays (``{"fr": ["…"], "en": [...]}``): French is
  preferred, then English, then any language; HTML is turned into plain text;
* source type: the most specific known ontology class (``policy_areas.datatourisme_class``:
  ``Restaurant``, ``Exhibition``, ``CulturalSite``…), its policy area from the context's table;
* ``isLocatedAt[]``: address (``schema:streetAddress[]``, ``schema:postalCode``,
  ``schema:addressLocality``, commune from ``hasAddressCity.insee``, département from its
  ``isPartOfDepartment.insee``), point from ``schema:geo`` (strings; absent for tours and
  online events; outside France or not numbers: invalid);
* territory: kept when one of its communes is in the territory, else skipped;
* ``hasContact[]``: e-mails, phones (normalised), fax, homepages; the first homepage is the url;
* opening hours: ``schema:openingHoursSpecification`` are seasonal (``validFrom`` /
  ``validThrough``). The weekly slots are those valid on the harvest day (``downloaded_at``,
  Paris date); when none is, those of the next season to come; when all are past, none. Each
  slot's note gives its validity and the French ``additionalInformation``. A closing time before
  the opening time runs past midnight and is split over two days;
* dates (events): ``takesPlaceAt[]`` periods (else the flat ``schema:startDate`` /
  ``schema:endDate`` arrays) are de-duplicated, sorted, and consecutive or overlapping days with
  the same times merged into ranges (the sample exhibition's 537 unsorted one-day periods become
  one range, 2023-11-09 → 2025-04-28);
* ``lastUpdateDatatourisme`` (platform time stamp) → ``remote_updated_at`` and ``updated_at``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from citela_common.events.models import (
    Address,
    Contact,
    DateRange,
    EntryKind,
    GeoPoint,
    OpeningSlot,
)
from citela_ingest.hours import HoursError, parse_time, sort_slots
from citela_ingest.limits import ArchiveRefused, ReadLimits, SafeZip, read_file
from citela_ingest.policy_areas import datatourisme_class
from citela_ingest.records import (
    BrokenRecord,
    HarvestContext,
    InvalidRecord,
    Output,
    RawRecord,
    SkipRecord,
    Source,
)
from citela_ingest.sources.common import (
    ContactKind,
    JsonFileError,
    as_list,
    clean_text,
    contact,
    is_commune_code,
    is_departement_code,
    load_json_bytes,
    parse_iso_datetime,
    parse_point,
    territory_parents,
    unique,
)
from citela_ingest.text import plain_text

__all__ = ["DatatourismeSource", "language_value", "merge_periods", "uuid_from_id"]

PARIS = ZoneInfo("Europe/Paris")
_ID = re.compile(
    r"^https?://data\.datatourisme\.(?:gouv\.)?fr/(?:\d+/)?"
    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/?$"
)
_FILE_UUID = re.compile(
    r"(?:^|/)(?:\d+-)?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"\.json$"
)
_DAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_EVENT_TYPES = frozenset({"schema:Event", "EntertainmentAndEvent"})


def uuid_from_id(value: object) -> str | None:
    """The lower-case uuid of a DATAtourisme ``@id``, whatever its host spelling; else None."""
    if not isinstance(value, str):
        return None
    match = _ID.match(value.strip())
    return match.group(1).lower() if match else None


def language_value(value: object, prefer: tuple[str, ...] = ("fr", "en")) -> str | None:
    """The text of a language map (``{"fr": ["…"]}``), French first; plain strings pass."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        for entry in value:
            text = language_value(entry, prefer)
            if text:
                return text
        return None
    if not isinstance(value, Mapping):
        return None
    languages = [*prefer, *sorted(k for k in value if k not in prefer)]
    for language in languages:
        for text in as_list(value.get(language), field=f"@{language}"):
            if isinstance(text, str) and text.strip():
                return text.strip()
    return None


# --- the flux container (folder or ZIP) -------------------------------------------------------

LAYOUT = "disposition attendue : index.json + objects/…"


class _Flux:
    """A flux folder or ZIP archive, read within the run's limits (``limits.SafeZip``)."""

    def __init__(self, path: Path, limits: ReadLimits) -> None:
        self.path = path
        self.zip: SafeZip | None = None
        self.root = PurePosixPath("")
        self.limits = limits
        if path.is_file():
            self.zip = SafeZip(path, limits)
            names = [n for n in self.zip.names() if PurePosixPath(n).name == "index.json"]
            if names:
                self.root = PurePosixPath(min(names, key=len)).parent

    @property
    def kind(self) -> str:
        return "archive" if self.zip is not None else "dossier"

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()

    def _zip_name(self, relative: str) -> str:
        return str(self.root / relative) if str(self.root) != "." else relative

    def exists(self, relative: str) -> bool:
        if self.zip is None:
            return (self.path / relative).is_file()
        return self.zip.has(self._zip_name(relative))

    def read(self, relative: str) -> bytes:
        if self.zip is None:
            return read_file(self.path / relative, self.limits)
        return self.zip.read(self._zip_name(relative))

    def json_folders(self) -> list[str]:
        """Where the flux holds JSON files (for a layout's explanation), a few at most."""
        if self.zip is None:
            found = (str(p.parent.relative_to(self.path)) for p in self.path.rglob("*.json"))
        else:
            found = (str(PurePosixPath(n).parent) for n in self.zip.names() if n.endswith(".json"))
        folders: list[str] = []
        for folder in found:  # "" is the flux's root
            top = "" if folder == "." else folder.split("/")[0] + "/"
            if top not in folders:
                folders.append(top)
            if len(folders) >= 3:
                break
        return folders

    def missing_index(self) -> str:
        folders = self.json_folders()
        seen = (
            f" ; fichiers JSON trouvés sous : {', '.join(f or '(racine)' for f in folders)}"
            if folders
            else " ; aucun fichier JSON trouvé"
        )
        return (
            f"aucun enregistrement lu : {self.kind} DATAtourisme sans index.json ({LAYOUT}){seen}"
        )

    def objects_elsewhere(self, first: str) -> str:
        folders = [f for f in self.json_folders() if f not in ("objects/", "")]
        seen = f" ; fichiers JSON trouvés sous : {', '.join(folders)}" if folders else ""
        return (
            f"aucun enregistrement lu : les objets listés par index.json sont introuvables "
            f"sous objects/ (premier attendu : objects/{first}){seen} ({LAYOUT})"
        )


@dataclass(frozen=True)
class _IndexEntry:
    file: str
    updated: datetime | None


class DatatourismeSource(Source):
    """Places and events of a DATAtourisme flux (folder or ZIP)."""

    name: ClassVar[str] = "datatourisme"
    licence: ClassVar[str] = "Licence Ouverte v2.0 (Etalab) — DATAtourisme"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @classmethod
    def from_path(cls, path: Path | str) -> DatatourismeSource:
        return cls(path)

    # --- listing ---------------------------------------------------------------------------

    def list_records(self) -> Iterator[RawRecord | BrokenRecord]:
        """The objects ``index.json`` lists, under ``objects/`` (or beside it). A flux without
        ``index.json``, whose objects are elsewhere, in an archive inside the archive, or past
        a size limit is refused as a whole, with the layout expected."""
        try:
            flux = _Flux(self.path, self.limits)
        except ArchiveRefused as exc:
            yield BrokenRecord(reason=exc.reason, incomplete=True, explanation=exc.reason)
            return
        except (OSError, zipfile.BadZipFile) as exc:
            yield BrokenRecord(
                reason=f"{self.path.name} cannot be opened as a flux: {exc}",
                incomplete=True,
                explanation=f"aucun enregistrement lu : {self.path.name} n'est ni un dossier ni "
                f"une archive ZIP lisible ({exc}) ({LAYOUT})",
            )
            return
        try:
            if not flux.exists("index.json"):
                explanation = flux.missing_index()
                yield BrokenRecord(
                    reason="no index.json in the flux", incomplete=True, explanation=explanation
                )
                return
            try:
                entries = list(_index(load_json_bytes(flux.read("index.json"), name="index.json")))
            except JsonFileError as exc:
                yield BrokenRecord(reason=exc.reason, incomplete=True)
                return
            except InvalidRecord as exc:
                yield BrokenRecord(reason=f"index.json: {exc.reason}", incomplete=True)
                return
            objects_dir = "objects/"
            if entries:
                sample = [e.file for e in entries[:20]]
                if not any(flux.exists(f"objects/{f}") for f in sample):
                    if not any(flux.exists(f) for f in sample):
                        yield BrokenRecord(
                            reason="the objects index.json lists are not under objects/",
                            incomplete=True,
                            explanation=flux.objects_elsewhere(sample[0]),
                        )
                        return
                    objects_dir = ""  # the objects beside index.json: read as they are
            for entry in entries:
                yield _object_record(flux, objects_dir + entry.file, entry)
        except ArchiveRefused as exc:
            yield BrokenRecord(reason=exc.reason, incomplete=True, explanation=exc.reason)
        except zipfile.BadZipFile as exc:
            yield BrokenRecord(
                reason=f"{self.path.name} is damaged: {exc}",
                incomplete=True,
                explanation=f"archive endommagée, lue en partie seulement : {exc} ; rien n'est "
                "archivé",
            )
        finally:
            flux.close()

    # --- mapping ---------------------------------------------------------------------------

    def map_record(self, record: RawRecord, ctx: HarvestContext) -> Iterable[Output]:
        item = record.payload
        if not isinstance(item, dict):
            raise InvalidRecord("object is not a JSON object")
        types = [t for t in as_list(item.get("@type"), field="@type") if isinstance(t, str)]
        kind = EntryKind.EVENT if _EVENT_TYPES & set(types) else EntryKind.PLACE
        title = language_value(item.get("rdfs:label"))
        if title is None:
            raise InvalidRecord("object has no label (rdfs:label)")
        description = ""
        for described in as_list(item.get("hasDescription"), field="hasDescription"):
            if isinstance(described, Mapping):
                description = plain_text(language_value(described.get("dc:description")))
                if description:
                    break
        if not description:
            description = plain_text(language_value(item.get("rdfs:comment")))

        places = [
            p
            for p in as_list(item.get("isLocatedAt"), field="isLocatedAt")
            if isinstance(p, Mapping)
        ]
        address, commune_codes, departements = _address(places)
        territory = ctx.territory
        if territory is not None:
            if not commune_codes:
                raise SkipRecord(
                    f"no commune (hasAddressCity.insee): cannot place it in territory "
                    f"{territory.code}"
                )
            if not any(territory.covers(c) for c in commune_codes):
                raise SkipRecord(
                    f"located in commune {', '.join(commune_codes)}, outside territory "
                    f"{territory.code}",
                    outside_territory=True,
                )
        epci_codes, departement_codes = territory_parents(commune_codes, territory)
        departement_codes = unique([*departement_codes, *departements])

        contacts, homepage = _contacts(item)
        updated = parse_iso_datetime(item.get("lastUpdateDatatourisme")) or record.remote_updated_at
        source_type = datatourisme_class(types)
        today = ctx.downloaded_at.astimezone(PARIS).date()
        try:
            opening_hours = _opening_hours(places, today)
            dates = _dates(item) if kind is EntryKind.EVENT else []
        except HoursError as exc:
            raise InvalidRecord(f"malformed opening hours: {exc}") from None
        return [
            self.entry(
                record,
                ctx,
                source_type=source_type,
                updated=updated,
                kind=kind,
                title=title,
                description=description,
                commune_codes=commune_codes,
                epci_codes=epci_codes,
                departement_codes=departement_codes,
                address=address,
                point=_point(places),
                contacts=contacts,
                opening_hours=opening_hours,
                dates=dates,
                url=homepage,
            )
        ]


# --- listing helpers -------------------------------------------------------------------------


def _index(document: Any) -> Iterator[_IndexEntry]:
    if not isinstance(document, list):
        raise InvalidRecord("index.json is not a list of entries")
    for position, entry in enumerate(document):
        file = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(file, str) or not file.strip():
            raise InvalidRecord(f"entry #{position + 1} has no file")
        updated = parse_iso_datetime(entry.get("lastUpdateDatatourisme"))
        yield _IndexEntry(file=file.strip().lstrip("/"), updated=updated)


def _object_record(flux: _Flux, relative: str, entry: _IndexEntry) -> RawRecord | BrokenRecord:
    name_match = _FILE_UUID.search(relative)
    file_uuid = name_match.group(1).lower() if name_match else None
    if not flux.exists(relative):
        return BrokenRecord(
            reason=f"{relative} is listed in index.json but missing", remote_id=file_uuid
        )
    data = flux.read(relative)
    try:
        item = load_json_bytes(data, name=relative)
    except JsonFileError as exc:
        return BrokenRecord(
            reason=exc.reason,
            raw=data[:2000].decode("utf-8", errors="replace"),
            remote_id=file_uuid,
        )
    raw = data.decode("utf-8-sig")
    if not isinstance(item, dict):
        return BrokenRecord(reason=f"{relative} is not a JSON object", raw=raw[:2000])
    remote_id = uuid_from_id(item.get("@id"))
    if remote_id is None:
        if item.get("@id") is not None or file_uuid is None:
            return BrokenRecord(
                reason=f"{relative}: @id {item.get('@id')!r} is not a DATAtourisme resource URI",
                raw=raw[:2000],
                remote_id=file_uuid,
            )
        remote_id = file_uuid  # no @id: the file name carries the same uuid
    updated = parse_iso_datetime(item.get("lastUpdateDatatourisme")) or entry.updated
    return RawRecord(remote_id=remote_id, payload=item, raw=raw, remote_updated_at=updated)


# --- mapping helpers -------------------------------------------------------------------------


def _first(value: Any) -> Any:
    values = as_list(value)
    return values[0] if values else None


def _address(places: list[Mapping[str, Any]]) -> tuple[Address | None, list[str], list[str]]:
    address: Address | None = None
    communes: list[str] = []
    departements: list[str] = []
    for place in places:
        for postal in as_list(place.get("schema:address"), field="schema:address"):
            if not isinstance(postal, Mapping):
                continue
            city = _first(postal.get("hasAddressCity"))
            insee = clean_text(city.get("insee")) if isinstance(city, Mapping) else None
            if insee is not None:
                if not is_commune_code(insee):
                    raise InvalidRecord(f"hasAddressCity.insee {insee!r} is not an INSEE code")
                if insee not in communes:
                    communes.append(insee)
                department = (
                    _first(city.get("isPartOfDepartment")) if isinstance(city, Mapping) else None
                )
                dep_code = (
                    clean_text(department.get("insee")) if isinstance(department, Mapping) else None
                )
                if dep_code and is_departement_code(dep_code) and dep_code not in departements:
                    departements.append(dep_code)
            if address is None:
                lines = [
                    line
                    for value in as_list(postal.get("schema:streetAddress"))
                    if (line := clean_text(value))
                ]
                postal_code = clean_text(_first(postal.get("schema:postalCode")))
                address = Address(
                    lines=lines,
                    postal_code=postal_code
                    if postal_code and re.fullmatch(r"\d{5}", postal_code)
                    else None,
                    city=clean_text(_first(postal.get("schema:addressLocality"))),
                    commune_code=insee,
                )
    return address, communes, departements


def _point(places: list[Mapping[str, Any]]) -> GeoPoint | None:
    for place in places:
        geo = _first(place.get("schema:geo"))
        if isinstance(geo, Mapping):
            point = parse_point(
                _first(geo.get("schema:latitude")),
                _first(geo.get("schema:longitude")),
                where="schema:geo",
            )
            if point is not None:
                return point
    return None


def _contacts(item: Mapping[str, Any]) -> tuple[list[Contact], str | None]:
    found: list[Contact] = []
    homepage: str | None = None
    for agent in as_list(item.get("hasContact"), field="hasContact"):
        if not isinstance(agent, Mapping):
            continue
        keys: tuple[tuple[str, ContactKind], ...] = (
            ("schema:telephone", "phone"),
            ("schema:email", "email"),
            ("schema:faxNumber", "fax"),
            ("foaf:homepage", "website"),
        )
        for key, kind in keys:
            for value in as_list(agent.get(key), field=key):
                entry = contact(kind, value)
                if entry is None:
                    continue
                if kind == "website" and homepage is None:
                    homepage = entry.value
                if all((c.kind, c.value) != (entry.kind, entry.value) for c in found):
                    found.append(entry)
    return found, homepage


def _date(value: Any, what: str) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"{what} is not a date: {value!r}")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise InvalidRecord(f"{what} is not a date: {value!r}") from None


def _weekday(value: Any) -> int | None:
    ident = value.get("@id") if isinstance(value, Mapping) else value
    if not isinstance(ident, str):
        return None
    name = ident.rsplit(":", 1)[-1].rsplit("/", 1)[-1].lower()
    return _DAYS.get(name)  # PublicHolidays and the like have no weekday


@dataclass(frozen=True)
class _Spec:
    valid_from: date | None
    valid_through: date | None
    weekdays: tuple[int, ...]
    opens: str
    closes: str
    note: str | None


def _opening_hours(places: list[Mapping[str, Any]], today: date) -> list[OpeningSlot]:
    specs: list[_Spec] = []
    for place in places:
        key = "schema:openingHoursSpecification"
        for spec in as_list(place.get(key), field=key):
            if not isinstance(spec, Mapping):
                continue
            opens = parse_time(_first(spec.get("schema:opens")))
            closes = parse_time(_first(spec.get("schema:closes")), closing=True)
            weekdays = tuple(
                d
                for d in (_weekday(v) for v in as_list(spec.get("schema:dayOfWeek")))
                if d is not None
            )
            if opens is None or closes is None or not weekdays:
                continue  # a season without hours, or days we cannot name: nothing to show
            valid_from = _date(spec.get("schema:validFrom"), "schema:validFrom")
            valid_through = _date(spec.get("schema:validThrough"), "schema:validThrough")
            if valid_from and valid_through and valid_through < valid_from:
                raise HoursError(f"season ends ({valid_through}) before it starts ({valid_from})")
            parts = []
            if valid_from or valid_through:
                start = valid_from.strftime("%d/%m/%Y") if valid_from else "…"
                end = valid_through.strftime("%d/%m/%Y") if valid_through else "…"
                parts.append(f"Du {start} au {end}.")
            info = plain_text(language_value(spec.get("additionalInformation")))
            if info:
                parts.append(info)
            specs.append(
                _Spec(valid_from, valid_through, weekdays, opens, closes, " ".join(parts) or None)
            )
    current = [
        s
        for s in specs
        if (s.valid_from is None or s.valid_from <= today)
        and (s.valid_through is None or today <= s.valid_through)
    ]
    if not current:
        upcoming = [s for s in specs if s.valid_from is not None and s.valid_from > today]
        if upcoming:
            season = min(s.valid_from for s in upcoming if s.valid_from is not None)
            current = [s for s in upcoming if s.valid_from == season]
    slots: list[OpeningSlot] = []
    for spec in current:
        for day in spec.weekdays:
            if spec.closes > spec.opens:
                slots.append(
                    OpeningSlot(weekday=day, opens=spec.opens, closes=spec.closes, note=spec.note)
                )
            else:  # runs past midnight
                slots.append(
                    OpeningSlot(weekday=day, opens=spec.opens, closes="24:00", note=spec.note)
                )
                if spec.closes != "00:00":
                    slots.append(
                        OpeningSlot(
                            weekday=(day + 1) % 7, opens="00:00", closes=spec.closes, note=spec.note
                        )
                    )
    return sort_slots(slots)


def merge_periods(
    periods: Iterable[tuple[date, date, str | None, str | None]],
) -> list[DateRange]:
    """Periods (start, end, start time, end time) → sorted ranges, duplicates removed, and
    consecutive or overlapping days with the same times merged."""
    by_times: dict[tuple[str | None, str | None], list[tuple[date, date]]] = {}
    for start, end, start_time, end_time in set(periods):
        by_times.setdefault((start_time, end_time), []).append((start, end))
    ranges: list[DateRange] = []
    for (start_time, end_time), spans in by_times.items():
        spans.sort()
        current_start, current_end = spans[0]
        for start, end in spans[1:]:
            if start <= current_end + timedelta(days=1):
                current_end = max(current_end, end)
                continue
            ranges.append(
                DateRange(
                    start=current_start, end=current_end, start_time=start_time, end_time=end_time
                )
            )
            current_start, current_end = start, end
        ranges.append(
            DateRange(
                start=current_start, end=current_end, start_time=start_time, end_time=end_time
            )
        )
    return sorted(ranges, key=lambda r: (r.start, r.end, r.start_time or "", r.end_time or ""))


def _dates(item: Mapping[str, Any]) -> list[DateRange]:
    periods: list[tuple[date, date, str | None, str | None]] = []
    for period in as_list(item.get("takesPlaceAt"), field="takesPlaceAt"):
        if not isinstance(period, Mapping):
            continue
        start = _date(_first(period.get("startDate")), "takesPlaceAt startDate")
        end = _date(_first(period.get("endDate")), "takesPlaceAt endDate") or start
        if start is None:
            if end is None:
                continue
            start = end
        assert end is not None
        if end < start:
            raise InvalidRecord(f"period ends ({end}) before it starts ({start})")
        start_time = parse_time(_first(period.get("startTime")))
        end_time = parse_time(_first(period.get("endTime")), closing=True)
        periods.append((start, end, start_time, end_time))
    if not periods:
        starts = sorted(
            d
            for d in (_date(v, "schema:startDate") for v in as_list(item.get("schema:startDate")))
            if d
        )
        ends = sorted(
            d
            for d in (_date(v, "schema:endDate") for v in as_list(item.get("schema:endDate")))
            if d
        )
        if (
            starts
            and len(starts) == len(ends)
            and all(s <= e for s, e in zip(starts, ends, strict=True))
        ):
            periods = [(s, e, None, None) for s, e in zip(starts, ends, strict=True)]
        elif starts:
            last = max([*starts, *ends])
            periods = [(starts[0], last, None, None)]
    return merge_periods(periods)
