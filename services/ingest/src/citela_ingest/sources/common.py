"""Helpers the sources share: reading JSON files, coercing loose values, codes, places, phones.

Nothing here knows a particular feed; each function documents the traps it absorbs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, Self

from citela_common.events.models import Contact, GeoPoint
from citela_ingest.limits import ReadLimits, read_file
from citela_ingest.records import (
    BrokenRecord,
    Fetcher,
    InvalidRecord,
    RawRecord,
    Source,
    Territory,
)

__all__ = [
    "FRANCE_AREAS",
    "ApiPage",
    "ContactKind",
    "FileOrApiSource",
    "France",
    "JsonFileError",
    "as_list",
    "clean_text",
    "contact",
    "departement_of",
    "fetch_page",
    "france_area",
    "is_commune_code",
    "is_departement_code",
    "is_siren",
    "load_json_bytes",
    "load_json_file",
    "normalise_phone",
    "once_each",
    "parse_iso_datetime",
    "parse_point",
    "territory_parents",
    "unique",
]

# --- codes ---------------------------------------------------------------------------------

_COMMUNE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
_DEPARTEMENT = re.compile(r"^(0[1-9]|1\d|2[1-9AB]|[3-8]\d|9[0-5]|97[1-8]|98[4-9])$")
_SIREN = re.compile(r"^\d{9}$")


def is_commune_code(code: object) -> bool:
    """An INSEE commune code: 5 digits, or 2A/2B + 3 digits (Corsica)."""
    return isinstance(code, str) and bool(_COMMUNE.match(code))


def is_departement_code(code: object) -> bool:
    """01–95 (20 is now 2A/2B), the DROM (971–976) and COM (975, 977, 978, 984–989) codes."""
    return isinstance(code, str) and bool(_DEPARTEMENT.match(code))


def is_siren(code: object) -> bool:
    return isinstance(code, str) and bool(_SIREN.match(code))


def departement_of(commune_code: str | None) -> str | None:
    """The département of an INSEE commune code: 3 characters overseas (97x, 98x), else 2."""
    if not commune_code or not is_commune_code(commune_code):
        return None
    return commune_code[:3] if commune_code.startswith(("97", "98")) else commune_code[:2]


def territory_parents(
    commune_codes: Iterable[str], territory: Territory | None
) -> tuple[list[str], list[str]]:
    """EPCI and département codes of some communes: from the territory when it knows the
    commune, the département also from the code itself (never the EPCI: that needs data)."""
    epcis: list[str] = []
    departements: list[str] = []
    for code in commune_codes:
        epci, departement = (None, None)
        if territory is not None:
            epci, departement = territory.commune_parents.get(code, (None, None))
        departement = departement or departement_of(code)
        if epci and epci not in epcis:
            epcis.append(epci)
        if departement and departement not in departements:
            departements.append(departement)
    return epcis, departements


# --- loose values --------------------------------------------------------------------------


def clean_text(value: object) -> str | None:
    """A trimmed non-empty string, or None (None, "", whitespace, non-strings)."""
    if isinstance(value, str):
        text = " ".join(value.split())
        return text or None
    return None


def as_list(value: object, *, field: str = "value") -> list[Any]:
    """A list from what feeds put in a list field.

    None and "" are []; a list is itself; a JSON-encoded string (the Service-Public API encodes
    ``adresse``, ``pivot``, ``telephone``… this way) is decoded, and an object becomes a one-item
    list; any other string is a one-item list. Undecodable JSON text is an InvalidRecord.
    """
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text[0] in "[{":
            try:
                decoded = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidRecord(f"field {field!r} holds malformed JSON text: {exc}") from None
            return as_list(decoded, field=field)
        return [text]
    return [value]


def unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


def parse_iso_datetime(value: object) -> datetime | None:
    """An aware datetime from ISO 8601 text ("Z" accepted; a naive one is taken as UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- places --------------------------------------------------------------------------------


@dataclass(frozen=True)
class France:
    """One bounding box of French territory (lat/lon in degrees, WGS84)."""

    name: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max


# Boxes are a little wider than the land so that coastal and island offices fit. A point outside
# all of them is not in France: usually swapped latitude/longitude, a 0,0 or a typo.
FRANCE_AREAS: tuple[France, ...] = (
    France("France métropolitaine", 42.30, 51.15, -5.25, 8.30),
    France("Corse", 41.30, 43.10, 8.50, 9.60),
    France("Guadeloupe, Saint-Martin, Saint-Barthélemy", 15.80, 18.20, -63.20, -60.90),
    France("Martinique", 14.35, 14.90, -61.30, -60.80),
    France("Guyane", 2.10, 5.80, -54.65, -51.60),
    France("La Réunion", -21.40, -20.85, 55.20, 55.85),
    France("Mayotte", -13.05, -12.60, 45.00, 45.35),
    France("Saint-Pierre-et-Miquelon", 46.70, 47.15, -56.45, -56.10),
    France("Wallis-et-Futuna", -14.40, -13.15, -178.25, -176.10),
    France("Polynésie française", -27.70, -7.80, -154.80, -134.40),
    France("Nouvelle-Calédonie", -22.80, -19.40, 163.50, 168.20),
    France("Terres australes (Kerguelen, Crozet)", -50.10, -45.90, 50.00, 70.60),
    France("Terres australes (Amsterdam, Saint-Paul)", -39.00, -37.70, 77.40, 77.70),
    France("Îles Éparses", -22.50, -11.40, 39.60, 54.60),
    France("Clipperton", 10.25, 10.35, -109.25, -109.17),
)


def france_area(lat: float, lon: float) -> str | None:
    """The name of the French area that contains the point, None when it is outside France."""
    for area in FRANCE_AREAS:
        if area.contains(lat, lon):
            return area.name
    return None


def _coordinate(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRecord(f"{name} is not a number: {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")  # French decimal comma
        try:
            number = float(text)
        except ValueError:
            raise InvalidRecord(f"{name} is not a number: {value!r}") from None
    else:
        raise InvalidRecord(f"{name} is not a number: {value!r}")
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidRecord(f"{name} is not a finite number: {value!r}")
    return number


def parse_point(lat: object, lon: object, *, where: str = "coordinates") -> GeoPoint | None:
    """A GeoPoint from two loose values (numbers or strings), checked to lie in France.

    Both empty: None (feeds leave coordinates out). One empty, a value that is not a number, or
    a point outside every FRANCE_AREAS box: InvalidRecord with the reason.
    """
    latitude = _coordinate(lat, f"{where}: latitude")
    longitude = _coordinate(lon, f"{where}: longitude")
    if latitude is None and longitude is None:
        return None
    if latitude is None or longitude is None:
        raise InvalidRecord(f"{where}: latitude {lat!r} or longitude {lon!r} is missing")
    if france_area(latitude, longitude) is None:
        hint = ""
        if france_area(longitude, latitude) is not None:
            hint = " (latitude and longitude look swapped)"
        raise InvalidRecord(
            f"{where}: point lat={latitude}, lon={longitude} is outside France "
            f"and its overseas territories{hint}"
        )
    return GeoPoint(lat=latitude, lon=longitude)


# --- contacts ------------------------------------------------------------------------------

# Overseas numbers are dialled with their own country code, not +33.
_OVERSEAS_PREFIXES = {
    "0262": "262",
    "0263": "262",
    "0692": "262",
    "0693": "262",
    "0269": "262",
    "0639": "262",
    "0590": "590",
    "0690": "590",
    "0691": "590",
    "0594": "594",
    "0694": "594",
    "0596": "596",
    "0696": "596",
    "0697": "596",
}
_OVERSEAS_CODES = frozenset(_OVERSEAS_PREFIXES.values())
_PHONE_SEPARATORS = re.compile(r"[\s.\-/()\u00a0\u202f]")
_PLUS_33_0 = re.compile(r"\+330\d{9}")
_NATIONAL = re.compile(r"0\d{9}")
_INTERNATIONAL = re.compile(r"\+\d{11,12}")


def _pairs(digits: str) -> str:
    return " ".join([digits[i : i + 2] for i in range(0, len(digits), 2)])


def normalise_phone(value: str) -> str:
    """French numbers as "+33 1 64 38 30 52" (or "+590 590 …" overseas); others as given.

    Accepts "01 64 38 30 52", "01.64.38.30.52", "+33 (0)1 64…", "0033 1 64…". Short numbers
    ("3939"), other countries and free text are returned trimmed, spaces collapsed.
    """
    given = " ".join(value.split())
    compact = _PHONE_SEPARATORS.sub("", given)  # "+33 (0)1 64…" becomes "+33016…"
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if _PLUS_33_0.fullmatch(compact):
        compact = "+33" + compact[4:]
    if _NATIONAL.fullmatch(compact):
        country = _OVERSEAS_PREFIXES.get(compact[:4], "33")
        national = compact[1:]
    elif _INTERNATIONAL.fullmatch(compact):
        country = next(
            (c for c in ("33", *_OVERSEAS_CODES) if compact[1:].startswith(c)),
            "",
        )
        national = compact[1 + len(country) :]
        if not country or len(national) != 9:
            return given
    else:
        return given
    if country == "33":
        return f"+33 {national[0]} {_pairs(national[1:])}"
    return f"+{country} {national[:3]} {_pairs(national[3:])}"


ContactKind = Literal["phone", "email", "website", "form", "fax", "social"]


def contact(kind: ContactKind, value: object, label: object = None) -> Contact | None:
    """A Contact from loose values; None when the value is empty. Phones are normalised."""
    text = clean_text(value)
    if text is None:
        return None
    if kind in ("phone", "fax"):
        text = normalise_phone(text)
    return Contact(kind=kind, value=text, label=clean_text(label))


# --- files ---------------------------------------------------------------------------------


class JsonFileError(Exception):
    """A JSON file that cannot be read; ``reason`` says why in English."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_json_bytes(data: bytes, *, name: str = "file") -> Any:
    """Parse UTF-8 JSON bytes; JsonFileError tells a wrong encoding from a truncated file."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1]
        raise JsonFileError(
            f"{name} is not valid UTF-8 (byte 0x{bad.hex()} at offset {exc.start}): "
            "it was probably saved in another encoding such as Latin-1"
        ) from None
    if not text.strip():
        raise JsonFileError(f"{name} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # the parser stopped at the end, or inside a string that never closes: cut short
        if exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string"):
            raise JsonFileError(
                f"{name} is truncated: the JSON ends before it is complete "
                f"(line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        raise JsonFileError(
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def load_json_file(path: Path, limits: ReadLimits | None = None) -> Any:
    """A JSON file's document; ArchiveRefused when it is larger than ``limits`` allow."""
    try:
        data = path.read_bytes() if limits is None else read_file(path, limits)
    except OSError as exc:
        raise JsonFileError(f"{path.name} cannot be read: {exc.strerror or exc}") from None
    return load_json_bytes(data, name=path.name)


def json_files(folder: Path) -> Iterator[Path]:
    """The ``*.json`` files of a folder, sorted, leaving out ``*.http-meta.json`` headers."""
    for path in sorted(folder.glob("*.json")):
        if not path.name.endswith(".http-meta.json"):
            yield path


def raw_text(value: Any) -> str:
    """The JSON text of a record, as kept with RawRecord / BrokenRecord."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


# --- listing -------------------------------------------------------------------------------


def once_each(records: Iterable[RawRecord | BrokenRecord]) -> Iterator[RawRecord | BrokenRecord]:
    """Each record at its first listing: several queries or answers may list the same one (a
    commune of an EPCI and of its département); broken records all pass."""
    seen: set[str] = set()
    for record in records:
        if isinstance(record, RawRecord):
            if record.remote_id in seen:
                continue
            seen.add(record.remote_id)
        yield record


class FileOrApiSource(Source):
    """A source read either from a file or from its API through a fetcher, never both."""

    def __init__(self, *, path: Path | None = None, fetcher: Fetcher | None = None) -> None:
        if (path is None) == (fetcher is None):
            raise ValueError("give either a file path or a fetcher")
        self.path = path
        self.fetcher = fetcher

    @classmethod
    def from_file(cls, path: Path | str) -> Self:
        return cls(path=Path(path))


@dataclass(frozen=True)
class ApiPage:
    """One page of an API listing: the whole answer and its list of items."""

    document: dict[str, Any]
    items: list[Any]


def fetch_page(
    fetcher: Fetcher, url: str, params: dict[str, str | int] | None, *, items: str, where: str
) -> ApiPage | BrokenRecord | None:
    """The page at ``url``, its records under the key ``items``. None for 304 Not Modified; a
    BrokenRecord when the answer holds no such list (the rest of the listing is unread)."""
    page = fetcher.get_json(url, params)
    if page is None:
        return None
    found = page.get(items) if isinstance(page, dict) else None
    if not isinstance(found, list):
        return BrokenRecord(
            reason=f"{where} has no {items} list", raw=raw_text(page)[:2000], incomplete=True
        )
    return ApiPage(page, found)
