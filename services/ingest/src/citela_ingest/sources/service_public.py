"""Service-Public.fr "Annuaire de l'administration – Base de données locales" (DILA).

Two channels, one record format (47 fields, same names), two encodings:

* the Opendatasoft Explore v2.1 API (``…/catalog/datasets/api-lannuaire-administration/records``)
  where ``adresse``, ``pivot``, ``telephone``, ``site_internet``, ``plage_ouverture``,
  ``telecopie``, ``reseau_social``… are JSON-encoded strings and empty fields are null;
  pages of ``limit`` ≤ 100 records at ``offset``, with ``offset + limit`` ≤ 10 000;
* the national bulk export (``*.gouv_local.json`` = ``{"service": [...]}``, ~63 000 records,
  100–300 MB) where those fields are real arrays and empty values are ``[]`` or ``""``.

Both are accepted everywhere: every list field goes through ``as_list`` (JSON text, array or a
plain string). Files are streamed with ijson (``service.item``, ``results.item``, a top-level
array, or one record per line for ``.jsonl``), so memory stays bounded whatever the file size.

Mapping (one record → one ``CatalogueEntryUpserted`` of kind ``service``):

* ``id`` → ``entry_id`` ``service-public:<id>``; ``nom`` → title (no name: invalid);
* office type: the first ``pivot[].type_service_local``, else the prefix of
  ``ancien_code_pivot`` (``mairie-77188-01``); it must be in
  ``policy_areas.SERVICE_PUBLIC_TYPES``: an unknown type (``"marie"``) is an invalid record,
  so new types show up in the harvest report; the policy area comes from the context's table;
* ``statut_de_diffusion`` is the string ``"true"`` for published records; ``"false"`` (or
  ``false``) means not published: skipped. (Absent or null, as when an API ``select`` leaves it
  out, counts as published: both channels only serve publishable records.)
* territory: kept when ``code_insee_commune`` (where the office is) is in the territory, or when
  one of the communes it serves (``pivot[].code_insee_commune``) is; ``commune_codes`` lists the
  office's commune then the served communes of the territory; otherwise skipped;
* address: the ``Adresse`` (street address) when there is one, else ``Adresse postale``; lines
  are ``complement1``, ``complement2``, ``numero_voie``, ``service_distribution``; a postal code
  that is not 5 digits (typo ``"170000"`` seen) is left out rather than guessed;
* point: ``latitude`` / ``longitude`` strings of that address (else of the other one) → floats,
  ``""`` = no point; text that is not a number, or a point outside France and its overseas
  territories, makes the record invalid;
* contacts: phones (normalised to ``+33 …``, overseas ``+262 …``…), fax, e-mails, websites,
  contact form, social networks; duplicates dropped;
* opening hours: ``plage_ouverture`` → weekly ``OpeningSlot`` list (``hours.py``); malformed
  hours make the record invalid; ``commentaire_plage_ouverture`` and comments of ranges without
  times go to the description ("Horaires : …");
* description: ``mission`` and ``information_complementaire`` as plain text, then those notes;
* ``date_modification`` (``dd/mm/yyyy HH:MM:SS``, Paris local time) → aware UTC
  ``remote_updated_at`` and ``updated_at``; a malformed date is invalid;
* ``url_service_public`` → url.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar
from zoneinfo import ZoneInfo

import ijson

from citela_common.events.models import (
    EntryKind,
    GeoPoint,
)
from citela_ingest.hours import HoursError, parse_plages_ouverture
from citela_ingest.limits import ArchiveRefused, check_file_size
from citela_ingest.policy_areas import SERVICE_PUBLIC_TYPES
from citela_ingest.records import (
    BrokenRecord,
    Fetcher,
    HarvestContext,
    InvalidRecord,
    Output,
    RawRecord,
    SkipRecord,
)
from citela_ingest.sources.common import (
    ContactKind,
    FileOrApiSource,
    as_list,
    clean_text,
    fetch_page,
    is_commune_code,
    normalise_phone,
    once_each,
    parse_point,
    raw_text,
    territory_parents,
    unique,
)
from citela_ingest.text import plain_text

__all__ = [
    "API_PAGE_LIMIT",
    "API_WINDOW",
    "DATASET_ID",
    "DEFAULT_API_BASE",
    "ServicePublicSource",
    "commune_where",
    "parse_local_datetime",
]

# The API moved to the .gouv.fr domain on 1 Oct 2025; the old host is configurable too.
DEFAULT_API_BASE = "https://api-lannuaire.service-public.gouv.fr/api/explore/v2.1"
LEGACY_API_BASE = "https://api-lannuaire.service-public.fr/api/explore/v2.1"
DATASET_ID = "api-lannuaire-administration"
API_PAGE_LIMIT = 100  # above it the API answers 400
API_WINDOW = 10_000  # offset + limit may not exceed it
PARIS = ZoneInfo("Europe/Paris")

_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})(?:\s+(\d{2}):(\d{2})(?::(\d{2}))?)?$")
_POSTAL_CODE = re.compile(r"^\d{5}$")
_EMAILS = re.compile(r"\s*;\s*")  # several addresses in one field
_NOT_PUBLISHED = frozenset({"false", "0", "non", "no"})


def parse_local_datetime(value: object) -> datetime | None:
    """``"31/01/2024 14:25:10"`` (Paris local time) → aware UTC datetime; ""/None → None.

    InvalidRecord when the text is not such a date.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"date is not text: {value!r}")
    match = _DATE.match(value.strip())
    if not match:
        raise InvalidRecord(f"date {value!r} is not dd/mm/yyyy HH:MM:SS")
    day, month, year, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=PARIS)
    except ValueError as exc:
        raise InvalidRecord(f"date {value!r} does not exist: {exc}") from None
    return local.astimezone(UTC)


def commune_where(codes: Sequence[str]) -> str:
    """ODSQL filter for offices located in these communes."""
    for code in codes:
        if not is_commune_code(code):
            raise ValueError(f"not an INSEE commune code: {code!r}")
    return " or ".join(f'code_insee_commune="{code}"' for code in codes)


class ServicePublicSource(FileOrApiSource):
    """Local public offices from the Annuaire de l'administration: API pages, or a file (an
    export ``{"service": [...]}``, an API page, a JSON array or a ``.jsonl`` file)."""

    name: ClassVar[str] = "service-public"
    licence: ClassVar[str] = "Licence Ouverte v2.0 (Etalab) — Service-Public.gouv.fr / DILA"
    parallel_mapping: ClassVar[bool] = True

    def __init__(
        self,
        *,
        path: Path | None = None,
        fetcher: Fetcher | None = None,
        base_url: str = DEFAULT_API_BASE,
        dataset: str = DATASET_ID,
        wheres: Sequence[str | None] = (None,),
        page_size: int = API_PAGE_LIMIT,
        order_by: str | None = "id",
    ) -> None:
        super().__init__(path=path, fetcher=fetcher)
        if not 1 <= page_size <= API_PAGE_LIMIT:
            raise ValueError(f"page_size must be 1…{API_PAGE_LIMIT}, not {page_size}")
        self.records_url = f"{base_url.rstrip('/')}/catalog/datasets/{dataset}/records"
        self.wheres = list(wheres) or [None]
        self.page_size = page_size
        self.order_by = order_by

    @classmethod
    def from_api(
        cls,
        fetcher: Fetcher,
        *,
        base_url: str = DEFAULT_API_BASE,
        dataset: str = DATASET_ID,
        commune_codes: Iterable[str] = (),
        where: str | None = None,
        codes_per_query: int = 40,
        page_size: int = API_PAGE_LIMIT,
    ) -> ServicePublicSource:
        """Pages of the API, for offices located in ``commune_codes`` (several queries of
        ``codes_per_query`` communes, so that each stays well under the 10 000-record window)
        and/or matching an ODSQL ``where``."""
        codes = sorted(set(commune_codes))
        wheres: list[str | None] = []
        for start in range(0, len(codes), codes_per_query):
            clause = commune_where(codes[start : start + codes_per_query])
            wheres.append(f"({clause}) and ({where})" if where else clause)
        if not wheres:
            wheres.append(where)
        return cls(
            fetcher=fetcher, base_url=base_url, dataset=dataset, wheres=wheres, page_size=page_size
        )

    # --- listing ---------------------------------------------------------------------------

    def list_records(self) -> Iterator[RawRecord | BrokenRecord]:
        if self.path is not None:
            return self._list_file(self.path)
        return once_each(record for where in self.wheres for record in self._list_api(where))

    def _list_api(self, where: str | None) -> Iterator[RawRecord | BrokenRecord]:
        assert self.fetcher is not None
        offset = 0
        total = 0
        while True:
            limit = min(self.page_size, API_WINDOW - offset)
            if limit <= 0:
                yield BrokenRecord(
                    reason=f"the API lists {total} records for where={where!r} but only the "
                    f"first {API_WINDOW} can be paged: narrow the filter or use the export",
                    incomplete=True,
                )
                return
            params: dict[str, str | int] = {"limit": limit, "offset": offset}
            if where:
                params["where"] = where
            if self.order_by:
                params["order_by"] = self.order_by
            page = fetch_page(
                self.fetcher,
                self.records_url,
                params,
                items="results",
                where=f"API page at offset {offset}",
            )
            if page is None:  # 304 Not Modified
                self.not_modified += 1
                return
            if isinstance(page, BrokenRecord):
                yield page
                return
            results = page.items
            count = page.document.get("total_count")
            total = count if isinstance(count, int) else offset + len(results)
            for item in results:
                yield _record(item, where=f"API page at offset {offset}")
            offset += len(results)
            if not results or offset >= total:
                return

    def _list_file(self, path: Path) -> Iterator[RawRecord | BrokenRecord]:
        try:
            check_file_size(path, self.limits)  # streamed: memory is bounded anyway
        except ArchiveRefused as exc:
            yield BrokenRecord(reason=exc.reason, incomplete=True, explanation=exc.reason)
            return
        try:
            handle = path.open("rb")
        except OSError as exc:
            yield BrokenRecord(
                reason=f"{path.name} cannot be read: {exc.strerror or exc}", incomplete=True
            )
            return
        with handle:
            if path.suffix.lower() in (".jsonl", ".ndjson"):
                yield from _list_lines(handle, path.name)
                return
            start = 3 if handle.read(3) == b"\xef\xbb\xbf" else 0  # a UTF-8 byte order mark
            handle.seek(start)
            prefix = _items_prefix(handle)
            handle.seek(start)
            if prefix is None:
                yield BrokenRecord(
                    reason=f"{path.name} is neither an export ({{'service': [...]}}), an API "
                    "page ({'results': [...]}) nor a JSON array of records",
                    raw=handle.read(2000).decode("utf-8", errors="replace"),
                    incomplete=True,
                )
                return
            yield from _stream(handle, prefix, path.name)

    # --- mapping ---------------------------------------------------------------------------

    def for_mapping(self) -> ServicePublicSource:
        """Without the HTTP client: mapping reads only the record."""
        clone = copy.copy(self)
        clone.fetcher = None
        return clone

    def map_record(self, record: RawRecord, ctx: HarvestContext) -> Iterable[Output]:
        item = record.payload
        if not isinstance(item, dict):
            raise InvalidRecord("record is not a JSON object")
        published = item.get("statut_de_diffusion")
        if published is False or (
            isinstance(published, str) and published.strip().lower() in _NOT_PUBLISHED
        ):
            raise SkipRecord(f"not published (statut_de_diffusion is {published!r})")
        title = clean_text(item.get("nom"))
        if title is None:
            raise InvalidRecord("record has no name (nom)")
        pivots = _pivots(item)
        source_type = _office_type(item, pivots)

        location = clean_text(item.get("code_insee_commune"))
        if location is not None and not is_commune_code(location):
            raise InvalidRecord(f"code_insee_commune {location!r} is not an INSEE commune code")
        served = _served_communes(pivots)
        territory = ctx.territory
        if territory is not None:
            inside = [c for c in served if territory.covers(c) and c != location]
            if not territory.covers(location) and not inside:
                where = f"commune {location}" if location else "no commune code"
                raise SkipRecord(
                    f"office outside territory {territory.code} ({where}; serves "
                    f"{len(served)} commune(s), none in the territory)",
                    outside_territory=True,
                )
            commune_codes = unique([*([location] if location else []), *inside])
        else:
            commune_codes = [location] if location else []
        epci_codes, departement_codes = territory_parents(commune_codes, territory)

        address, point = _address(item, location)
        try:
            hours = parse_plages_ouverture(
                as_list(item.get("plage_ouverture"), field="plage_ouverture")
            )
        except HoursError as exc:
            raise InvalidRecord(f"malformed opening hours: {exc}") from None
        updated = record.remote_updated_at or parse_local_datetime(item.get("date_modification"))

        notes = [clean_text(item.get("commentaire_plage_ouverture")), *hours.notes]
        description_parts = [
            plain_text(item.get("mission")),
            plain_text(item.get("information_complementaire")),
            *(f"Horaires : {note}" for note in unique(n for n in notes if n)),
        ]
        return [
            self.entry(
                record,
                ctx,
                source_type=source_type,
                updated=updated,
                kind=EntryKind.SERVICE,
                title=title,
                description="\n\n".join(p for p in description_parts if p),
                commune_codes=commune_codes,
                epci_codes=epci_codes,
                departement_codes=departement_codes,
                address=address,
                point=point,
                contacts=_contacts(item),
                opening_hours=hours.slots,
                url=clean_text(item.get("url_service_public")),
            )
        ]


# --- listing helpers -------------------------------------------------------------------------


def _record(item: Any, *, where: str) -> RawRecord | BrokenRecord:
    if not isinstance(item, dict):
        return BrokenRecord(
            reason=f"{where}: a record is not a JSON object", raw=raw_text(item)[:2000]
        )
    remote_id = clean_text(item.get("id"))
    if remote_id is None:
        name = clean_text(item.get("nom")) or "no name"
        return BrokenRecord(reason=f"{where}: record without id ({name})", raw=raw_text(item))
    # No raw text: RawRecord.raw_input() writes it for the rare record kept aside. No date
    # either: map_record reads it, maybe in a worker process (the listing is a large run's
    # one sequential step).
    return RawRecord(remote_id=remote_id, payload=item)


def _items_prefix(handle: IO[bytes]) -> str | None:
    """Where the records are: ``service.item`` (export), ``results.item`` (API page) or ``item``.

    Reads only the first events of the document (up to its first top-level key that matters).
    """
    try:
        for prefix, event, value in ijson.parse(handle):
            if prefix == "" and event == "start_array":
                return "item"
            if prefix == "" and event == "map_key" and value in ("service", "results"):
                return f"{value}.item"
            if prefix == "" and event == "end_map":
                return None
    except ijson.JSONError:
        return "service.item"  # let the streaming pass report the error precisely
    return None


def _stream(handle: IO[bytes], prefix: str, name: str) -> Iterator[RawRecord | BrokenRecord]:
    count = 0
    try:
        for item in ijson.items(handle, prefix, use_float=True):
            count += 1
            yield _record(item, where=f"{name} record #{count}")
    except ijson.JSONError as exc:
        yield BrokenRecord(reason=_stream_error(name, count, exc), incomplete=True)
    except UnicodeDecodeError as exc:
        yield BrokenRecord(
            reason=f"{name} after record #{count}: not valid UTF-8 ({exc.reason})", incomplete=True
        )


def _stream_error(name: str, count: int, exc: Exception) -> str:
    message = str(exc)
    after = f"after record #{count}" if count else "before its first record"
    if "UTF8" in message or "UTF-8" in message or "utf-8" in message:
        return (
            f"{name} is not valid UTF-8 {after}: it was probably saved in another encoding "
            "such as Latin-1; the rest of the file was not read"
        )
    if "premature EOF" in message or "Incomplete" in message or "incomplete" in message:
        return f"{name} is truncated {after}: the JSON ends before it is complete"
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    return f"{name} is not valid JSON {after} ({first_line}); the rest of the file was not read"


def _list_lines(handle: IO[bytes], name: str) -> Iterator[RawRecord | BrokenRecord]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            yield BrokenRecord(
                reason=f"{name} line {number} is not valid UTF-8 (Latin-1?)",
                raw=line.decode("utf-8", errors="replace")[:2000],
            )
            continue
        except json.JSONDecodeError as exc:
            yield BrokenRecord(
                reason=f"{name} line {number} is not valid JSON ({exc.msg})",
                raw=line.decode("utf-8", errors="replace")[:2000],
            )
            continue
        yield _record(item, where=f"{name} line {number}")


# --- mapping helpers -------------------------------------------------------------------------


def _is_mapping(value: object) -> bool:
    return isinstance(value, (dict, Mapping))  # a dict skips the ABC check


def _pivots(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in as_list(item.get("pivot"), field="pivot") if _is_mapping(p)]


def _office_type(item: Mapping[str, Any], pivots: list[Mapping[str, Any]]) -> str:
    types = [clean_text(p.get("type_service_local")) for p in pivots]
    candidates = [t for t in types if t]
    if not candidates:
        legacy = clean_text(item.get("ancien_code_pivot"))
        match = re.match(r"^([a-z_]+)-", legacy or "")
        if match:
            candidates = [match.group(1)]
    if not candidates:
        raise InvalidRecord("no office type: pivot is empty and ancien_code_pivot has none")
    for candidate in candidates:
        if candidate in SERVICE_PUBLIC_TYPES:
            return candidate
    shown = ", ".join(repr(c) for c in candidates)
    raise InvalidRecord(
        f"unknown office type {shown}: not in policy_areas.SERVICE_PUBLIC_TYPES "
        "(add it there if it is a real type of the Annuaire)"
    )


def _served_communes(pivots: list[Mapping[str, Any]]) -> list[str]:
    codes: list[str] = []
    for pivot in pivots:
        for code in as_list(pivot.get("code_insee_commune"), field="pivot.code_insee_commune"):
            if isinstance(code, str):
                code = code.strip()
                if is_commune_code(code):
                    codes.append(code)
    return unique(codes)


def _address(
    item: Mapping[str, Any], commune_code: str | None
) -> tuple[dict[str, Any] | None, GeoPoint | None]:
    """The address (as the entry's ``Address`` fields) and the point."""
    addresses = [a for a in as_list(item.get("adresse"), field="adresse") if isinstance(a, dict)]
    if not addresses:
        return None, None
    ordered = (
        sorted(addresses, key=lambda a: 0 if clean_text(a.get("type_adresse")) == "Adresse" else 1)
        if len(addresses) > 1
        else addresses
    )
    chosen = ordered[0]
    lines = [
        line
        for key in ("complement1", "complement2", "numero_voie", "service_distribution")
        if (line := clean_text(chosen.get(key)))
    ]
    postal_code = clean_text(chosen.get("code_postal"))
    if postal_code is not None and not _POSTAL_CODE.match(postal_code):
        postal_code = None  # a typo such as "170000": left out rather than guessed
    point: GeoPoint | None = None
    for position, candidate in enumerate(ordered):
        label = clean_text(candidate.get("type_adresse")) or f"address #{position + 1}"
        point = parse_point(
            candidate.get("latitude"), candidate.get("longitude"), where=f"{label} coordinates"
        )
        if point is not None:
            break
    address = {
        "lines": lines,
        "postal_code": postal_code,
        "city": clean_text(chosen.get("nom_commune")),
        "commune_code": commune_code,
    }
    return address, point


def _values(value: Any, field: str) -> Iterator[tuple[Any, Any]]:
    """(value, label) pairs of a contact field: strings or {valeur, description|libelle}."""
    for entry in as_list(value, field=field):
        if _is_mapping(entry):
            yield entry.get("valeur"), entry.get("description") or entry.get("libelle")
        elif isinstance(entry, str):
            for part in _EMAILS.split(entry) if field == "adresse_courriel" else [entry]:
                yield part, None


_CONTACT_FIELDS: tuple[tuple[str, ContactKind], ...] = (
    ("telephone", "phone"),
    ("telecopie", "fax"),
    ("adresse_courriel", "email"),
    ("site_internet", "website"),
    ("formulaire_contact", "form"),
    ("reseau_social", "social"),
)


def _contacts(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entry's ``Contact`` fields, as ``common.contact`` makes them, duplicates dropped."""
    found: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for field, kind in _CONTACT_FIELDS:
        value = item.get(field)
        if not value:
            continue  # most offices fill two or three of the six fields
        for text, label in _values(value, field):
            cleaned = clean_text(text)
            if cleaned is None:
                continue
            if kind in _PHONES:
                cleaned = normalise_phone(cleaned)
            if (kind, cleaned) not in seen:
                seen.add((kind, cleaned))
                found.append({"kind": kind, "value": cleaned, "label": clean_text(label)})
    return found


_PHONES = frozenset({"phone", "fax"})
