"""API Découpage administratif (geo.api.gouv.fr): régions, départements, EPCI, communes.

Records come from JSON files (the API's responses saved as they are: a list of items, or one
item) or from the API through a ``Fetcher``. Each item becomes one ``TerritoryUpserted``:

* région ``{nom, code}`` → level ``region``;
* département ``{nom, code, codeRegion}`` → level ``departement`` (Corsica ``2A``/``2B``;
  overseas codes have 3 characters: ``971``…``976``, COM ``975``, ``977``…``989``);
* EPCI ``{nom, code (SIREN), codesDepartements[], codesRegions[], population}`` → level
  ``epci``; an EPCI may span several départements (all are kept) and régions (``region_code``
  is set only when there is exactly one);
* commune ``{nom, code, codeDepartement, siren, codeEpci, codeRegion, codesPostaux[],
  population, centre?, type?}`` → level ``commune``;
* municipal arrondissement (``type: arrondissement-municipal``, or, in default-field answers
  that do not carry ``type``, a Paris 751xx / Lyon 6938x / Marseille 132xx code without
  ``siren``) → level ``arrondissement`` with ``parent_commune_code`` 75056 / 69123 / 13055.
  Arrondissements have no ``siren`` nor ``codeEpci`` in the data: ``epci_code`` stays None (the
  parent commune's EPCI is used by ``territory_from``).

The level of an item is told by the endpoint it came from (API) or by the caller
(``level=``); without either it is recognised from the fields, which works for the API's
default fields (a région is an item with only ``nom`` and ``code``).

Communes that merged (communes nouvelles): the current lists simply lack the old codes. The API
publishes the former communes that live on as ``commune-deleguee`` / ``commune-associee``
(``/communes_associees_deleguees``, with ``chefLieu`` = the code of the commune they now belong
to); some dumps also carry ``anciensCodes`` on a current commune. Those items are not
territories of their own: ``map_record`` skips them with a reason, and ``former_codes`` collects
the mapping old code → current code from them, which ``territory_from`` can take so that feeds
still using an old code (an old "Mairie déléguée" record) are recognised. An old code that the
data does not map stays unknown: records that carry it are outside every territory.

Nothing here is tied to a particular territory: the codes come from the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from citela_common.events.models import GeoPoint, TerritoryLevel, TerritoryUpserted
from citela_ingest.limits import ArchiveRefused
from citela_ingest.records import (
    BrokenRecord,
    Fetcher,
    HarvestContext,
    InvalidRecord,
    Output,
    RawRecord,
    SkipRecord,
    Source,
    Territory,
)
from citela_ingest.sources.common import (
    JsonFileError,
    clean_text,
    departement_of,
    is_commune_code,
    is_departement_code,
    is_siren,
    json_files,
    load_json_file,
    once_each,
    raw_text,
)

__all__ = [
    "COMMUNE_FIELDS",
    "DEFAULT_GEO_API",
    "PLM_PARENTS",
    "GeoApiQuery",
    "TerritoriesSource",
    "former_codes",
    "plm_parent",
    "territory_from",
    "territory_kind",
]

DEFAULT_GEO_API = "https://geo.api.gouv.fr"
COMMUNE_FIELDS = (
    "nom,code,codeDepartement,siren,codeEpci,codeRegion,codesPostaux,population,type,centre"
)
EPCI_FIELDS = "nom,code,codesDepartements,codesRegions,population,centre"
DEPARTEMENT_FIELDS = "nom,code,codeRegion"
REGION_FIELDS = "nom,code"
FORMER_FIELDS = "nom,code,type,chefLieu,codeDepartement,codeRegion"

# Paris, Lyon and Marseille are split into municipal arrondissements with their own INSEE codes.
PLM_PARENTS: Mapping[str, tuple[re.Pattern[str], str]] = {
    "Paris": (re.compile(r"^751(0[1-9]|1\d|20)$"), "75056"),
    "Lyon": (re.compile(r"^6938[1-9]$"), "69123"),
    "Marseille": (re.compile(r"^132(0[1-9]|1[0-6])$"), "13055"),
}

# commune kinds as the API's ``type`` field names them
_CURRENT = "commune-actuelle"
_ARRONDISSEMENT = "arrondissement-municipal"
_FORMER = frozenset({"commune-deleguee", "commune-associee"})
_LEVELS = {level.value: level for level in TerritoryLevel}


def plm_parent(code: str) -> str | None:
    """The commune (75056, 69123, 13055) of a Paris, Lyon or Marseille arrondissement code."""
    for pattern, parent in PLM_PARENTS.values():
        if pattern.match(code):
            return parent
    return None


def _guess_level(item: Mapping[str, Any]) -> str | None:
    kind = item.get("type")
    if isinstance(kind, str) and (kind in _FORMER or "chefLieu" in item):
        return "former"
    if kind == _ARRONDISSEMENT:
        return TerritoryLevel.ARRONDISSEMENT.value
    if kind == _CURRENT:
        return TerritoryLevel.COMMUNE.value
    if "chefLieu" in item and "codeDepartement" in item:
        return "former"
    code = item.get("code")
    if "codesDepartements" in item or "codesRegions" in item or is_siren(code):
        return TerritoryLevel.EPCI.value
    if "codeDepartement" in item or "codeEpci" in item or is_commune_code(code):
        if isinstance(code, str) and plm_parent(code) and not item.get("siren"):
            return TerritoryLevel.ARRONDISSEMENT.value
        return TerritoryLevel.COMMUNE.value
    if "codeRegion" in item:
        return TerritoryLevel.DEPARTEMENT.value
    if set(item) <= {"nom", "code", "_score"} and isinstance(code, str) and code.isdigit():
        return TerritoryLevel.REGION.value
    return None


@dataclass(frozen=True)
class GeoApiQuery:
    """One request to geo.api.gouv.fr and the level of the items it answers."""

    path: str
    params: Mapping[str, str]
    level: str | None  # None: recognise each item (communes: commune or arrondissement)


class TerritoriesSource(Source):
    """Territories from geo.api.gouv.fr answers (files) or from the API itself."""

    name: ClassVar[str] = "territories"
    licence: ClassVar[str] = "Licence Ouverte v2.0 (Etalab) — INSEE COG, IGN, La Poste"

    def __init__(
        self,
        *,
        paths: Sequence[Path] = (),
        level: str | None = None,
        fetcher: Fetcher | None = None,
        queries: Sequence[GeoApiQuery] = (),
        base_url: str = DEFAULT_GEO_API,
        territory_code: str | None = None,
    ) -> None:
        """``territory_code``: keep only that territory's communes and EPCIs (régions and
        départements, the national frame, are always kept); the others are skipped as outside
        the territory."""
        if level is not None and level not in _LEVELS and level != "former":
            raise ValueError(f"unknown territory level {level!r}")
        if queries and fetcher is None:
            raise ValueError("API queries need a fetcher")
        self.paths = list(paths)
        self.level = level
        self.fetcher = fetcher
        self.queries = list(queries)
        self.base_url = base_url.rstrip("/")
        self.territory = territory_kind(territory_code) if territory_code else None
        self.territory_code = territory_code

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_path(
        cls, path: Path | str, *, level: str | None = None, territory_code: str | None = None
    ) -> TerritoriesSource:
        """A JSON file, or a folder of them (``*.http-meta.json`` header files are ignored)."""
        path = Path(path)
        paths = list(json_files(path)) if path.is_dir() else [path]
        return cls(paths=paths, level=level, territory_code=territory_code)

    @classmethod
    def from_api(
        cls,
        fetcher: Fetcher,
        *,
        base_url: str = DEFAULT_GEO_API,
        regions: bool = True,
        departements: bool = True,
        departement_codes: Iterable[str] = (),
        epci_codes: Iterable[str] = (),
        commune_codes: Iterable[str] = (),
        former_communes: bool = True,
    ) -> TerritoriesSource:
        """The API queries for a tenant's territory.

        ``regions`` / ``departements``: the national lists (small). For each département code:
        its communes and arrondissements, its EPCIs and (``former_communes``) its communes
        déléguées/associées. For each EPCI SIREN: the EPCI and its communes. For each commune
        code: that commune.
        """
        queries: list[GeoApiQuery] = []
        if regions:
            queries.append(GeoApiQuery("/regions", {"fields": REGION_FIELDS}, "region"))
        if departements:
            queries.append(
                GeoApiQuery(
                    "/departements",
                    {"fields": DEPARTEMENT_FIELDS, "zone": "metro,drom,com"},
                    "departement",
                )
            )
        commune_params = {"fields": COMMUNE_FIELDS, "type": f"{_CURRENT},{_ARRONDISSEMENT}"}
        for code in departement_codes:
            if not is_departement_code(code):
                raise ValueError(f"not a département code: {code!r}")
            queries.append(GeoApiQuery(f"/departements/{code}/communes", commune_params, None))
            queries.append(
                GeoApiQuery("/epcis", {"codeDepartement": code, "fields": EPCI_FIELDS}, "epci")
            )
            if former_communes:
                queries.append(
                    GeoApiQuery(
                        "/communes_associees_deleguees",
                        {"codeDepartement": code, "fields": FORMER_FIELDS},
                        "former",
                    )
                )
        for code in epci_codes:
            if not is_siren(code):
                raise ValueError(f"not an EPCI SIREN: {code!r}")
            queries.append(GeoApiQuery(f"/epcis/{code}", {"fields": EPCI_FIELDS}, "epci"))
            queries.append(
                GeoApiQuery(f"/epcis/{code}/communes", {"fields": COMMUNE_FIELDS}, "commune")
            )
        for code in commune_codes:
            if not is_commune_code(code):
                raise ValueError(f"not an INSEE commune code: {code!r}")
            queries.append(GeoApiQuery(f"/communes/{code}", {"fields": COMMUNE_FIELDS}, None))
        return cls(fetcher=fetcher, queries=queries, base_url=base_url)

    def key_of(self, remote_id: str) -> str:
        return f"territory:{remote_id}"  # remote ids are "<level>:<code>", as output_key

    # --- listing ---------------------------------------------------------------------------

    def list_records(self) -> Iterator[RawRecord | BrokenRecord]:
        """Every item once: the same territory in two answers (a commune of an EPCI and of its
        département) is listed at its first appearance."""
        return once_each(self._list())

    def _list(self) -> Iterator[RawRecord | BrokenRecord]:
        for path in self.paths:
            try:
                document = load_json_file(path, self.limits)
            except JsonFileError as exc:
                yield BrokenRecord(reason=exc.reason, raw=_head(path), incomplete=True)
                continue
            except ArchiveRefused as exc:
                yield BrokenRecord(reason=exc.reason, incomplete=True, explanation=exc.reason)
                return
            yield from self._items(document, self.level, where=path.name)
        for query in self.queries:
            assert self.fetcher is not None
            url = f"{self.base_url}{query.path}"
            document = self.fetcher.get_json(url, dict(query.params))
            if document is None:  # 304 Not Modified: nothing new at this URL
                self.not_modified += 1
                continue
            yield from self._items(document, query.level, where=url)

    def _items(
        self, document: Any, level: str | None, *, where: str
    ) -> Iterator[RawRecord | BrokenRecord]:
        items = document if isinstance(document, list) else [document]
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                yield BrokenRecord(
                    reason=f"{where}: item #{position + 1} is not a JSON object",
                    raw=raw_text(item),
                )
                continue
            item_level = level if level not in (None, "commune") else None
            item_level = item_level or _guess_level(item) or level
            code = item.get("code")
            if not isinstance(code, str) or not code.strip():
                yield BrokenRecord(
                    reason=f"{where}: item #{position + 1} has no code", raw=raw_text(item)
                )
                continue
            if item_level is None:
                yield BrokenRecord(
                    reason=f"{where}: cannot tell what kind of territory item {code} is "
                    "(region, departement, epci, commune?): give the level",
                    raw=raw_text(item),
                    remote_id=code,
                )
                continue
            yield RawRecord(
                remote_id=f"{item_level}:{code.strip()}",
                payload={"level": item_level, "item": item},
                raw=raw_text(item),
            )

    # --- mapping ---------------------------------------------------------------------------

    def map_record(self, record: RawRecord, ctx: HarvestContext) -> Iterable[Output]:
        payload = record.payload
        level = payload.get("level") if isinstance(payload, dict) else None
        item = payload.get("item") if isinstance(payload, dict) else None
        if not isinstance(item, dict) or not isinstance(level, str):
            raise InvalidRecord("territory record without level and item")
        code = clean_text(item.get("code")) or ""
        name = clean_text(item.get("nom"))
        if level == "former":
            parent = clean_text(item.get("chefLieu"))
            kind = item.get("type") or "commune déléguée or associée"
            raise SkipRecord(
                f"{code} ({name or 'no name'}) is a former commune ({kind}) now part of commune "
                f"{parent or 'unknown'}: kept as an old-code mapping, not as a territory"
            )
        if self.territory is not None and not _within(self.territory, level, code, item):
            raise SkipRecord(
                f"{level} {code} ({name or 'no name'}) is outside territory {self.territory_code}",
                outside_territory=True,
            )
        if not name:
            raise InvalidRecord(f"territory {code or '?'} has no name (nom)")
        common: dict[str, Any] = {
            "code": code,
            "name": name,
            "version": 0,
            "provenance": self.provenance(record, ctx, updated=record.remote_updated_at),
        }
        if level == TerritoryLevel.REGION:
            if not re.fullmatch(r"\d{2,3}", code):
                raise InvalidRecord(f"région code {code!r} is not 2 or 3 digits")
            return [TerritoryUpserted(level=TerritoryLevel.REGION, **common)]
        if level == TerritoryLevel.DEPARTEMENT:
            if not is_departement_code(code):
                raise InvalidRecord(f"département code {code!r} is not a known form")
            return [
                TerritoryUpserted(
                    level=TerritoryLevel.DEPARTEMENT,
                    region_code=_code(item, "codeRegion"),
                    **common,
                )
            ]
        if level == TerritoryLevel.EPCI:
            if not is_siren(code):
                raise InvalidRecord(f"EPCI code {code!r} is not a 9-digit SIREN")
            regions = _codes(item, "codesRegions")
            return [
                TerritoryUpserted(
                    level=TerritoryLevel.EPCI,
                    departement_codes=_codes(item, "codesDepartements"),
                    region_code=regions[0] if len(regions) == 1 else None,
                    population=_population(item),
                    centre=_centre(item),
                    **common,
                )
            ]
        if level in (TerritoryLevel.COMMUNE, TerritoryLevel.ARRONDISSEMENT):
            if not is_commune_code(code):
                raise InvalidRecord(f"commune code {code!r} is not an INSEE code")
            departement = _code(item, "codeDepartement")
            if departement is not None and not is_departement_code(departement):
                raise InvalidRecord(f"commune {code}: département code {departement!r} is wrong")
            parent = None
            epci = _code(item, "codeEpci")
            if level == TerritoryLevel.ARRONDISSEMENT:
                parent = plm_parent(code)
                if parent is None:
                    raise InvalidRecord(
                        f"arrondissement {code} is not one of Paris, Lyon or Marseille"
                    )
            elif epci is not None and not is_siren(epci):
                raise InvalidRecord(f"commune {code}: EPCI code {epci!r} is not a SIREN")
            return [
                TerritoryUpserted(
                    level=TerritoryLevel(level),
                    region_code=_code(item, "codeRegion"),
                    departement_codes=[departement] if departement else [],
                    epci_code=epci,
                    parent_commune_code=parent,
                    postal_codes=_postal_codes(item, code),
                    population=_population(item),
                    centre=_centre(item),
                    **common,
                )
            ]
        raise InvalidRecord(f"unknown territory level {level!r}")


def _head(path: Path, size: int = 2000) -> str:
    try:
        with path.open("rb") as handle:
            return handle.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _code(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return (value.strip() or None) if isinstance(value, str) else None


def _codes(item: Mapping[str, Any], key: str) -> list[str]:
    values = item.get(key)
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidRecord(f"{key} is not a list of codes: {values!r}")
    return [v.strip() for v in values if v.strip()]


def _postal_codes(item: Mapping[str, Any], code: str) -> list[str]:
    values = _codes(item, "codesPostaux")
    for value in values:
        if not re.fullmatch(r"\d{5}", value):
            raise InvalidRecord(f"commune {code}: postal code {value!r} is not 5 digits")
    return values


def _population(item: Mapping[str, Any]) -> int | None:
    value = item.get("population")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRecord(f"population is not a whole number: {value!r}")
    return value


def _centre(item: Mapping[str, Any]) -> GeoPoint | None:
    centre = item.get("centre")
    if centre is None:
        return None
    coordinates = centre.get("coordinates") if isinstance(centre, dict) else None
    if (
        not isinstance(coordinates, list)
        or len(coordinates) != 2
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coordinates)
    ):
        raise InvalidRecord(f"centre is not a GeoJSON point: {centre!r}")
    lon, lat = coordinates  # GeoJSON order
    try:
        return GeoPoint(lat=lat, lon=lon)
    except ValueError:
        raise InvalidRecord(f"centre {coordinates!r} is not a longitude/latitude pair") from None


def territory_kind(code: str) -> tuple[str, str]:
    """(kind, code) of a territory code as ``territory_from`` reads it: a commune INSEE code,
    an EPCI SIREN, a département code, or a ``region:``/``commune:``/``epci:``/
    ``departement:`` prefixed code. ValueError for anything else."""
    kind, _, value = code.partition(":") if ":" in code else ("", "", code)
    value = value.strip()
    if not kind:
        if is_siren(value):
            kind = "epci"
        elif is_commune_code(value):
            kind = "commune"
        elif is_departement_code(value):
            kind = "departement"
        else:
            raise ValueError(f"{code!r} is not a commune, EPCI or département code")
    if kind not in ("commune", "epci", "departement", "region"):
        raise ValueError(f"unknown territory kind {kind!r} in {code!r}")
    return kind, value


def _within(territory: tuple[str, str], level: str, code: str, item: Mapping[str, Any]) -> bool:
    """Whether an item belongs to the territory (what the API queries for it would list)."""
    kind, value = territory
    if level in (TerritoryLevel.REGION, TerritoryLevel.DEPARTEMENT):
        return True  # the national frame, listed for every territory
    if level == TerritoryLevel.EPCI:
        if kind == "epci":
            return code == value
        if kind == "departement":
            return value in (item.get("codesDepartements") or [])
        if kind == "region":
            return value in (item.get("codesRegions") or [])
        return False  # a commune's harvest lists that commune alone
    if kind == "commune":
        return code == value or plm_parent(code) == value
    if kind == "epci":
        return _code(item, "codeEpci") == value
    if kind == "departement":
        return (_code(item, "codeDepartement") or departement_of(code)) == value
    return _code(item, "codeRegion") == value


# --- helpers for the harvester ---------------------------------------------------------------


def former_codes(records: Iterable[RawRecord | BrokenRecord]) -> dict[str, str]:
    """Old commune code → current commune code, from what the data gives.

    Sources: communes déléguées / associées (``chefLieu``) and current communes that list
    ``anciensCodes``. Codes that map to themselves (the chef-lieu commune déléguée keeps the code
    of the commune nouvelle) are left out.
    """
    mapping: dict[str, str] = {}
    for record in records:
        if not isinstance(record, RawRecord) or not isinstance(record.payload, dict):
            continue
        item = record.payload.get("item")
        if not isinstance(item, dict):
            continue
        code = item.get("code")
        if record.payload.get("level") == "former":
            parent = item.get("chefLieu")
            if is_commune_code(code) and is_commune_code(parent) and code != parent:
                mapping[str(code)] = str(parent)
        old_codes = item.get("anciensCodes")
        if is_commune_code(code) and isinstance(old_codes, list):
            for old in old_codes:
                if is_commune_code(old) and old != code:
                    mapping[old] = str(code)
    return mapping


def territory_from(
    outputs: Iterable[Output],
    code: str,
    *,
    former: Mapping[str, str] | None = None,
    name: str | None = None,
) -> Territory:
    """The Territory (communes, with their EPCI and département) a tenant covers.

    ``code`` is a commune INSEE code (5 characters), an EPCI SIREN (9 digits) or a département
    code (2 or 3 characters); ``region:<code>`` selects a région (their codes collide with
    départements'), and ``commune:``, ``epci:``, ``departement:`` prefixes are accepted too.
    The communes are those of the outputs whose commune, EPCI, département or région is the
    code; the arrondissements of Paris/Lyon/Marseille come with their commune. ``former`` (from
    ``former_codes``) adds the old codes of those communes, with the same parents.
    LookupError when the outputs hold no commune for the code.
    """
    kind, value = territory_kind(code)

    territories = [o for o in outputs if isinstance(o, TerritoryUpserted)]
    communes = {t.code: t for t in territories if t.level is TerritoryLevel.COMMUNE}
    arrondissements = [t for t in territories if t.level is TerritoryLevel.ARRONDISSEMENT]
    by_level = {(t.level.value, t.code): t for t in territories}

    def selected(commune: TerritoryUpserted) -> bool:
        if kind == "commune":
            return commune.code == value
        if kind == "epci":
            return commune.epci_code == value
        if kind == "departement":
            return value in commune.departement_codes
        return commune.region_code == value

    chosen = {c.code: c for c in communes.values() if selected(c)}
    parents: dict[str, tuple[str | None, str | None]] = {
        c.code: (c.epci_code, c.departement_codes[0] if c.departement_codes else None)
        for c in chosen.values()
    }
    for arrondissement in arrondissements:
        parent = chosen.get(arrondissement.parent_commune_code or "")
        if parent is None and not (kind == "commune" and arrondissement.code == value):
            continue
        departement = (
            arrondissement.departement_codes[0] if arrondissement.departement_codes else None
        )
        commune = parent or communes.get(arrondissement.parent_commune_code or "")
        epci = commune.epci_code if commune else arrondissement.epci_code
        parents[arrondissement.code] = (epci, departement)
    if not parents:
        raise LookupError(
            f"no commune of {kind} {value} in the territories given "
            f"({len(communes)} communes, {len(arrondissements)} arrondissements): "
            "harvest its communes first"
        )
    for old, new in (former or {}).items():
        if new in parents and old not in parents:
            parents[old] = parents[new]

    label = name
    if label is None:
        level = {"region": "region", "departement": "departement", "epci": "epci"}.get(kind)
        named = by_level.get((level or "commune", value)) or by_level.get(("arrondissement", value))
        label = named.name if named else f"{kind} {value}"
    return Territory(
        code=value,
        name=label,
        commune_codes=frozenset(parents),
        epci_codes=frozenset(e for e, _ in parents.values() if e),
        departement_codes=frozenset(d for _, d in parents.values() if d),
        commune_parents=parents,
    )
