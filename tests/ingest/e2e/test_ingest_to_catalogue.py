"""Every sample format end to end: file -> ingest -> bus -> catalogue -> HTTP, in both modes.

The territory is the CC de l'Aire Cantilienne (Oise) from the real geo.api answer; the records
are real records re-located into it (tests/fixtures/opendata/PROVENANCE.md, make_e2e.py).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path

from tests.ingest.e2e.conftest import E2E, EPCI, Platform


def by_id(platform: Platform, entry_id: str) -> dict:  # type: ignore[type-arg]
    return platform.get(f"/entries/{entry_id}")  # type: ignore[no-any-return]


def test_territories_give_the_hierarchy_of_the_epci(with_oise: Platform) -> None:
    p = with_oise
    chantilly = p.get("/territories/60141")
    assert chantilly["name"] == "Chantilly"
    assert chantilly["postal_codes"] == ["60500"]
    assert [c["name"] for c in p.get("/territories", q="coye")] == ["Coye-la-Forêt"]
    assert [c["code"] for c in p.get("/territories", q="60580")] == ["60172"]


def test_service_public_export_and_api_page_reach_the_catalogue(with_oise: Platform) -> None:
    p = with_oise
    raw = json.loads((E2E / "service-public" / "export.json").read_text())["service"]
    summary = p.harvest("service-public", E2E / "service-public" / "export.json")
    assert (summary.counts["new"], summary.counts["skipped"], summary.counts["invalid"]) == (
        2,
        1,
        0,
    )
    summary = p.harvest("service-public", E2E / "service-public" / "api_page.json")
    assert summary.counts["new"] == 1

    mairie = by_id(p, f"service-public:{raw[0]['id']}")
    assert mairie["title"] == raw[0]["nom"] == "Mairie - Coye-la-Forêt"
    assert mairie["kind"] == "service"
    assert mairie["source_type"] == "mairie"
    assert mairie["commune_codes"] == ["60172"]
    assert mairie["epci_codes"] == [EPCI]
    assert mairie["departement_codes"] == ["60"]
    assert mairie["point"] == {
        "lat": float(raw[0]["adresse"][0]["latitude"]),
        "lon": float(raw[0]["adresse"][0]["longitude"]),
    }
    assert mairie["address"]["postal_code"] == "60580"
    # "Mardi 09:00-12:00 et 18:00-19:00 (commentaire)", then Mercredi and Vendredi mornings
    hours = [(s["weekday"], s["opens"], s["closes"]) for s in mairie["opening_hours"]]
    assert hours == [
        (1, "09:00", "12:00"),
        (1, "18:00", "19:00"),
        (2, "09:00", "12:00"),
        (4, "09:00", "12:00"),
    ]
    assert any("vacances scolaires" in (s["note"] or "") for s in mairie["opening_hours"])
    phones = [c["value"] for c in mairie["contacts"] if c["kind"] == "phone"]
    assert phones == ["+33 1 64 38 30 52"]
    assert mairie["provenance"]["source"] == "service-public"
    assert mairie["provenance"]["remote_updated_at"] == "2023-08-09T11:30:19Z"  # Paris 13:30

    epci = p.get("/entries", q="aire cantilienne")["items"]
    assert [e["source_type"] for e in epci] == ["epci"]
    assert epci[0]["commune_codes"] == ["60141"]

    metrics = p.client.get("/ingest/metrics").text
    assert 'citela_ingest_records_total{outcome="new",source="service-public"}' in metrics
    assert "citela_ingest_run_duration_seconds_bucket" in metrics
    assert 'citela_ingest_last_success_timestamp_seconds{source="service-public"}' in metrics

    in_coye = p.get("/entries", territory="60172")["items"]
    assert [e["title"] for e in in_coye] == ["Mairie - Coye-la-Forêt"]
    assert len(p.get("/entries", territory=EPCI)["items"]) == 3


def test_datagouv_and_datatourisme_reach_the_catalogue(with_oise: Platform) -> None:
    p = with_oise
    assert p.harvest("datagouv", E2E / "datagouv" / "page.json").counts["new"] == 1
    dataset = p.get("/entries", kind="dataset")["items"]
    assert [d["title"] for d in dataset] == ["Horaires des bus de l'Aire Cantilienne"]
    assert sorted(dataset[0]["commune_codes"]) == ["60141", "60172"]  # '@1943-01-01' stripped

    summary = p.harvest("datatourisme", E2E / "datatourisme")
    assert summary.counts["new"] == 2
    restaurant = p.get("/entries", kind="place", territory="60141")["items"]
    assert [r["title"] for r in restaurant] == ["Chez Jeanne"]
    assert restaurant[0]["point"] == {"lat": 49.195, "lon": 2.482}
    event = p.get("/entries", kind="event")["items"][0]
    # 537 single-day periods, unsorted, merged into one range
    assert [(d["start"], d["end"]) for d in event["dates"]] == [("2023-11-09", "2025-04-28")]
    window = p.get("/events", from_="2024-06-01", to="2024-06-30")["items"]
    assert [e["entry_id"] for e in window] == [event["entry_id"]]


def test_only_changes_are_published_and_vanished_records_are_archived(
    with_oise: Platform, tmp_path: Path
) -> None:
    p = with_oise
    export = E2E / "service-public" / "export.json"
    p.harvest("service-public", export)
    before = p.published()

    again = p.harvest("service-public", export)
    assert (again.counts["unchanged"], again.counts["new"], again.counts["updated"]) == (2, 0, 0)
    assert p.published() == before, "an unchanged file publishes nothing"

    document = json.loads(export.read_text())
    changed = copy.deepcopy(document)
    changed["service"][1]["telephone"] = [{"valeur": "03 44 62 42 01", "description": ""}]
    changed["service"][1]["date_modification"] = "02/10/2026 09:00:00"
    modified = tmp_path / "export-modified.json"
    modified.write_text(json.dumps(changed, ensure_ascii=False))
    summary = p.harvest("service-public", modified)
    assert (summary.counts["updated"], summary.counts["unchanged"]) == (1, 1)
    assert p.published() == before + 1, "one modified record publishes one upsert"
    ccas = by_id(p, f"service-public:{document['service'][1]['id']}")
    assert [c["value"] for c in ccas["contacts"] if c["kind"] == "phone"] == ["+33 3 44 62 42 01"]

    removed = copy.deepcopy(changed)
    del removed["service"][0]
    shorter = tmp_path / "export-shorter.json"
    shorter.write_text(json.dumps(removed, ensure_ascii=False))
    within_grace = p.harvest("service-public", shorter)
    assert within_grace.counts["archived"] == 0, "still within the grace period"
    assert len(p.get("/entries", territory="60172")["items"]) == 1

    after_grace = p.harvest("service-public", shorter, grace=timedelta(0))
    assert after_grace.counts["archived"] == 1
    assert p.get("/entries", territory="60172")["items"] == []
    p.get(f"/entries/service-public:{document['service'][0]['id']}", expect=404)


def test_broken_records_are_put_aside_with_a_reason_and_the_run_goes_on(
    with_oise: Platform,
) -> None:
    p = with_oise
    summary = p.harvest("service-public", E2E / "service-public" / "traps.json")
    assert summary.status.value == "done_with_errors"
    assert (summary.counts["new"], summary.counts["invalid"]) == (1, 5)
    items = p.ingest_api(f"/runs/{summary.run_id}/items", status="invalid")["items"]
    reasons = {i["remote_id"][-4:]: i["reason"] for i in items}
    assert set(reasons) == {"f001", "f002", "f003", "f004", "f005"}
    assert "name" in reasons["f001"]
    assert "latitude" in reasons["f002"] or "coordinates" in reasons["f002"]
    assert "outside France" in reasons["f003"]
    assert "25:00" in reasons["f004"]
    assert "marie" in reasons["f005"]
    assert all(i["raw"] and '"id"' in i["raw"] for i in items), "the raw input is kept"
    assert [e["title"] for e in p.get("/entries", territory="60172")["items"]] == [
        "Mairie - Coye-la-Forêt"
    ]

    # a file that cannot be read to its end fails as a whole (issue 12): nothing archived
    truncated = p.harvest(
        "service-public", E2E / "service-public" / "truncated.json", grace=timedelta(0)
    )
    assert truncated.status.value == "failed"
    assert truncated.reason is not None
    assert truncated.reason.startswith("la source n'a pas pu être lue en entier")
    assert "truncated" in truncated.reason
    assert truncated.counts["unchanged"] == 1  # the record before the break
    assert truncated.counts["archived"] == 0, "an incomplete listing archives nothing"
    assert p.ingest_api(f"/runs/{truncated.run_id}")["reason"] == truncated.reason
    broken = p.ingest_api(f"/runs/{truncated.run_id}/items", status="invalid")["items"]
    assert len(broken) == 1
    assert "truncated" in broken[0]["reason"]

    latin1 = p.harvest("service-public", E2E / "service-public" / "latin1.json")
    assert latin1.status.value == "failed"
    assert "UTF-8" in (latin1.reason or "")
    reasons_latin1 = [
        i["reason"] for i in p.ingest_api(f"/runs/{latin1.run_id}/items", status="invalid")["items"]
    ]
    assert any("UTF-8" in r for r in reasons_latin1)
    run = p.ingest_api(f"/runs/{latin1.run_id}")
    assert run["counts"]["invalid"] == 1
