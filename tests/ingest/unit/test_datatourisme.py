"""DATAtourisme flux: places and events, seasons of opening hours, periods, traps."""

from __future__ import annotations

import shutil
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from citela_common.events.models import (
    Address,
    Contact,
    DateRange,
    EntryKind,
    GeoPoint,
)
from citela_ingest.records import BrokenRecord, Territory
from citela_ingest.sources.datatourisme import (
    DatatourismeSource,
    language_value,
    merge_periods,
    uuid_from_id,
)
from tests.ingest.unit.helpers import DATATOURISME, context, harvest, load

FLUX = DATATOURISME / "flux_layout"
RESTAURANT_UUID = "0049c43b-5087-3c44-87ef-349d316fc2b8"
EVENT_UUID = "00037bcf-28e4-3322-b72f-377587204703"
RESTAURANT = FLUX / "objects/0/00" / f"30-{RESTAURANT_UUID}.json"
EVENT = FLUX / "objects/0/00" / f"49-{EVENT_UUID}.json"
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def expected_slots(raw: dict[str, Any], on: date) -> set[tuple[int, str, str]]:
    """The (weekday, opens, closes) of the raw specifications valid on a day."""
    slots = set()
    for spec in raw["isLocatedAt"][0]["schema:openingHoursSpecification"]:
        start = date.fromisoformat(spec["schema:validFrom"][:10])
        end = date.fromisoformat(spec["schema:validThrough"][:10])
        if start <= on <= end:
            for day in spec["schema:dayOfWeek"]:
                weekday = DAYS.index(day["@id"].removeprefix("schema:"))
                slots.add((weekday, spec["schema:opens"][:5], spec["schema:closes"][:5]))
    return slots


def test_flux_maps_the_restaurant_and_the_event() -> None:
    result = harvest(DatatourismeSource.from_path(FLUX))
    assert not (result.broken)
    assert not (result.invalid)
    assert not (result.skipped)
    assert sorted(result.entries) == [
        f"datatourisme:{EVENT_UUID}",
        f"datatourisme:{RESTAURANT_UUID}",
    ]
    raw = load(RESTAURANT)
    crepe = result.entries[f"datatourisme:{RESTAURANT_UUID}"]
    assert crepe.kind is EntryKind.PLACE
    assert crepe.title == raw["rdfs:label"]["fr"][0] == "Chez Jeanne"
    assert crepe.description == raw["hasDescription"][0]["dc:description"]["fr"][0]
    assert (crepe.source_type, crepe.policy_area) == ("Restaurant", "Tourisme et loisirs")
    assert crepe.commune_codes == ["50523"]
    assert crepe.departement_codes == ["50"]
    assert crepe.address == Address(
        lines=["1 rue Division Leclerc"],
        postal_code="50480",
        city="Sainte-Mère-Église",
        commune_code="50523",
    )
    geo = raw["isLocatedAt"][0]["schema:geo"]
    assert crepe.point == GeoPoint(
        lat=float(geo["schema:latitude"]), lon=float(geo["schema:longitude"])
    )
    assert crepe.contacts == [
        Contact(kind="phone", value="+33 2 14 14 13 60"),
        Contact(kind="phone", value="+33 6 15 48 54 72"),
        Contact(kind="email", value="chezjeannecreperie@gmail.com"),
        Contact(kind="website", value="http://www.chezjeannecreperie.com/"),
    ]
    assert crepe.url == "http://www.chezjeannecreperie.com/"
    assert crepe.updated_at == datetime(2023, 11, 8, 12, 24, 11, 344000, tzinfo=UTC)
    assert crepe.provenance.remote_id == RESTAURANT_UUID
    # harvested on 9 Nov 2023: the winter season (1 Sept – 31 Dec), closed Tuesday and Wednesday
    slots = {(s.weekday, s.opens, s.closes) for s in crepe.opening_hours}
    assert slots == expected_slots(raw, date(2023, 11, 9))
    assert len(slots) == 10
    assert {s[0] for s in slots} == {0, 3, 4, 5, 6}
    assert crepe.opening_hours[0].note is not None
    assert crepe.opening_hours[0].note.startswith("Du 01/09/2023 au 31/12/2023. Ouverture tous")

    raw_event = load(EVENT)
    expo = result.entries[f"datatourisme:{EVENT_UUID}"]
    assert expo.kind is EntryKind.EVENT
    assert expo.title == 'EXPOSITION : "ÉMOTIONS ENFOUIES" D\'ANNA-EVA BERGE'
    assert (expo.source_type, expo.policy_area) == ("Exhibition", "Culture")
    assert expo.commune_codes == ["49328"]
    assert expo.departement_codes == ["49"]
    assert expo.address is not None
    assert expo.address.lines == ["19 rue Léopold Palustre", "Saint-Hilaire-Saint-Florent"]
    assert expo.point == GeoPoint(lat=47.272283, lon=-0.106429)
    assert expo.description.startswith("Désormais, pour une durée de trois ans")
    # 537 unsorted one-day periods, every day from 9 Nov 2023 to 28 Apr 2025: one range
    assert len(raw_event["takesPlaceAt"]) == 537
    assert expo.dates == [DateRange(start=date(2023, 11, 9), end=date(2025, 4, 28))]
    assert expo.opening_hours == []


def test_opening_hours_follow_the_season_of_the_harvest() -> None:
    raw = load(RESTAURANT)
    source = DatatourismeSource.from_path(FLUX)
    key = f"datatourisme:{RESTAURANT_UUID}"
    summer = harvest(source, context(at=datetime(2023, 7, 14, 10, tzinfo=UTC))).entries[key]
    slots = {(s.weekday, s.opens, s.closes) for s in summer.opening_hours}
    assert slots == expected_slots(raw, date(2023, 7, 14))
    assert (2, "19:00", "21:00") in slots
    assert not any(s[0] == 1 for s in slots)
    # before the first season: the next one to come (from 2 Jan 2023)
    early = harvest(source, context(at=datetime(2022, 12, 20, tzinfo=UTC))).entries[key]
    assert {(s.weekday, s.opens, s.closes) for s in early.opening_hours} == expected_slots(
        raw, date(2023, 1, 2)
    )
    # every season is over: no hours rather than stale ones
    late = harvest(source, context(at=datetime(2024, 3, 1, tzinfo=UTC))).entries[key]
    assert late.opening_hours == []


def test_merge_periods() -> None:
    d = date
    periods = [
        (d(2024, 5, 3), d(2024, 5, 3), None, None),
        (d(2024, 5, 1), d(2024, 5, 1), None, None),
        (d(2024, 5, 2), d(2024, 5, 2), None, None),
        (d(2024, 5, 2), d(2024, 5, 2), None, None),  # duplicate
        (d(2024, 5, 10), d(2024, 5, 12), None, None),  # gap before it
        (d(2024, 5, 11), d(2024, 5, 20), None, None),  # overlaps
        (d(2024, 5, 4), d(2024, 5, 4), "20:30", "23:00"),  # other times: kept apart
    ]
    assert merge_periods(periods) == [
        DateRange(start=d(2024, 5, 1), end=d(2024, 5, 3)),
        DateRange(start=d(2024, 5, 4), end=d(2024, 5, 4), start_time="20:30", end_time="23:00"),
        DateRange(start=d(2024, 5, 10), end=d(2024, 5, 20)),
    ]
    assert merge_periods([]) == []


def test_ids_and_languages() -> None:
    for host in (
        "https://data.datatourisme.fr/30/",
        "https://data.datatourisme.gouv.fr/30/",
        "http://data.datatourisme.fr/",
    ):
        assert uuid_from_id(host + RESTAURANT_UUID.upper()) == RESTAURANT_UUID
    assert uuid_from_id("https://example.org/30/" + RESTAURANT_UUID) is None
    assert language_value({"en": ["Buried Emotions"], "fr": ["Émotions enfouies"]}) == (
        "Émotions enfouies"
    )
    assert language_value({"de": ["Saumur"], "en": ["Saumur (en)"]}) == "Saumur (en)"
    assert language_value({"de": ["Saumur"]}) == "Saumur"
    assert language_value(None) is None


def test_traps_in_a_flux() -> None:
    folder = DATATOURISME / "derived_flux_traps"
    result = harvest(DatatourismeSource.from_path(folder))
    prefix = RESTAURANT_UUID[:-2]
    # the host "data.datatourisme.gouv.fr" gives the same kind of id
    assert list(result.entries) == [f"datatourisme:{prefix}c1"]
    assert result.entries[f"datatourisme:{prefix}c1"].title == "Chez Jeanne"
    assert result.invalid[f"{prefix}c2"] == "object has no label (rdfs:label)"
    assert result.invalid[f"{prefix}c3"] == (
        "schema:geo: point lat=-1.3177702, lon=49.4090531 is outside France and its overseas "
        "territories (latitude and longitude look swapped)"
    )
    assert result.invalid[f"{prefix}c7"] == (
        "malformed opening hours: not a time: 'midi' (expected HH:MM:SS)"
    )
    broken = {b.remote_id: b.reason for b in result.broken}
    assert broken[f"{prefix}c4"].startswith(
        f"objects/0/00/30-{prefix}c4.json is truncated: the JSON ends before it is complete"
    )
    assert broken[f"{prefix}c5"].startswith(f"objects/0/00/30-{prefix}c5.json is not valid UTF-8")
    assert "Latin-1" in broken[f"{prefix}c5"]
    assert (
        broken[f"{prefix}c6"]
        == f"objects/0/00/30-{prefix}c6.json is listed in index.json but missing"
    )


def test_territory_filter() -> None:
    sainte_mere = Territory(
        code="50523",
        name="Sainte-Mère-Église",
        commune_codes=frozenset({"50523"}),
        commune_parents={"50523": ("200067205", "50")},  # EPCI SIREN: a test value
    )
    result = harvest(DatatourismeSource.from_path(FLUX), context(sainte_mere))
    assert list(result.entries) == [f"datatourisme:{RESTAURANT_UUID}"]
    assert result.entries[f"datatourisme:{RESTAURANT_UUID}"].epci_codes == ["200067205"]
    assert result.skipped == {
        EVENT_UUID: "located in commune 49328, outside territory 50523",
    }


def test_zip_and_folder_without_index(tmp_path: Path) -> None:
    archive = tmp_path / "flux.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in FLUX.rglob("*.json"):
            zf.write(path, f"flux-123/{path.relative_to(FLUX)}")
    from_zip = harvest(DatatourismeSource.from_path(archive))
    assert sorted(from_zip.entries) == sorted(harvest(DatatourismeSource.from_path(FLUX)).entries)

    # without index.json the flux is refused as a whole, with the layout expected
    bare = tmp_path / "bare"
    shutil.copytree(FLUX / "objects", bare / "objects")
    [refused] = list(DatatourismeSource.from_path(bare).list_records())
    assert isinstance(refused, BrokenRecord)
    assert refused.incomplete
    assert refused.run_reason() == (
        "aucun enregistrement lu : dossier DATAtourisme sans index.json (disposition attendue : "
        "index.json + objects/…) ; fichiers JSON trouvés sous : objects/"
    )

    not_a_zip = tmp_path / "flux.zip.part"
    not_a_zip.write_bytes(b"PK\x03\x04 cut")
    [broken] = list(DatatourismeSource.from_path(not_a_zip).list_records())
    assert "cannot be opened as a flux" in broken.reason  # type: ignore[union-attr]
