"""Annuaire de l'administration (Service-Public.fr): both encodings, traps, territory, paging."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from citela_common.events.models import (
    CatalogueEntryUpserted,
    Contact,
    EntryKind,
    GeoPoint,
    OpeningSlot,
)
from citela_ingest.records import BrokenRecord, RawRecord, Territory
from citela_ingest.sources.service_public import (
    API_WINDOW,
    DEFAULT_API_BASE,
    ServicePublicSource,
    commune_where,
    parse_local_datetime,
)
from tests.ingest.unit.helpers import SERVICE_PUBLIC, FakeFetcher, context, harvest, load

API_PAGE = SERVICE_PUBLIC / "api_lannuaire_records_where_siret_20004021000060.json"
EXPORT = SERVICE_PUBLIC / "export_datagouv_gouv_local_mairie-fontaine-le-port.json"
EPCI_ID = "3b9ce22d-f7bd-46d9-82d1-8b44c8d08e39"
MAIRIE_ID = "00007e4d-264c-43a0-b0b7-7f3b7dd995ab"
RECORDS_URL = f"{DEFAULT_API_BASE}/catalog/datasets/api-lannuaire-administration/records"


def only_entry(result_entries: dict[str, CatalogueEntryUpserted]) -> CatalogueEntryUpserted:
    assert len(result_entries) == 1
    return next(iter(result_entries.values()))


def test_api_record_with_json_text_fields_maps() -> None:
    raw = load(API_PAGE)["results"][0]
    result = harvest(ServicePublicSource.from_file(API_PAGE))
    assert not (result.broken)
    assert not (result.invalid)
    assert not (result.skipped)
    entry = only_entry(result.entries)
    assert entry.entry_id == f"service-public:{EPCI_ID}"
    assert entry.kind is EntryKind.SERVICE
    assert entry.title == raw["nom"] == "Communauté de communes - Lacs et Gorges du Verdon"
    assert (entry.source_type, entry.policy_area) == ("epci", "Administration locale")
    assert entry.commune_codes == [raw["code_insee_commune"]] == ["83007"]
    assert entry.departement_codes == ["83"]
    assert entry.epci_codes == []

    address = json.loads(raw["adresse"])[0]
    assert entry.address is not None
    assert entry.address.lines == [address["numero_voie"]] == ["242 avenue Albert-1er"]
    assert (entry.address.postal_code, entry.address.city) == ("83630", "Aups")
    assert entry.address.commune_code == "83007"
    assert entry.point == GeoPoint(lat=float(address["latitude"]), lon=float(address["longitude"]))
    assert entry.point == GeoPoint(lat=43.627448, lon=6.22516)

    assert entry.contacts == [
        Contact(kind="phone", value="+33 4 94 70 00 00"),  # given as "04 94 70 00 00"
        Contact(kind="email", value="redacted@email.fr"),
        Contact(kind="website", value="https://www.cc-lacsgorgesverdon.fr/"),
        Contact(kind="form", value="https://www.cc-lacsgorgesverdon.fr/contacts-comcom"),
    ]
    # Lundi–Jeudi 08:00–12:00 and 13:30–17:30, Vendredi 08:00–12:00 (seconds dropped)
    expected = [
        OpeningSlot(weekday=day, opens=opens, closes=closes)
        for day in range(4)
        for opens, closes in (("08:00", "12:00"), ("13:30", "17:30"))
    ] + [OpeningSlot(weekday=4, opens="08:00", closes="12:00")]
    assert entry.opening_hours == expected
    assert entry.url == raw["url_service_public"]
    # "31/01/2024 14:25:10" in Paris (winter, UTC+1)
    assert entry.provenance.remote_updated_at == datetime(2024, 1, 31, 13, 25, 10, tzinfo=UTC)
    assert entry.updated_at == entry.provenance.remote_updated_at
    assert entry.provenance.remote_id == EPCI_ID
    assert entry.provenance.licence is not None
    assert "DILA" in entry.provenance.licence


def test_export_record_with_real_arrays_maps() -> None:
    raw = load(EXPORT)["service"][0]
    entry = only_entry(harvest(ServicePublicSource.from_file(EXPORT)).entries)
    assert entry.entry_id == f"service-public:{MAIRIE_ID}"
    assert entry.title == raw["nom"] == "Mairie - Fontaine-le-Port"
    assert (entry.source_type, entry.policy_area) == ("mairie", "Administration locale")
    assert entry.commune_codes == ["77188"]
    assert entry.departement_codes == ["77"]
    assert entry.address is not None
    assert entry.address.lines == ["3 rue du Général-Roux"]
    assert entry.address.postal_code == "77590"
    assert entry.point == GeoPoint(lat=48.4868011475, lon=2.75745010376)
    assert entry.contacts == [
        Contact(kind="phone", value="+33 1 64 38 30 52"),
        Contact(kind="fax", value="+33 1 64 38 36 07"),
        Contact(kind="email", value="mairie-xxxxx@yyyy.fr"),
        Contact(kind="website", value="http://www.ville-fontaineleport.fr"),
    ]
    note = "Accueil ouvert uniquement hors vacances scolaires l'après-midi."
    assert entry.opening_hours == [
        OpeningSlot(weekday=1, opens="09:00", closes="12:00", note=note),
        OpeningSlot(weekday=1, opens="18:00", closes="19:00", note=note),
        OpeningSlot(weekday=2, opens="09:00", closes="12:00"),
        OpeningSlot(weekday=4, opens="09:00", closes="12:00"),
    ]
    # "09/08/2023 13:30:19" in Paris (summer, UTC+2)
    assert entry.updated_at == datetime(2023, 8, 9, 11, 30, 19, tzinfo=UTC)


def as_api_encoding(record: dict[str, Any]) -> dict[str, Any]:
    """The export record re-encoded the way the API serves it: JSON text, null for empty."""
    encoded: dict[str, Any] = {}
    for key, value in record.items():
        if value in ("", []):
            encoded[key] = None
        elif isinstance(value, list) and key != "adresse_courriel":
            encoded[key] = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, list):
            encoded[key] = value[0]
        else:
            encoded[key] = value
    return encoded


def test_both_encodings_give_the_same_entry(tmp_path: Any) -> None:
    record = load(EXPORT)["service"][0]
    path = tmp_path / "api_page.json"
    page = {"total_count": 1, "results": [as_api_encoding(record)]}
    path.write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")
    from_export = only_entry(harvest(ServicePublicSource.from_file(EXPORT)).entries)
    from_api = only_entry(harvest(ServicePublicSource.from_file(path)).entries)
    assert from_api == from_export


def test_jsonl_and_plain_array_files(tmp_path: Any) -> None:
    record = load(EXPORT)["service"][0]
    lines = tmp_path / "export.jsonl"
    lines.write_text(json.dumps(record, ensure_ascii=False) + "\n\n{not json\n", encoding="utf-8")
    result = harvest(ServicePublicSource.from_file(lines))
    assert list(result.entries) == [f"service-public:{MAIRIE_ID}"]
    assert [b.reason for b in result.broken] == [
        "export.jsonl line 3 is not valid JSON (Expecting property name enclosed in double quotes)"
    ]
    array = tmp_path / "export_array.json"
    array.write_text(json.dumps([record], ensure_ascii=False), encoding="utf-8-sig")  # with BOM
    assert list(harvest(ServicePublicSource.from_file(array)).entries) == [
        f"service-public:{MAIRIE_ID}"
    ]


def test_empty_api_result() -> None:
    result = harvest(
        ServicePublicSource.from_file(SERVICE_PUBLIC / "api_lannuaire_records_empty_result.json")
    )
    assert not (result.outputs)
    assert not (result.broken)
    assert not (result.records)


def test_every_trap_has_a_clear_reason_and_the_rest_maps() -> None:
    result = harvest(ServicePublicSource.from_file(SERVICE_PUBLIC / "derived_export_traps.json"))
    prefix = MAIRIE_ID[:-4]
    assert sorted(result.entries) == sorted(
        [f"service-public:{MAIRIE_ID}", f"service-public:{prefix}00a8"]
    )
    assert result.invalid == {
        f"{prefix}00a1": "record has no name (nom)",
        f"{prefix}00a2": "Adresse coordinates: latitude is not a number: '48°29\\'12\" N'",
        f"{prefix}00a3": "Adresse coordinates: point lat=2.75745010376, lon=48.4868011475 is "
        "outside France and its overseas territories (latitude and longitude look swapped)",
        f"{prefix}00a4": "malformed opening hours: opening range #2: unknown day name "
        "'Mercrdi' (expected Lundi … Dimanche)",
        f"{prefix}00a5": "malformed opening hours: opening range #1, slot 2: opening or "
        "closing time is missing",
        f"{prefix}00a6": "unknown office type 'marie': not in policy_areas.SERVICE_PUBLIC_TYPES "
        "(add it there if it is a real type of the Annuaire)",
    }
    assert result.skipped == {f"{prefix}00a7": "not published (statut_de_diffusion is 'false')"}
    assert [b.reason for b in result.broken] == [
        "derived_export_traps.json record #10: record without id (Mairie - Fontaine-le-Port)"
    ]
    typo = result.entries[f"service-public:{prefix}00a8"]
    assert typo.address is not None
    assert typo.address.postal_code is None
    assert typo.address.city == "Fontaine-le-Port"
    assert typo.point is None  # coordinates "" mean no point


def test_api_encoded_traps() -> None:
    result = harvest(
        ServicePublicSource.from_file(SERVICE_PUBLIC / "derived_api_records_traps.json")
    )
    prefix = EPCI_ID[:-4]
    assert list(result.entries) == [f"service-public:{EPCI_ID}"]
    assert result.invalid[f"{prefix}8e40"].startswith(
        "field 'plage_ouverture' holds malformed JSON text: "
    )
    assert result.invalid[f"{prefix}8e41"] == (
        "malformed opening hours: opening range #1, slot 2: closes at 13:30, "
        "not after it opens (17:30)"
    )
    assert "point lat=0.0, lon=0.0 is outside France" in result.invalid[f"{prefix}8e42"]


def test_truncated_export_keeps_the_complete_records() -> None:
    result = harvest(
        ServicePublicSource.from_file(SERVICE_PUBLIC / "derived_export_truncated.json")
    )
    assert list(result.entries) == [f"service-public:{MAIRIE_ID}"]
    assert [b.reason for b in result.broken] == [
        "derived_export_truncated.json is truncated after record #1: "
        "the JSON ends before it is complete"
    ]


def test_latin1_export_is_a_broken_record() -> None:
    result = harvest(ServicePublicSource.from_file(SERVICE_PUBLIC / "derived_export_latin1.json"))
    assert not result.outputs
    assert len(result.broken) == 1
    reason = result.broken[0].reason
    assert reason.startswith("derived_export_latin1.json is not valid UTF-8 before its first")
    assert "Latin-1" in reason


def test_not_a_service_file(tmp_path: Any) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"total": 3, "data": []}', encoding="utf-8")
    [broken] = list(ServicePublicSource.from_file(path).list_records())
    assert isinstance(broken, BrokenRecord)
    assert "neither an export" in broken.reason


# --- territory and policy areas -----------------------------------------------------------


def territory(*communes: tuple[str, str | None, str | None]) -> Territory:
    return Territory(
        code="test",
        name="Test",
        commune_codes=frozenset(c for c, _, _ in communes),
        commune_parents={c: (e, d) for c, e, d in communes},
    )


def test_records_outside_the_territory_are_skipped() -> None:
    # Aups (83007) is the seat of the CC Lacs et Gorges du Verdon, SIREN 200040210 (the record's)
    inside = territory(("83007", "200040210", "83"))
    entry = only_entry(harvest(ServicePublicSource.from_file(API_PAGE), context(inside)).entries)
    assert entry.epci_codes == ["200040210"]
    assert entry.departement_codes == ["83"]
    result = harvest(ServicePublicSource.from_file(EXPORT), context(inside))
    assert not result.outputs
    assert result.skipped[MAIRIE_ID] == (
        "office outside territory test (commune 77188; serves 1 commune(s), none in the territory)"
    )


def test_an_office_serving_the_territory_is_kept(tmp_path: Any) -> None:
    record = load(EXPORT)["service"][0]
    record["pivot"][0]["code_insee_commune"] = ["77188", "77186"]  # DERIVED: a second commune
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"service": [record]}, ensure_ascii=False), encoding="utf-8")
    served = territory(("77186", None, "77"))
    entry = only_entry(harvest(ServicePublicSource.from_file(path), context(served)).entries)
    assert entry.commune_codes == ["77188", "77186"]


def test_tenant_overrides_the_policy_area() -> None:
    ctx = context(overrides={"epci": "Démarches et état civil"})
    entry = only_entry(harvest(ServicePublicSource.from_file(API_PAGE), ctx).entries)
    assert entry.policy_area == "Démarches et état civil"
    ctx = context(overrides={"epci": None})
    assert (
        only_entry(harvest(ServicePublicSource.from_file(API_PAGE), ctx).entries).policy_area
        is None
    )


def test_local_dates() -> None:
    assert parse_local_datetime("31/01/2024 14:25:10") == datetime(
        2024, 1, 31, 13, 25, 10, tzinfo=UTC
    )
    assert parse_local_datetime("09/08/2023") == datetime(2023, 8, 8, 22, 0, tzinfo=UTC)
    assert parse_local_datetime("") is None
    assert parse_local_datetime(None) is None
    for bad in ("2024-01-31 14:25:10", "31/02/2024 10:00:00", "31/01/24"):
        with pytest.raises(Exception, match="date"):
            parse_local_datetime(bad)


# --- API paging --------------------------------------------------------------------------


def epci_copies(count: int, start: int = 0) -> list[dict[str, Any]]:
    """The real EPCI record with derived ids, as many as a page needs."""
    epci = load(API_PAGE)["results"][0]
    return [{**epci, "id": f"{EPCI_ID[:-6]}{n:06d}"} for n in range(start, start + count)]


def test_api_pages_through_offset_and_limit() -> None:
    fetcher = FakeFetcher()
    where = commune_where(["83007"])
    for offset, count in ((0, 100), (100, 100), (200, 50)):
        fetcher.add(
            RECORDS_URL,
            {"limit": 100, "offset": offset, "where": where, "order_by": "id"},
            {"total_count": 250, "results": epci_copies(count, offset)},
        )
    source = ServicePublicSource.from_api(fetcher, commune_codes=["83007"])
    records = list(source.list_records())
    assert len(records) == 250
    assert all(isinstance(r, RawRecord) for r in records)
    assert [params["offset"] for _, params in fetcher.calls] == [0, 100, 200]
    assert where == 'code_insee_commune="83007"'


def test_api_stops_at_the_offset_window() -> None:
    fetcher = FakeFetcher()
    page_size = 30
    for offset in range(0, API_WINDOW, page_size):
        limit = min(page_size, API_WINDOW - offset)
        fetcher.add(
            RECORDS_URL,
            {"limit": limit, "offset": offset, "order_by": "id"},
            {"total_count": 12_345, "results": epci_copies(limit, offset)},
        )
    source = ServicePublicSource(fetcher=fetcher, page_size=page_size)
    records = list(source.list_records())
    assert sum(isinstance(r, RawRecord) for r in records) == API_WINDOW
    assert all(p["offset"] + p["limit"] <= API_WINDOW for _, p in fetcher.calls)  # type: ignore[operator]
    assert fetcher.calls[-1][1] == {"limit": 10, "offset": 9990, "order_by": "id"}
    broken = records[-1]
    assert isinstance(broken, BrokenRecord)
    assert broken.reason == (
        "the API lists 12345 records for where=None but only the first 10000 can be paged: "
        "narrow the filter or use the export"
    )


def test_api_empty_result_and_commune_batches() -> None:
    fetcher = FakeFetcher()
    empty = load(SERVICE_PUBLIC / "api_lannuaire_records_empty_result.json")
    codes = ["64445", "64102", "64348"]  # Pau, Billère, Lescar
    first = 'code_insee_commune="64102" or code_insee_commune="64348"'
    second = 'code_insee_commune="64445"'
    for where in (first, second):
        fetcher.add(
            RECORDS_URL, {"limit": 100, "offset": 0, "where": where, "order_by": "id"}, empty
        )
    source = ServicePublicSource.from_api(fetcher, commune_codes=codes, codes_per_query=2)
    assert list(source.list_records()) == []
    assert [p["where"] for _, p in fetcher.calls] == [first, second]


def test_api_other_host_dedupe_and_bad_pages() -> None:
    host = "https://api-lannuaire.service-public.fr/api/explore/v2.1"
    url = f"{host}/catalog/datasets/api-lannuaire-administration/records"
    fetcher = FakeFetcher()
    page = {"total_count": 1, "results": epci_copies(1)}
    for where in ('code_insee_commune="83007"', 'code_insee_commune="83008"'):
        fetcher.add(url, {"limit": 100, "offset": 0, "where": where, "order_by": "id"}, page)
    source = ServicePublicSource.from_api(
        fetcher, base_url=host, commune_codes=["83007", "83008"], codes_per_query=1
    )
    assert len(list(source.list_records())) == 1  # the same office listed by two queries

    fetcher = FakeFetcher()
    fetcher.add(RECORDS_URL, {"limit": 100, "offset": 0, "order_by": "id"}, {"error": "quota"})
    [broken] = list(ServicePublicSource(fetcher=fetcher).list_records())
    assert isinstance(broken, BrokenRecord)
    assert broken.reason == "API page at offset 0 has no results list"


def test_api_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="page_size"):
        ServicePublicSource(fetcher=FakeFetcher(), page_size=101)
    with pytest.raises(ValueError, match="INSEE"):
        ServicePublicSource.from_api(FakeFetcher(), commune_codes=["6445"])
    with pytest.raises(ValueError, match="either"):
        ServicePublicSource()
