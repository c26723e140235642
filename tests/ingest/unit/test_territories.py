"""geo.api.gouv.fr answers → TerritoryUpserted, and the tenant's Territory built from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citela_common.events.models import TerritoryLevel, TerritoryUpserted
from citela_ingest.records import RawRecord
from citela_ingest.sources.territories import (
    COMMUNE_FIELDS,
    TerritoriesSource,
    former_codes,
    plm_parent,
    territory_from,
)
from tests.ingest.unit.helpers import GEO, FakeFetcher, harvest, load

SAMPLES = sorted(p for p in GEO.glob("*.json") if not p.name.startswith("derived_"))
BODIES = [p for p in SAMPLES if not p.name.endswith(".http-meta.json")]


@pytest.mark.parametrize("path", BODIES, ids=lambda p: p.name)
def test_every_sample_maps_field_by_field(path: Path) -> None:
    raw_items = load(path)
    result = harvest(TerritoriesSource.from_path(path))
    assert not result.broken
    assert not result.invalid
    assert not result.skipped
    assert len(result.outputs) == len(raw_items)
    for raw, out in zip(raw_items, result.outputs, strict=True):
        assert isinstance(out, TerritoryUpserted)
        assert (out.code, out.name) == (raw["code"], raw["nom"])
        assert out.version == 0
        assert out.provenance.source == "territories"
        assert out.provenance.remote_id == f"{out.level.value}:{raw['code']}"
        if "population" in raw:
            assert out.population == raw["population"]
        if "codesPostaux" in raw:
            assert out.postal_codes == raw["codesPostaux"]
        if out.level in (TerritoryLevel.COMMUNE, TerritoryLevel.ARRONDISSEMENT):
            assert out.departement_codes == [raw["codeDepartement"]]
            assert out.region_code == raw["codeRegion"]
            assert out.epci_code == raw.get("codeEpci")


def test_levels_are_recognised_from_default_fields() -> None:
    levels = {
        "regions.json": {TerritoryLevel.REGION: 18},
        "departements_zone_metro_drom_com.json": {TerritoryLevel.DEPARTEMENT: 109},
        "epcis_codeDepartement_01.json": {TerritoryLevel.EPCI: 17},
        "communes_codeDepartement_60.json": {TerritoryLevel.COMMUNE: 679},
        "communes_codeDepartement_75_with_arrondissements.json": {
            TerritoryLevel.COMMUNE: 1,
            TerritoryLevel.ARRONDISSEMENT: 20,
        },
        "communes_nom_Coye-la-Foret.json": {TerritoryLevel.COMMUNE: 1},
    }
    for name, expected in levels.items():
        outputs = harvest(TerritoriesSource.from_path(GEO / name)).territories.values()
        counts: dict[TerritoryLevel, int] = {}
        for out in outputs:
            counts[out.level] = counts.get(out.level, 0) + 1
        assert counts == expected, name


def test_paris_arrondissements_have_their_parent_and_no_epci() -> None:
    result = harvest(
        TerritoriesSource.from_path(GEO / "communes_codeDepartement_75_with_arrondissements.json")
    )
    paris = result.territories["commune:75056"]
    assert (paris.name, paris.epci_code, paris.population) == ("Paris", "200054781", 2165423)
    assert len(paris.postal_codes) == 21
    arrondissements = [
        t for t in result.territories.values() if t.level is TerritoryLevel.ARRONDISSEMENT
    ]
    assert [a.code for a in arrondissements] == [f"751{n:02d}" for n in range(1, 21)]
    assert all(a.parent_commune_code == "75056" and a.epci_code is None for a in arrondissements)
    seizieme = result.territories["arrondissement:75116"]
    assert seizieme.name == "Paris 16e Arrondissement"
    assert seizieme.postal_codes == ["75016", "75116"]
    assert seizieme.departement_codes == ["75"]
    assert seizieme.region_code == "11"


def test_plm_parents() -> None:
    assert plm_parent("75120") == "75056"
    assert plm_parent("69381") == "69123"
    assert plm_parent("13216") == "13055"
    assert plm_parent("75121") is None
    assert plm_parent("64445") is None  # Pau: a commune like any other


def test_corsica_and_overseas_departements() -> None:
    result = harvest(TerritoriesSource.from_path(GEO / "departements_zone_metro_drom_com.json"))
    deps = result.territories
    assert deps["departement:2A"].name == "Corse-du-Sud"
    assert deps["departement:2B"].region_code == "94"
    assert deps["departement:971"].region_code == "01"
    assert deps["departement:976"].name == "Mayotte"
    assert deps["departement:975"].region_code == "975"  # a COM is its own "région"
    assert deps["departement:64"].name == "Pyrénées-Atlantiques"


def test_epci_spanning_departements_and_regions() -> None:
    epcis = harvest(TerritoriesSource.from_path(GEO / "epcis_codeDepartement_01.json")).territories
    villefranche = epcis["epci:200040590"]
    assert villefranche.name == "CA Villefranche Beaujolais Saône"
    assert villefranche.departement_codes == ["01", "69"]
    assert villefranche.region_code == "84"
    maconnais = epcis["epci:200070308"]
    assert maconnais.departement_codes == ["01", "71"]
    assert maconnais.region_code is None  # two régions: none is "the" région
    assert maconnais.population == 78281


def test_a_folder_lists_each_territory_once() -> None:
    source = TerritoriesSource(
        paths=[GEO / "communes_codeDepartement_60.json", GEO / "communes_nom_Coye-la-Foret.json"]
    )
    records = [r for r in source.list_records() if isinstance(r, RawRecord)]
    assert len(records) == 679  # Coye-la-Forêt (60172) is in both answers
    folder = harvest(TerritoriesSource.from_path(GEO))
    assert "commune:60172" in folder.territories  # http-meta header files are not read


def test_traps_are_reported_and_the_rest_maps() -> None:
    result = harvest(TerritoriesSource.from_path(GEO / "derived_communes_traps.json"))
    assert list(result.territories) == ["commune:60001"]
    assert result.territories["commune:60001"].name == "Abancourt"
    assert "has no name" in result.invalid["commune:60002"]
    assert "population is not a whole number: '405'" in result.invalid["commune:60004"]
    assert "'6005' is not an INSEE code" in result.invalid["commune:6005"]
    assert [b.reason for b in result.broken] == [
        "derived_communes_traps.json: item #5 is not a JSON object"
    ]
    truncated = harvest(TerritoriesSource.from_path(GEO / "derived_regions_truncated.json"))
    assert not truncated.outputs
    assert len(truncated.broken) == 1
    assert "is truncated" in truncated.broken[0].reason


# --- the tenant's territory --------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_territories() -> list[TerritoryUpserted]:
    outputs = harvest(TerritoriesSource.from_path(GEO)).outputs
    return [o for o in outputs if isinstance(o, TerritoryUpserted)]


def test_territory_of_a_departement(all_territories: list[TerritoryUpserted]) -> None:
    raw = load(GEO / "communes_codeDepartement_60.json")
    oise = territory_from(all_territories, "60")
    assert oise.name == "Oise"
    assert oise.commune_codes == {c["code"] for c in raw}
    assert oise.epci_codes == {c["codeEpci"] for c in raw}
    assert oise.departement_codes == {"60"}
    assert oise.commune_parents["60001"] == ("246000848", "60")
    assert oise.covers("60172")
    assert not oise.covers("75056")
    assert not oise.covers(None)


def test_territory_of_an_epci(all_territories: list[TerritoryUpserted]) -> None:
    raw = load(GEO / "communes_codeDepartement_60.json")
    expected = {c["code"] for c in raw if c["codeEpci"] == "246000848"}
    epci = territory_from(all_territories, "246000848", name="CC de la Picardie Verte")
    assert epci.code == "246000848"
    assert epci.name == "CC de la Picardie Verte"
    assert epci.commune_codes == expected
    assert len(expected) > 50
    assert epci.epci_codes == {"246000848"}
    # without a name and without the EPCI in the outputs, the label says what it is
    assert territory_from(all_territories, "epci:246000848").name == "epci 246000848"


def test_territory_of_a_commune_and_of_paris(all_territories: list[TerritoryUpserted]) -> None:
    coye = territory_from(all_territories, "60172")
    assert (coye.name, coye.commune_codes) == ("Coye-la-Forêt", frozenset({"60172"}))
    assert coye.commune_parents == {"60172": ("246000764", "60")}
    paris = territory_from(all_territories, "75056")
    assert len(paris.commune_codes) == 21  # the commune and its 20 arrondissements
    assert paris.commune_parents["75113"] == ("200054781", "75")
    assert paris.epci_codes == {"200054781"}
    treizieme = territory_from(all_territories, "75113")
    assert treizieme.name == "Paris 13e Arrondissement"
    assert treizieme.commune_parents == {"75113": ("200054781", "75")}


def test_territory_of_a_region_needs_its_prefix(all_territories: list[TerritoryUpserted]) -> None:
    hauts_de_france = territory_from(all_territories, "region:32")
    assert hauts_de_france.name == "Hauts-de-France"
    assert "60172" in hauts_de_france.commune_codes
    assert territory_from(all_territories, "departement:75").name == "Paris"


def test_a_territory_without_data_is_an_error_not_a_guess(
    all_territories: list[TerritoryUpserted],
) -> None:
    # the Pau agglomeration (SIREN 200067254, département 64): no commune recorded yet
    with pytest.raises(LookupError, match="200067254"):
        territory_from(all_territories, "200067254")
    with pytest.raises(LookupError, match="departement 64"):
        territory_from(all_territories, "64")
    with pytest.raises(ValueError, match="not a commune, EPCI or département code"):
        territory_from(all_territories, "Pau")


def test_former_communes_map_to_their_current_commune(tmp_path: Path) -> None:
    # as geo.api answers /communes_associees_deleguees for Saint-Agnant-sous-les-Côtes (Meuse),
    # and /communes/55012 for the commune it joined
    former = {
        "nom": "Saint-Agnant-sous-les-Côtes",
        "code": "55451",
        "type": "commune-associee",
        "chefLieu": "55012",
        "codeDepartement": "55",
        "codeRegion": "44",
    }
    apremont = {
        "nom": "Apremont-la-Forêt",
        "code": "55012",
        "codeDepartement": "55",
        "codeRegion": "44",
        "codesPostaux": ["55300"],
    }
    path = tmp_path / "meuse.json"
    path.write_text(json.dumps([former, apremont]), encoding="utf-8")
    source = TerritoriesSource.from_path(path)
    result = harvest(source)
    assert list(result.territories) == ["commune:55012"]
    assert result.skipped == {
        "former:55451": "55451 (Saint-Agnant-sous-les-Côtes) is a former commune "
        "(commune-associee) now part of commune 55012: kept as an old-code mapping, "
        "not as a territory"
    }
    mapping = former_codes(source.list_records())
    assert mapping == {"55451": "55012"}
    territory = territory_from(result.outputs, "55012", former=mapping)
    assert territory.covers("55451")
    assert territory.covers("55012")
    assert territory.commune_parents["55451"] == territory.commune_parents["55012"] == (None, "55")
    # without the mapping, the old code is simply unknown
    assert not territory_from(result.outputs, "55012").covers("55451")


# --- from the API ----------------------------------------------------------------------------


def test_api_queries_for_a_departement_and_an_epci() -> None:
    base = "https://geo.example.test/"
    fetcher = FakeFetcher()
    fetcher.add(f"{base}regions", {"fields": "nom,code"}, load(GEO / "regions.json"))
    fetcher.add(
        f"{base}departements",
        {"fields": "nom,code,codeRegion", "zone": "metro,drom,com"},
        load(GEO / "departements_zone_metro_drom_com.json"),
    )
    fetcher.add(
        f"{base}departements/75/communes",
        {"fields": COMMUNE_FIELDS, "type": "commune-actuelle,arrondissement-municipal"},
        load(GEO / "communes_codeDepartement_75_with_arrondissements.json"),
    )
    epci_fields = "nom,code,codesDepartements,codesRegions,population,centre"
    fetcher.add(f"{base}epcis", {"codeDepartement": "75", "fields": epci_fields}, [])
    fetcher.add(
        f"{base}communes_associees_deleguees",
        {"codeDepartement": "75", "fields": "nom,code,type,chefLieu,codeDepartement,codeRegion"},
        [],
    )
    villefranche = next(
        e for e in load(GEO / "epcis_codeDepartement_01.json") if e["code"] == "200040590"
    )
    fetcher.add(f"{base}epcis/200040590", {"fields": epci_fields}, villefranche)
    fetcher.add(f"{base}epcis/200040590/communes", {"fields": COMMUNE_FIELDS}, None)  # 304

    source = TerritoriesSource.from_api(
        fetcher, base_url=base, departement_codes=["75"], epci_codes=["200040590"]
    )
    result = harvest(source)
    assert not result.broken
    assert not result.invalid
    assert len(result.outputs) == 18 + 109 + 21 + 1
    assert result.territories["epci:200040590"].departement_codes == ["01", "69"]
    assert [url for url, _ in fetcher.calls] == [
        f"{base}regions",
        f"{base}departements",
        f"{base}departements/75/communes",
        f"{base}epcis",
        f"{base}communes_associees_deleguees",
        f"{base}epcis/200040590",
        f"{base}epcis/200040590/communes",
    ]


def test_api_refuses_malformed_codes() -> None:
    with pytest.raises(ValueError, match="département"):
        TerritoriesSource.from_api(FakeFetcher(), departement_codes=["640"])
    with pytest.raises(ValueError, match="SIREN"):
        TerritoriesSource.from_api(FakeFetcher(), epci_codes=["20006725"])
    with pytest.raises(ValueError, match="INSEE"):
        TerritoriesSource.from_api(FakeFetcher(), commune_codes=["6445"])
