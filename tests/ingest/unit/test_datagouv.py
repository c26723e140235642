"""data.gouv.fr datasets: mapping, traps, territory, next_page paging."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from citela_common.events.models import Contact, EntryKind
from citela_ingest.records import BrokenRecord, RawRecord, Territory
from citela_ingest.sources.datagouv import (
    LICENCE_TITLES,
    DatagouvSource,
    geozone_code,
    geozones_for,
)
from tests.ingest.unit.helpers import DATAGOUV, FakeFetcher, context, harvest, load

DATASET = DATAGOUV / "datagouv_client_tests_dataset_metadata.json"
LEGACY = DATAGOUV / "legacy2020_api1_dataset_multiple_communes.json"
API = "https://www.data.gouv.fr/api/1/datasets/"


def test_dataset_maps_field_by_field() -> None:
    raw = load(DATASET)
    result = harvest(DatagouvSource.from_file(DATASET))
    assert not (result.broken)
    assert not (result.invalid)
    assert not (result.skipped)
    entry = result.entries["datagouv:5d13a8b6634f41070a43dff3"]
    assert entry.kind is EntryKind.DATASET
    assert entry.title == raw["title"] == "Catalogue des données de data.gouv.fr"
    assert entry.url == raw["page"]
    # Markdown bold and tab-indented list markers are gone; paragraphs and items stay apart
    assert "**" not in entry.description
    assert "\t" not in entry.description
    assert entry.description.startswith("La plateforme data.gouv.fr est le portail unique")
    assert (
        "\n\n- La liste des jeux de données publiés sur data.gouv.fr : pour chaque jeu"
        in entry.description
    )
    assert entry.description.endswith("mises à jour de manière hebdomadaire.")
    assert entry.source_type is None
    assert entry.policy_area is None
    assert entry.commune_codes == []
    assert entry.epci_codes == []
    assert entry.contacts == [
        Contact(
            kind="website",
            value="https://www.data.gouv.fr/fr/organizations/data-gouv-fr/",
            label="data.gouv.fr",
        )
    ]
    # last_update (data), not last_modified (metadata)
    assert entry.updated_at == datetime(2025, 4, 7, 8, 15, 30, 581000, tzinfo=UTC)
    assert entry.provenance.licence == "Licence Ouverte / Open Licence version 2.0"
    assert entry.provenance.remote_id == raw["id"]


def test_legacy_geozones_lose_their_date_suffix() -> None:
    result = harvest(DatagouvSource.from_file(LEGACY))
    entry = result.entries["datagouv:5e25b4afdc47091fd5c0e986"]
    assert entry.commune_codes == ["36044", "36063"]  # from fr:commune:36044@1943-01-01
    assert entry.departement_codes == []
    assert entry.description == "pouet"
    assert entry.provenance.licence == "License Not Specified"
    assert entry.updated_at == datetime(2020, 1, 20, 15, 10, 42, tzinfo=UTC)  # naive → UTC
    assert geozone_code("fr:commune:36044@1943-01-01") == ("commune", "36044")
    assert geozone_code("country:fr") == ("country", "fr")
    assert geozone_code("nonsense") is None


def test_licence_titles_match_the_licence_list() -> None:
    published = {lic["id"]: lic["title"] for lic in load(DATAGOUV / "api1_datasets_licenses.json")}
    assert dict(LICENCE_TITLES) == published


def test_traps_in_a_page() -> None:
    result = harvest(DatagouvSource.from_file(DATAGOUV / "derived_datasets_page_traps.json"))
    assert sorted(result.entries) == [
        "datagouv:5d13a8b6634f41070a43dff3",
        "datagouv:5e25b4afdc47091fd5c0e986",
    ]
    assert result.skipped == {
        "5e25b4afdc47091fd5c0e9a1": "dataset is deleted (2020-02-01T10:00:00)",
        "5e25b4afdc47091fd5c0e9a2": "dataset is archived (2021-03-01T10:00:00)",
        "5e25b4afdc47091fd5c0e9a3": "dataset is private",
    }
    assert result.invalid == {
        "5e25b4afdc47091fd5c0e9a4": "dataset has no title",
        "5e25b4afdc47091fd5c0e9a5": "geozone 'fr:commune:3604' has a malformed commune code",
    }


def test_truncated_file_and_empty_page() -> None:
    result = harvest(DatagouvSource.from_file(DATAGOUV / "derived_dataset_truncated.json"))
    assert not result.records
    assert [b.reason.split(":")[0] for b in result.broken] == [
        "derived_dataset_truncated.json is truncated"
    ]
    empty = harvest(
        DatagouvSource.from_file(DATAGOUV / "legacy2020_api1_community_resources_empty_page.json")
    )
    assert not (empty.records)
    assert not (empty.broken)


def test_territory_filter_and_parents() -> None:
    berry = Territory(
        code="36044",
        name="test",
        commune_codes=frozenset({"36044"}),
        commune_parents={"36044": ("200000000", "36")},
    )
    entry = harvest(DatagouvSource.from_file(LEGACY), context(berry)).entries[
        "datagouv:5e25b4afdc47091fd5c0e986"
    ]
    assert entry.epci_codes == ["200000000"]
    assert entry.departement_codes == ["36"]
    elsewhere = Territory(code="60", name="Oise", commune_codes=frozenset({"60172"}))
    result = harvest(DatagouvSource.from_file(LEGACY), context(elsewhere))
    assert result.skipped == {
        "5e25b4afdc47091fd5c0e986": "dataset zones (commune:36044, commune:36063) are outside "
        "territory 60"
    }
    # no zone at all: the query (the tenant's geozone or organisation) chose it
    assert (
        "datagouv:5d13a8b6634f41070a43dff3"
        in harvest(DatagouvSource.from_file(DATASET), context(elsewhere)).entries
    )


def test_policy_area_from_tags(tmp_path: Any) -> None:
    dataset = copy.deepcopy(load(LEGACY))
    dataset["tags"] = ["open-data", "transports-en-commun", "budget"]
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(dataset), encoding="utf-8")
    entry = harvest(DatagouvSource.from_file(path)).entries["datagouv:5e25b4afdc47091fd5c0e986"]
    assert (entry.source_type, entry.policy_area) == ("transport", "Mobilité et transports")


def page(items: list[dict[str, Any]], next_page: str | None, total: int) -> dict[str, Any]:
    return {
        "data": items,
        "next_page": next_page,
        "page": 1,
        "page_size": 2,
        "previous_page": None,
        "total": total,
    }


def copies(count: int, start: int = 0) -> list[dict[str, Any]]:
    legacy = load(LEGACY)
    return [{**legacy, "id": f"5e25b4afdc47091fd5c0{n:04x}"} for n in range(start, start + count)]


def test_api_follows_next_page_until_null() -> None:
    fetcher = FakeFetcher()
    second = f"{API}?geozone=fr%3Acommune%3A36044&sort=-last_update&page_size=2&page=2"
    third = f"{API}?geozone=fr%3Acommune%3A36044&sort=-last_update&page_size=2&page=3"
    query: dict[str, str | int] = {
        "geozone": "fr:commune:36044",
        "sort": "-last_update",
        "page_size": 2,
    }
    fetcher.add(API, query, page(copies(2), second, 5))
    fetcher.add(second, None, page(copies(2, 2), third, 5))
    fetcher.add(third, None, page(copies(1, 4), None, 5))
    fetcher.add(
        API,
        {"organization": "5abca8d588ee386ee6ece479", "sort": "-last_update", "page_size": 2},
        page(copies(1, 4), None, 1),  # also found by geozone: listed once
    )
    source = DatagouvSource.from_api(
        fetcher,
        geozones=["fr:commune:36044@1943-01-01"],
        organizations=["5abca8d588ee386ee6ece479"],
        page_size=2,
    )
    records = list(source.list_records())
    assert all(isinstance(r, RawRecord) for r in records)
    assert [r.remote_id for r in records if isinstance(r, RawRecord)] == [
        f"5e25b4afdc47091fd5c0{n:04x}" for n in range(5)
    ]
    assert [url for url, _ in fetcher.calls] == [API, second, third, API]


def test_api_empty_result_loop_and_bad_page() -> None:
    fetcher = FakeFetcher()
    query: dict[str, str | int] = {
        "geozone": "fr:commune:64445",
        "sort": "-last_update",
        "page_size": 100,
    }
    fetcher.add(API, query, load(DATAGOUV / "legacy2020_api1_community_resources_empty_page.json"))
    assert (
        list(DatagouvSource.from_api(fetcher, geozones=["fr:commune:64445"]).list_records()) == []
    )

    fetcher = FakeFetcher()
    again = f"{API}?page=2"
    fetcher.add(API, query, page(copies(1), again, 3))
    fetcher.add(again, None, page(copies(1, 1), again, 3))
    records = list(DatagouvSource.from_api(fetcher, geozones=["fr:commune:64445"]).list_records())
    assert isinstance(records[-1], BrokenRecord)
    assert records[-1].reason == f"next_page loops back to {again}"

    fetcher = FakeFetcher()
    fetcher.add(API, query, {"message": "Internal error"})
    [broken] = list(DatagouvSource.from_api(fetcher, geozones=["fr:commune:64445"]).list_records())
    assert isinstance(broken, BrokenRecord)
    assert "has no data list" in broken.reason


def test_geozones_for_a_territory() -> None:
    pau_like = Territory(
        code="200067254",
        name="Communauté d'agglomération Pau Béarn Pyrénées",
        commune_codes=frozenset({"64445", "64102"}),
        epci_codes=frozenset({"200067254"}),
        departement_codes=frozenset({"64"}),
    )
    assert geozones_for(pau_like) == [
        "fr:commune:64102",
        "fr:commune:64445",
        "fr:epci:200067254",
    ]
    assert geozones_for(pau_like, communes=False, departements=True)[-1] == "fr:departement:64"
    with pytest.raises(ValueError, match="geozone or organisation"):
        DatagouvSource.from_api(FakeFetcher())
