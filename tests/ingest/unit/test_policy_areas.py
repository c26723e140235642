"""The mapping table from source types to policy areas, and a tenant's overrides."""

from __future__ import annotations

import pytest

from citela_ingest.policy_areas import (
    DATAGOUV_KEYWORDS,
    DATATOURISME_CLASSES,
    DEFAULT_POLICY_AREAS,
    SERVICE_PUBLIC_TYPES,
    PolicyArea,
    datagouv_keyword,
    datatourisme_class,
    parse_policy_area,
    policy_area_for,
    policy_area_table,
)


def test_tables_do_not_collide_and_cover_the_types_of_the_notes() -> None:
    keys = [*SERVICE_PUBLIC_TYPES, *DATATOURISME_CLASSES, *DATAGOUV_KEYWORDS]
    assert len(keys) == len(set(keys)) == len(DEFAULT_POLICY_AREAS)
    for office in ("mairie", "ccas", "france_services", "caf", "cpam", "sip", "carsat"):
        assert office in SERVICE_PUBLIC_TYPES
    for office in ("mission_locale", "prefecture", "gendarmerie", "epci"):
        assert office in SERVICE_PUBLIC_TYPES
    assert SERVICE_PUBLIC_TYPES["ccas"] is PolicyArea.ACTION_SOCIALE
    assert SERVICE_PUBLIC_TYPES["gendarmerie"] is PolicyArea.SECURITE
    assert SERVICE_PUBLIC_TYPES["france_services"] is PolicyArea.DEMARCHES
    assert "marie" not in SERVICE_PUBLIC_TYPES  # the misspelling seen upstream stays unknown


def test_datatourisme_classes_pick_the_most_specific() -> None:
    restaurant = [
        "schema:FoodEstablishment",
        "schema:Restaurant",
        "FoodEstablishment",
        "PlaceOfInterest",
        "PointOfInterest",
        "Restaurant",
    ]
    assert datatourisme_class(restaurant) == "Restaurant"
    expo = [
        "schema:Event",
        "schema:ExhibitionEvent",
        "CulturalEvent",
        "EntertainmentAndEvent",
        "Exhibition",
        "PointOfInterest",
    ]
    assert datatourisme_class(expo) == "Exhibition"
    assert DATATOURISME_CLASSES["CulturalSite"] is PolicyArea.CULTURE
    assert DATATOURISME_CLASSES["SportsAndLeisurePlace"] is PolicyArea.SPORT
    assert datatourisme_class(["schema:Thing"]) is None


def test_datagouv_keywords() -> None:
    assert datagouv_keyword(["transports-en-commun"]) == "transport"
    assert datagouv_keyword(["Open Data", "Équipements sportifs"]) == "equipements-sportifs"
    assert datagouv_keyword([], "Budget primitif 2024 de la ville de Pau") == "budget"
    assert datagouv_keyword(["eau-potable"]) == "eau"
    assert datagouv_keyword(["eaux-usees"]) is None  # short keywords match whole words only
    assert datagouv_keyword([], "Catalogue des données de data.gouv.fr") is None


def test_tenant_overrides() -> None:
    table = policy_area_table(
        {"caf": "Santé", "Restaurant": "ECONOMIE_EMPLOI", "epci": None, "bibliotheque": "culture"}
    )
    assert table["caf"] == "Santé"
    assert table["Restaurant"] == "Économie et emploi"
    assert "epci" not in table
    assert table["bibliotheque"] == "Culture"
    assert table["mairie"] == "Administration locale"
    assert policy_area_for("epci", table) is None
    assert policy_area_for("epci", {}) == "Administration locale"  # no table: defaults
    assert policy_area_for(None, table) is None
    with pytest.raises(ValueError, match="unknown policy area 'Voirie'"):
        policy_area_table({"ddt": "Voirie"})
    assert policy_area_table({"ddt": "Voirie"}, allow_custom=True)["ddt"] == "Voirie"
    with pytest.raises(ValueError, match="empty"):
        policy_area_table({"ddt": " "})
    assert parse_policy_area("education et jeunesse") is PolicyArea.EDUCATION_JEUNESSE
