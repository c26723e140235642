"""Shared helpers: phones, points in France, codes, loose list fields, JSON files."""

from __future__ import annotations

import pytest

from citela_common.events.models import GeoPoint
from citela_ingest.records import InvalidRecord
from citela_ingest.sources.common import (
    JsonFileError,
    as_list,
    departement_of,
    france_area,
    is_departement_code,
    load_json_bytes,
    normalise_phone,
    parse_point,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("04 94 70 00 00", "+33 4 94 70 00 00"),
        ("01.64.38.30.52", "+33 1 64 38 30 52"),
        ("+33 (0)5 59 27 85 80", "+33 5 59 27 85 80"),
        ("0033 559278580", "+33 5 59 27 85 80"),
        ("+33 2 14 14 13 60", "+33 2 14 14 13 60"),
        ("0590 99 39 00", "+590 590 99 39 00"),  # Guadeloupe
        ("0692 12 34 56", "+262 692 12 34 56"),  # La Réunion, mobile
        ("3939", "3939"),
        ("  05 59   27 85 80 (standard) ", "05 59 27 85 80 (standard)"),
        ("+41 22 123 45 67", "+41 22 123 45 67"),
    ],
)
def test_phones(given: str, expected: str) -> None:
    assert normalise_phone(given) == expected


def test_points_in_france_and_overseas() -> None:
    assert parse_point("43.295", "-0.3708") == GeoPoint(lat=43.295, lon=-0.3708)  # Pau
    assert france_area(41.9192, 8.7386) == "Corse"  # Ajaccio
    assert france_area(16.2411, -61.5331) is not None  # Pointe-à-Pitre
    assert france_area(-20.8789, 55.4481) == "La Réunion"  # Saint-Denis
    assert france_area(-12.7806, 45.2278) == "Mayotte"
    assert france_area(4.9372, -52.326) == "Guyane"
    assert france_area(-22.2758, 166.458) == "Nouvelle-Calédonie"
    assert parse_point("43,295", "-0,3708") == GeoPoint(lat=43.295, lon=-0.3708)
    assert parse_point("", "") is None
    assert parse_point(None, None) is None
    with pytest.raises(InvalidRecord, match="is missing"):
        parse_point("43.295", "")
    with pytest.raises(InvalidRecord, match="latitude is not a number"):
        parse_point("N43", "-0.37")
    with pytest.raises(InvalidRecord, match=r"outside France .*swapped"):
        parse_point("-0.3708", "43.295")
    with pytest.raises(InvalidRecord, match="outside France"):
        parse_point(51.5072, -0.1276)  # London


def test_codes() -> None:
    assert departement_of("64445") == "64"
    assert departement_of("2A004") == "2A"
    assert departement_of("97411") == "974"
    assert departement_of("98818") == "988"
    assert departement_of("6445") is None
    assert all(is_departement_code(c) for c in ("01", "2A", "2B", "64", "95", "971", "976", "988"))
    assert not any(is_departement_code(c) for c in ("20", "96", "00", "979", "1"))


def test_list_fields_in_both_encodings() -> None:
    assert as_list(None) == []
    assert as_list("") == []
    assert as_list([]) == []
    assert as_list('[{"valeur": "04 94 70 00 00"}]') == [{"valeur": "04 94 70 00 00"}]
    assert as_list('{"valeur": "x"}') == [{"valeur": "x"}]
    assert as_list("https://www.pau.fr") == ["https://www.pau.fr"]
    with pytest.raises(InvalidRecord, match="'telephone' holds malformed JSON text"):
        as_list('[{"valeur": ', field="telephone")


def test_json_files() -> None:
    assert load_json_bytes(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # BOM
    with pytest.raises(JsonFileError, match="truncated"):
        load_json_bytes(b'[{"nom": "Pau"}, {"nom": "Bill')
    with pytest.raises(JsonFileError, match=r"not valid UTF-8 .*Latin-1"):
        load_json_bytes('[{"nom": "Billère"}]'.encode("latin-1"))
    with pytest.raises(JsonFileError, match="not valid JSON"):
        load_json_bytes(b'[{"nom": Pau}]')
    with pytest.raises(JsonFileError, match="empty"):
        load_json_bytes(b"  ")
