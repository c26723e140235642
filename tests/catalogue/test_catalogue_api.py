"""The catalogue at its HTTP boundary: projection of events, filters, search, pagination, caching.

Runs in both modes: embedded (SQLite FTS5, in-process bus) and distributed (PostgreSQL French
full-text search, Kafka, Redis cache).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citela_catalogue import queries
from citela_common.events.models import (
    CATALOGUE_TOPIC,
    Address,
    Contact,
    DateRange,
    EntryKind,
    Provenance,
)
from citela_common.settings import Settings
from citela_platform.embedded import create_embedded_app
from tests.catalogue import factories as f


class Platform:
    def __init__(self, client: TestClient, tenant: str) -> None:
        self.client = client
        self.tenant = tenant
        app: Any = client.app
        self.runtime = app.state.runtimes["catalogue"]

    def publish(self, *datas: Any, tenant: str | None = None) -> None:
        events = [f.event(d, tenant or self.tenant) for d in datas]
        self.runtime.bus.publish_many((CATALOGUE_TOPIC, e) for e in events)
        self.wait_for(events[-1].id)

    def wait_for(self, event_id: str, timeout_s: float = 30) -> None:
        from citela_catalogue.models import ProcessedEvent

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.runtime.db.transaction() as s:
                if s.get(ProcessedEvent, ("catalogue-projection", event_id)):
                    return
            time.sleep(0.05)
        raise AssertionError(f"event {event_id} not projected in {timeout_s}s")

    def get(self, path: str, **params: Any) -> Any:
        r = self.client.get(f"/catalogue/v1/tenants/{self.tenant}{path}", params=params)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(params=["embedded", "distributed"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    tenant = f"t-{uuid.uuid4().hex[:8]}"  # fresh tenant: tests share the PostgreSQL database
    if request.param == "embedded":
        settings = Settings(data_dir=tmp_path / "var")
    else:
        settings = Settings(
            data_dir=tmp_path / "var",
            database_url=request.getfixturevalue("pg_url"),
            kafka_bootstrap=request.getfixturevalue("kafka_bootstrap"),
            redis_url=request.getfixturevalue("redis_url"),
            kafka_client_id=f"test-{tenant}",
        )
    with TestClient(create_embedded_app(settings)) as client:
        p = Platform(client, tenant)
        p.publish(*f.GEOGRAPHY)
        yield p


def titles(page: dict[str, Any]) -> list[str]:
    return [e["title"] for e in page["items"]]


def test_entries_of_a_commune_and_of_its_epci(platform: Platform) -> None:
    platform.publish(
        f.entry("mairie-pau", "Mairie de Pau", "64445", point=(43.2951, -0.3708)),
        f.entry("mediatheque-lons", "Médiathèque de Lons", "64348", point=(43.3156, -0.4097)),
        f.entry("mairie-arudy", "Mairie d'Arudy", "64024"),
    )
    assert titles(platform.get("/entries", territory="64445")) == ["Mairie de Pau"]
    assert titles(platform.get("/entries", territory="200067254")) == [
        "Mairie de Pau",
        "Médiathèque de Lons",
    ]
    assert len(platform.get("/entries", territory="64")["items"]) == 3
    one = platform.get("/entries/service-public:mairie-pau")
    assert one["point"] == {"lat": 43.2951, "lon": -0.3708}
    assert one["opening_hours"] == [
        {"weekday": 0, "opens": "08:30", "closes": "17:30", "note": None}
    ]
    r = platform.client.get(
        f"/catalogue/v1/tenants/{platform.tenant}/entries", params={"territory": "99999"}
    )
    assert r.status_code == 404
    assert r.json()["type"].endswith("/unknown-territory")


def test_an_unknown_entry_or_territory_is_a_404_problem(platform: Platform) -> None:
    base = f"/catalogue/v1/tenants/{platform.tenant}"
    entry = platform.client.get(f"{base}/entries/service-public:nowhere")
    assert entry.status_code == 404
    assert entry.json()["type"].endswith("/unknown-entry")
    territory = platform.client.get(f"{base}/territories/99999")
    assert territory.status_code == 404
    assert territory.json()["type"].endswith("/unknown-territory")
    assert platform.client.get("/catalogue/v1/tenants/Not_A_Tenant/entries").status_code == 422


def test_a_territory_listing_follows_a_change_of_the_territories(platform: Platform) -> None:
    platform.publish(
        f.entry("mairie-lons", "Mairie de Lons", "64348"),
        f.entry("mairie-pau", "Mairie de Pau", "64445"),
    )
    agglo = "200067254"
    assert titles(platform.get("/entries", territory=agglo)) == ["Mairie de Lons", "Mairie de Pau"]
    (lons,) = [t for t in f.GEOGRAPHY if t.code == "64348"]
    platform.publish(lons.model_copy(update={"version": 2, "epci_code": "246401756"}))
    assert titles(platform.get("/entries", territory=agglo)) == ["Mairie de Pau"]
    assert titles(platform.get("/entries", territory="246401756")) == ["Mairie de Lons"]


def test_french_full_text_search_folds_accents_and_stems(platform: Platform) -> None:
    platform.publish(
        f.entry(
            "mediatheque",
            "Médiathèque André-Labarrère",
            "64445",
            description="Prêt de livres, de disques et de films ; ateliers numériques.",
        ),
        f.entry(
            "piscine",
            "Piscine Péguilhan",
            "64445",
            policy_area="Sport",
            description="Bassins couverts, cours de natation pour les enfants.",
        ),
        f.entry(
            "ccas",
            "Centre communal d'action sociale",
            "64445",
            policy_area="Action sociale",
            description="Aides aux familles.",
        ),
    )
    assert titles(platform.get("/entries", q="mediatheque")) == ["Médiathèque André-Labarrère"]
    assert titles(platform.get("/entries", q="MÉDIATHÈQUES")) == ["Médiathèque André-Labarrère"]
    assert titles(platform.get("/entries", q="piscines")) == ["Piscine Péguilhan"]
    assert titles(platform.get("/entries", q="natation enfant")) == ["Piscine Péguilhan"]
    assert titles(platform.get("/entries", q="action sociale")) == [
        "Centre communal d'action sociale"
    ]
    assert titles(platform.get("/entries", q="médiat")) == ["Médiathèque André-Labarrère"]
    assert platform.get("/entries", q="le la les")["items"] == []
    assert titles(platform.get("/entries", policy_area="Sport")) == ["Piscine Péguilhan"]
    assert platform.get("/policy-areas") == {"Culture": 1, "Sport": 1, "Action sociale": 1}


def test_proximity_orders_by_distance_within_the_radius(platform: Platform) -> None:
    platform.publish(
        f.entry("mairie-pau", "Mairie de Pau", "64445", point=(43.2951, -0.3708)),
        f.entry("mediatheque-lons", "Médiathèque de Lons", "64348", point=(43.3156, -0.4097)),
        f.entry("mairie-arudy", "Mairie d'Arudy", "64024", point=(43.1064, -0.4264)),
    )
    page = platform.get("/entries", near="43.2960,-0.3700", radius_km=10)
    assert titles(page) == ["Mairie de Pau", "Médiathèque de Lons"]
    assert page["items"][0]["distance_km"] < 0.2
    assert 3 < page["items"][1]["distance_km"] < 5
    r = platform.client.get(
        f"/catalogue/v1/tenants/{platform.tenant}/entries", params={"near": "Pau"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "query.near"


def test_cursor_pagination_walks_every_entry_once(platform: Platform) -> None:
    platform.publish(*[f.entry(f"svc-{i:02d}", f"Service {i:02d}", "64445") for i in range(23)])
    seen: list[str] = []
    cursor = None
    while True:
        page = platform.get("/entries", limit=10, **({"cursor": cursor} if cursor else {}))
        seen += titles(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"Service {i:02d}" for i in range(23)]
    bad = platform.client.get(
        f"/catalogue/v1/tenants/{platform.tenant}/entries", params={"cursor": "garbage!"}
    )
    assert bad.status_code == 400


def walk(platform: Platform, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = platform.get(
            "/entries", limit=limit, **params, **({"cursor": cursor} if cursor else {})
        )
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_search_results_are_paged_by_cursor_in_title_order(platform: Platform) -> None:
    piscines = [
        f.entry(f"piscine-{i:02d}", f"Piscine du quartier {i:02d}", "64445", policy_area="Sport")
        for i in range(17)
    ]
    other = f.entry(
        "gymnase",
        "Gymnase Alain-Mimoun",
        "64445",
        policy_area="Sport",
        description="Salle de sport ; la piscine est à côté.",
    )
    platform.publish(*piscines, other, f.entry("musee", "Musée des Beaux-Arts", "64445"))
    expected = sorted([*(p.title for p in piscines), other.title])
    assert [e["title"] for e in walk(platform, 5, q="piscine")] == expected
    assert [e["title"] for e in walk(platform, 4, q="pisc")] == expected  # prefix, page by page
    assert titles(platform.get("/entries", q="piscine", territory="64348")) == []
    bad = platform.client.get(
        f"/catalogue/v1/tenants/{platform.tenant}/entries",
        params={"q": "piscine", "cursor": "WzEsMl0"},  # [1,2]: no title in it
    )
    assert bad.status_code == 400


@pytest.mark.parametrize("matches", ["few", "many"])
def test_both_ways_of_searching_page_alike(
    platform: Platform, matches: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL finds few matches (of a query or of a territory) through their index,
    many by walking the titles and then their index past the walk: both give every match
    once, in title order."""
    if matches == "few":
        monkeypatch.setattr(queries, "_estimate", lambda _s, _q: (1.0, 1_000_000.0))
    else:  # a walk of 3 titles, then the rest past it (a territory's entries: counted)
        monkeypatch.setattr(
            queries, "_estimate", lambda _s, q: (500_000.0, 1_000_000.0) if q else (1.0, 1.0)
        )
        monkeypatch.setattr(queries, "SHORTEST_WALK", 3)
    cimetiere = "Cimetière, état civil et listes électorales."
    mairies = [
        f.entry(f"mairie-{c}", f"Mairie de {n}", "64445", description=cimetiere)
        for c, n in [("pau", "Pau"), ("lons", "Lons"), ("arudy", "Arudy"), ("bizanos", "Bizanos")]
    ]
    others = [
        f.entry(f"asso-{i}", f"Association {name}", "64445", description="Loisirs.")
        for i, name in enumerate(["des aînés", "du Béarn", "de pelote", "culturelle"])
    ]
    ccas = f.entry("ccas", "CCAS de Pau", "64445", description="Concessions au cimetière.")
    in_lons = [f.entry("salle-lons", "Salle des fêtes de Lons", "64348")]
    in_lons.append(f.entry("piscine-lons", "Piscine de Lons", "64348"))
    platform.publish(*mairies, *others, ccas, *in_lons)
    expected = sorted([ccas.title, *(m.title for m in mairies)])
    assert [e["title"] for e in walk(platform, 2, q="cimetière")] == expected
    assert [e["title"] for e in walk(platform, 50, q="cimet")] == expected
    assert [e["title"] for e in walk(platform, 1, q="cimetiere", kind="service")] == expected
    assert [e["title"] for e in walk(platform, 3, q="cimetière", territory="64348")] == []
    assert [e["title"] for e in walk(platform, 1, territory="64348")] == [
        "Piscine de Lons",
        "Salle des fêtes de Lons",
    ]


def test_proximity_pages_go_outwards_and_stop_at_the_radius(platform: Platform) -> None:
    # Eastwards from the Pau town hall, one kilometre apart (0.0124° of longitude at 43.3°N).
    stops = [
        f.entry(f"arret-{k:02d}", f"Arrêt {k:02d}", "64445", point=(43.2951, -0.3708 + 0.0124 * k))
        for k in range(12)
    ]
    platform.publish(*reversed(stops))
    found = walk(platform, 3, near="43.2951,-0.3708", radius_km=7.5)
    assert [e["title"] for e in found] == [f"Arrêt {k:02d}" for k in range(8)]
    distances = [e["distance_km"] for e in found]
    assert distances == sorted(distances)
    assert 6.9 < distances[-1] <= 7.5


def test_listed_entries_are_the_entries_themselves(platform: Platform) -> None:
    """A listing (written by PostgreSQL itself in the distributed mode) gives each entry
    exactly as GET /entries/{id} (pydantic) does: every field, nulls, dates, odd text."""
    rich = f.entry(
        "maison-france-services",
        "Maison France services « L'Escale »",
        "64445",
        description='Aide aux démarches : impôts, CAF, ANTS…\nDites "bonjour" \\ 🙂\t!',
        point=(43.0, -0.5),
    ).model_copy(
        update={
            "contacts": [
                Contact(kind="phone", value="+33 5 59 98 00 00", label="Accueil"),
                Contact(kind="email", value="mfs@agglo-pau.fr"),
            ],
            "dates": [DateRange(start=date(2027, 3, 1), end=date(2027, 3, 2), start_time="09:30")],
            "provenance": Provenance(
                source="service-public",
                remote_id="maison-france-services",
                remote_updated_at=datetime(2026, 11, 27, 17, 45, 12, 250000, tzinfo=UTC),
                licence="lov2",
                download_url="https://lannuaire.service-public.fr/export.json",
                downloaded_at=datetime(2026, 11, 28, 3, 0, tzinfo=UTC),
            ),
            "updated_at": datetime(2026, 11, 28, 9, 0, 0, 123456, tzinfo=UTC),
        }
    )
    bare = f.entry("jeu-de-donnees", "Budget primitif 2026", "64445").model_copy(
        update={"address": Address(), "contacts": [], "opening_hours": [], "url": None}
    )
    platform.publish(rich, bare)
    for params in ({}, {"q": "maison"}, {"territory": "64445"}, {"near": "43.0,-0.5"}):
        items = platform.get("/entries", **params)["items"]
        assert items, params
        for item in items:
            alone = platform.get(f"/entries/{item['entry_id']}")
            assert item == {**alone, "distance_km": item["distance_km"]}, params
            assert list(item) == list(alone)
            assert (item["distance_km"] is not None) == ("near" in params)
    listed = {e["entry_id"]: e for e in platform.get("/entries")["items"]}
    assert listed["service-public:maison-france-services"]["updated_at"] == (
        "2026-11-28T09:00:00.123456Z"
    )
    assert listed["service-public:jeu-de-donnees"]["address"]["lines"] == []
    assert listed["service-public:jeu-de-donnees"]["point"] is None


def test_events_between_two_dates(platform: Platform) -> None:
    platform.publish(
        f.entry(
            "expo",
            "Exposition « Pau, ville anglaise »",
            "64445",
            kind=EntryKind.EVENT,
            dates=[(date(2026, 11, 20), date(2026, 12, 5)), (date(2027, 1, 10), date(2027, 1, 12))],
        ),
        f.entry(
            "concert",
            "Concert du Nouvel An",
            "64445",
            kind=EntryKind.EVENT,
            dates=[(date(2027, 1, 1), date(2027, 1, 1))],
        ),
    )
    december = platform.get("/events", **{"from": "2026-12-01", "to": "2026-12-31"})
    assert titles(december) == ["Exposition « Pau, ville anglaise »"]
    assert december["items"][0]["next_date"] == "2026-12-01"
    january = platform.get("/events", **{"from": "2027-01-01", "to": "2027-01-31"})
    assert titles(january) == ["Concert du Nouvel An", "Exposition « Pau, ville anglaise »"]
    r = platform.client.get(
        f"/catalogue/v1/tenants/{platform.tenant}/events",
        params={"from": "2027-01-31", "to": "2027-01-01"},
    )
    assert r.status_code == 422


def test_territory_hierarchy_and_commune_search(platform: Platform) -> None:
    pau = platform.get("/territories/64445")
    assert [(p["level"], p["name"]) for p in pau["parents"]] == [
        ("region", "Nouvelle-Aquitaine"),
        ("departement", "Pyrénées-Atlantiques"),
        ("epci", "CA Pau Béarn Pyrénées"),
    ]
    epci = platform.get("/territories/200067254")
    assert [c["name"] for c in epci["children"]] == ["Lons", "Pau"]
    assert [c["name"] for c in platform.get("/territories", q="pau")] == ["Pau"]
    assert [c["name"] for c in platform.get("/territories", q="6414")] == ["Lons"]


def test_versions_are_idempotent_and_never_go_back(platform: Platform) -> None:
    platform.publish(f.entry("mairie", "Mairie de Pau", "64445", version=2))
    platform.publish(f.entry("mairie", "Ancien nom", "64445", version=1))  # late, older
    platform.publish(f.entry("mairie", "Mairie de Pau", "64445", version=2))  # duplicate
    assert titles(platform.get("/entries")) == ["Mairie de Pau"]
    platform.publish(f.removed("mairie", version=3))
    assert platform.get("/entries")["items"] == []
    r = platform.client.get(
        f"/catalogue/v1/tenants/{platform.tenant}/entries/service-public:mairie"
    )
    assert r.status_code == 404


def test_reads_carry_etags_and_answer_304(platform: Platform) -> None:
    platform.publish(f.entry("mairie", "Mairie de Pau", "64445"))
    url = f"/catalogue/v1/tenants/{platform.tenant}/entries"
    first = platform.client.get(url)
    assert first.headers["cache-control"] == "public, max-age=60"
    etag = first.headers["etag"]
    assert platform.client.get(url, headers={"If-None-Match": etag}).status_code == 304
    platform.publish(f.entry("piscine", "Piscine Péguilhan", "64445"))
    fresh = platform.client.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200, "a change invalidates the cached list"
    assert titles(fresh.json()) == ["Mairie de Pau", "Piscine Péguilhan"]


def test_tenants_never_see_each_others_catalogue(platform: Platform) -> None:
    other = f"o-{uuid.uuid4().hex[:8]}"
    platform.publish(*f.GEOGRAPHY, tenant=other)
    platform.publish(f.entry("secret", "Service d'un autre", "64445"), tenant=other)
    platform.publish(f.entry("mairie", "Mairie de Pau", "64445"))
    assert titles(platform.get("/entries")) == ["Mairie de Pau"]
    assert titles(platform.get("/entries", q="autre")) == []
    r = platform.client.get(
        f"/catalogue/v1/tenants/{platform.tenant}/entries/service-public:secret"
    )
    assert r.status_code == 404


def test_a_commune_is_found_in_every_tenants_catalogue_that_holds_it(platform: Platform) -> None:
    # The agglomeration and one of its communes each have their catalogue on the platform.
    lons = f"l-{uuid.uuid4().hex[:8]}"
    platform.publish(*[t for t in f.GEOGRAPHY if t.code in ("75", "64", "64348")], tenant=lons)
    mine = {platform.tenant, lons}  # the database may hold other tests' tenants
    # Hundreds of other runs' Pau and Lons share the database and hits come by population:
    # this run's, more populous than any earlier run's, come within the first 100.
    newest = {
        t.code: t.model_copy(update={"version": 2, "population": int(time.time())})
        for t in f.GEOGRAPHY
        if t.code in ("64445", "64348")
    }
    platform.publish(*newest.values())
    platform.publish(newest["64348"], tenant=lons)

    def hits(q: str) -> list[tuple[str, str, str | None]]:
        r = platform.client.get("/catalogue/v1/territories", params={"q": q, "limit": 100})
        assert r.status_code == 200, r.text
        found = [(h["tenant"], h["name"], h["epci_code"]) for h in r.json()]
        return sorted(h for h in found if h[0] in mine)

    assert hits("lons") == sorted(
        [(platform.tenant, "Lons", "200067254"), (lons, "Lons", "200067254")]
    )
    assert hits("64140") == hits("lons")
    assert hits("pau") == [(platform.tenant, "Pau", "200067254")]
    first = platform.client.get("/catalogue/v1/territories", params={"q": "lons"}).json()
    assert {"code", "level", "postal_codes", "departement_code", "region_code"} <= set(first[0])
    too_short = platform.client.get("/catalogue/v1/territories", params={"q": "l"})
    assert too_short.status_code == 422
