"""The demo: the Aire Cantilienne from recorded open data, generated feedback in the matrix.

One seeding (a smaller one than `citela demo`'s, for speed) on a temporary embedded platform;
every check reads it back over the platform's public HTTP APIs.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citela_common.settings import Settings, get_settings
from citela_platform import demo
from citela_platform.cli import app as cli
from citela_platform.embedded import create_embedded_app

FEEDBACKS = 1300  # the smallest size that gives every shared profile a verdict, and some
T = demo.DEMO_TENANT


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, demo.DemoSummary]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("demo") / "var")
    return settings, demo.seed_demo(settings, feedbacks=FEEDBACKS)


@pytest.fixture(scope="module")
def client(seeded: tuple[Settings, demo.DemoSummary]) -> Iterator[TestClient]:
    with TestClient(create_embedded_app(seeded[0])) as c:
        yield c


def login(client: TestClient, role: str) -> dict[str, str]:
    found = next(x for x in demo.demo_logins() if x.role == role)
    r = client.post(
        "/feedback/v1/auth/token", json={"email": found.email, "password": found.password}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def matrix(client: TestClient) -> dict[str, Any]:
    r = client.get(f"/analytics/v1/tenants/{T}/matrix", headers=login(client, "analyste (élu)"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_the_summary_names_the_demo_tenant_and_its_logins(
    seeded: tuple[Settings, demo.DemoSummary],
) -> None:
    summary = seeded[1]
    assert summary.tenant == "aire-cantilienne"
    assert "démonstration" in summary.tenant_name
    assert summary.entries == 41
    assert summary.feedbacks == FEEDBACKS
    assert [x.role for x in summary.logins] == [
        "administratrice",
        "analyste (élu)",
        "modératrice",
        "habitant",
    ]
    assert all(len(x.password) >= 10 for x in summary.logins)


def test_the_catalogue_lists_the_aire_cantilienne_from_the_recorded_open_data(
    client: TestClient,
) -> None:
    r = client.get(
        f"/catalogue/v1/tenants/{T}/entries", params={"territory": "246000764", "limit": 100}
    )
    assert r.status_code == 200, r.text
    entries = r.json()["items"]
    titles = {e["title"] for e in entries}
    assert {
        "Mairie - Coye-la-Forêt",
        "Centre communal d'action sociale (CCAS) - Chantilly",
        "Communauté de communes - Aire Cantilienne",
        "Horaires des bus de l'Aire Cantilienne",
        "Chez Jeanne",
        "France services - Chantilly",
        "Médiathèque de Chantilly",
        "Marché de Noël de Gouvieux",
    } <= titles
    # the EPCI itself is a territory of the catalogue, with its eleven communes
    epci = client.get(f"/catalogue/v1/tenants/{T}/territories/246000764").json()
    assert epci["name"] == "CC de l'Aire Cantilienne"
    assert len([c for c in epci["children"] if c["level"] == "commune"]) == 11
    # a mairie in each of the EPCI's eleven communes, placed in its own commune
    mairies = {e["commune_codes"][0] for e in entries if e["title"].startswith("Mairie - ")}
    assert mairies == {
        "60022",
        "60033",
        "60141",
        "60142",
        "60172",
        "60282",
        "60346",
        "60432",
        "60482",
        "60494",
        "60695",
    }
    areas = {e["policy_area"] for e in entries if e["kind"] != "event"} - {None}
    assert len(areas) >= 12
    gouvieux = next(e for e in entries if e["title"] == "Mairie - Gouvieux")
    assert gouvieux["address"]["postal_code"] == "60270"
    assert {s["weekday"] for s in gouvieux["opening_hours"]} == {0, 1, 2, 3, 4, 5}
    assert {c["kind"] for c in gouvieux["contacts"]} == {"phone", "email"}
    # the Oise's communes came with them: Chantilly is found by its postal code
    found = client.get(f"/catalogue/v1/tenants/{T}/territories", params={"q": "60500"})
    assert "Chantilly" in [c["name"] for c in found.json()]
    in_coye = client.get(f"/catalogue/v1/tenants/{T}/entries", params={"territory": "60172"})
    assert "Mairie - Coye-la-Forêt" in {e["title"] for e in in_coye.json()["items"]}


def test_the_events_are_upcoming_whatever_the_day_the_demo_runs(client: TestClient) -> None:
    today = datetime.now(UTC).date()
    r = client.get(
        f"/catalogue/v1/tenants/{T}/events",
        params={"from": today.isoformat(), "to": (today + timedelta(weeks=8)).isoformat()},
    )
    assert r.status_code == 200, r.text
    upcoming = {e["title"]: e for e in r.json()["items"]}
    assert {
        "Concert de l'Avent : chœurs et orgue",
        "Marché de Noël de Gouvieux",
        "Exposition : le cheval dans l'histoire de Lamorlaye",
        "Journée du patrimoine hippique",
        "Foulées de la forêt de Lamorlaye",
    } <= set(upcoming)
    assert all(today <= date.fromisoformat(e["next_date"]) for e in upcoming.values())
    assert upcoming["Marché de Noël de Gouvieux"]["commune_codes"] == ["60282"]


def test_the_composed_events_move_by_whole_weeks_to_the_day_of_the_run(tmp_path: Path) -> None:
    def dates(flux: Path) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for path in sorted((flux / "objects").rglob("*.json")):
            obj = json.loads(path.read_text(encoding="utf-8"))
            if "takesPlaceAt" in obj:  # events (the places have no dates)
                periods = [p["startDate"] for p in obj["takesPlaceAt"]]
                found[obj["rdfs:label"]["fr"][0]] = periods + obj["schema:startDate"]
        return found

    shipped = dates(demo.DATA / demo.COMPOSED_FLUX)
    later = demo.COMPOSED_REFERENCE + timedelta(days=400)  # a Wednesday, 57 weeks and a day on
    moved = dates(demo.shifted_flux(tmp_path / "flux", later))
    assert len(shipped) == 5
    assert moved.keys() == shipped.keys()
    for label, starts in shipped.items():
        for before, after in zip(starts, moved[label], strict=True):
            assert date.fromisoformat(after) - date.fromisoformat(before) == timedelta(weeks=57)
            assert date.fromisoformat(after) >= later
    assert (tmp_path / "flux" / "index.json").read_bytes() == (
        demo.DATA / demo.COMPOSED_FLUX / "index.json"
    ).read_bytes()


def test_the_matrix_fills_the_four_quadrants_at_both_levels(
    client: TestClient,
) -> None:
    m = matrix(client)
    assert m["crosshairs"]["answers"] == FEEDBACKS
    areas = {p["key"]: p for p in m["areas"]}
    assert areas["Action sociale"]["quadrant"] == "act_first"
    assert areas["Administration locale"]["quadrant"] == "keep_up"
    assert areas["Éducation et jeunesse"]["quadrant"] == "secondary"
    assert areas["Tourisme et loisirs"]["quadrant"] == "over_investment"
    quadrants = {"act_first", "keep_up", "secondary", "over_investment"}
    assert {p["quadrant"] for p in m["areas"]} >= quadrants
    assert {p["quadrant"] for p in m["services"]} >= quadrants
    for level in ("areas", "services"):
        counted = Counter(p["quadrant"] for p in m[level])
        assert all(counted[q] >= (2 if level == "areas" else 4) for q in quadrants), counted
    few = {p["key"] for p in m["areas"] if p["status"] == "not_enough_answers"}
    assert few == {"Justice et accès au droit", "Finances publiques et fiscalité"}
    assert any(p["status"] == "uncertain" for p in m["services"])
    assert any(p["status"] == "uncertain" for p in m["areas"])


def test_most_services_have_a_verdict_and_three_have_too_few_answers(
    client: TestClient,
) -> None:
    services = {p["label"]: p for p in matrix(client)["services"]}
    assert len(services) == 36
    assert services["Caisse d'allocations familiales (Caf) de l'Oise - accueil de Chantilly"][
        "priority"
    ] in (1, 2)
    few = sorted(label for label, p in services.items() if p["status"] == "not_enough_answers")
    assert few == [
        "Horaires des bus de l'Aire Cantilienne",
        "Point-justice - Chantilly",
        "Service de gestion comptable - Chantilly",
    ]
    assert all(services[label]["quadrant"] is None for label in few)
    assert sum(1 for p in services.values() if p["n"] >= 10) == 33


def test_the_weekly_trends_cover_the_last_twelve_weeks(
    client: TestClient,
) -> None:
    r = client.get(f"/analytics/v1/tenants/{T}/trends", headers=login(client, "analyste (élu)"))
    assert r.status_code == 200, r.text
    trends = r.json()
    assert len(trends["weeks"]) == 12
    series = {s["label"]: s for s in trends["series"]}
    ccas = series["Centre communal d'action sociale (CCAS) - Chantilly"]["points"]
    # the answers were collected over the twelve weeks: a point in (nearly) each of them, from
    # the first week with an answer on (this smaller seeding may leave the oldest one empty)
    weeks = [p["week_start"] for p in ccas]
    assert len(weeks) >= 11
    assert weeks == trends["weeks"][-len(weeks) :]
    ns = [p["n"] for p in ccas]
    assert ns == sorted(ns)
    assert 0 < ns[0] < ns[-1]
    assert sum(1 for p in ccas if p["status"] != "not_enough_answers") >= 6
    assert len({p["week_start"] for s in series.values() for p in s["points"]}) >= 11


def test_comments_are_scored_with_themes_that_match_the_scores(client: TestClient) -> None:
    r = client.get(
        f"/analytics/v1/tenants/{T}/areas/Action sociale", headers=login(client, "administratrice")
    )
    assert r.status_code == 200, r.text
    explained = r.json()["explanation"]
    sentiment = explained["sentiment"]
    assert sentiment["unscored"] == 0
    assert sentiment["negative"] > sentiment["positive"]
    phrases = " ".join(t["phrase"] for t in explained["themes"]["negative"])
    assert "attente" in phrases or "dossier" in phrases
    keep_up = client.get(
        f"/analytics/v1/tenants/{T}/areas/Administration locale",
        headers=login(client, "administratrice"),
    ).json()["explanation"]["sentiment"]
    assert keep_up["positive"] > keep_up["negative"]


def test_staff_logins_work_and_the_citizen_is_no_analyst(client: TestClient) -> None:
    for role in ("administratrice", "analyste (élu)"):
        r = client.get(f"/analytics/v1/tenants/{T}/priorities", headers=login(client, role))
        assert r.status_code == 200, r.text
    citizen = login(client, "habitant")
    assert client.get(f"/analytics/v1/tenants/{T}/matrix", headers=citizen).status_code == 403
    me = client.get("/feedback/v1/me", headers=citizen).json()
    assert me["email_confirmed"] is True
    assert me["roles"] == {}


def test_the_generated_feedback_is_labelled_as_such(client: TestClient) -> None:
    admin = login(client, "administratrice")
    apps = client.get(f"/feedback/v1/tenants/{T}/partner-apps", headers=admin).json()
    assert [a["name"] for a in apps] == ["Avis de démonstration (générés)"]
    keys = client.get(
        f"/feedback/v1/tenants/{T}/partner-apps/{apps[0]['id']}/keys", headers=admin
    ).json()
    assert keys
    assert all(k["revoked_at"] for k in keys), "the loading key does not stay live"
    public = client.get(f"/feedback/v1/tenants/{T}").json()
    assert public["name"].endswith("(démonstration)")
    assert public["public_averages"] is True


def test_redaction_and_moderation_have_something_to_show(client: TestClient) -> None:
    moderator = login(client, "modératrice")
    queue = client.get(f"/feedback/v1/tenants/{T}/moderation/queue", headers=moderator)
    assert queue.status_code == 200, queue.text
    held = queue.json()["items"]
    assert len(held) == len(demo.HELD)
    assert {f["reason"] for x in held for f in x["moderation_flags"]} == {"insult", "spam"}

    comments: list[str] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = client.get(f"/feedback/v1/tenants/{T}/feedback", params=params, headers=moderator)
        assert page.status_code == 200, page.text
        comments += [x["comment"] for x in page.json()["items"] if x["comment"]]
        if not page.json().get("next_cursor"):
            break
        params["cursor"] = page.json()["next_cursor"]
    assert len(comments) > FEEDBACKS // 2
    assert not any("06 12 34 56 78" in c or "claire.dupont@" in c for c in comments)
    assert any("masqué" in c for c in comments), "some comments show redacted personal data"


def test_a_second_seed_finds_the_demo_in_place(
    seeded: tuple[Settings, demo.DemoSummary], client: TestClient
) -> None:
    settings, first = seeded
    started = time.monotonic()
    again = demo.seed_demo(settings, feedbacks=FEEDBACKS)
    assert again == first
    assert time.monotonic() - started < 10
    assert matrix(client)["crosshairs"]["answers"] == FEEDBACKS
    admin = login(client, "administratrice")
    assert len(client.get(f"/feedback/v1/tenants/{T}/partner-apps", headers=admin).json()) == 1


def test_the_generated_feedback_is_reproducible() -> None:
    entries = {p.match: f"service-public:{p.match.lower()}" for p in demo.PROFILES}
    one = demo.generate(entries, 1300, 7)
    assert one == demo.generate(entries, 1300, 7)
    assert one != demo.generate(entries, 1300, 8)
    assert len(one) == 1300
    ages = [i.age for i in one]
    assert min(ages) >= timedelta(minutes=10)
    assert max(ages) <= timedelta(weeks=13)
    assert max(ages) - min(ages) > timedelta(weeks=12), "spread over thirteen weeks"
    # The CCAS improves and the intercommunality slips (what `citela demo` generates):
    full = demo.generate(entries, demo.DEFAULT_FEEDBACKS, 2026)

    def mean(match: str, older: bool) -> float:
        mine = [i for i in full if i.entry_id == entries[match]]
        half = sorted(mine, key=lambda i: i.age, reverse=older)[: len(mine) // 2]
        return sum(i.satisfaction for i in half) / len(half)

    assert mean("(CCAS) - Chantilly", older=False) - mean("(CCAS) - Chantilly", older=True) > 0.3
    epci = "Communauté de communes"
    assert mean(epci, older=True) - mean(epci, older=False) > 0.25
    body = one[0].json(datetime(2026, 11, 28, 9, tzinfo=UTC))
    assert (
        datetime.fromisoformat(body["collected_at"])
        == datetime(2026, 11, 28, 9, tzinfo=UTC) - one[0].age
    )
    assert len({(i.user_ref, i.entry_id) for i in one}) == 1300, "one answer per person and entry"
    assert all(i.user_ref.startswith("demo-genere-") for i in one)
    with pytest.raises(ValueError, match="ne suffisent pas"):
        demo.allocate(1000)


@pytest.fixture
def runner(
    seeded: tuple[Settings, demo.DemoSummary], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    monkeypatch.setenv("CITELA_DATA_DIR", str(seeded[0].data_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_citela_demo_prints_the_addresses_and_the_logins(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["demo", "--no-serve", "--port", "8765", "--feedbacks", str(FEEDBACKS)]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "http://127.0.0.1:8765/" in out
    assert "http://127.0.0.1:8765/tableau-de-bord/aire-cantilienne/" in out
    assert "http://127.0.0.1:8765/feedback/docs" in out
    assert "http://127.0.0.1:8765/plateforme" in out
    for x in demo.demo_logins():
        assert x.email in out
        assert x.password in out
        assert x.role in out
    assert "Avis de démonstration (générés)" in out
    assert f"{FEEDBACKS} avis GÉNÉRÉS" in out
    assert "Ctrl+C" not in out, "nothing is served with --no-serve"
    refused = runner.invoke(cli, ["demo", "--no-serve", "--feedbacks", "200"])
    assert refused.exit_code == 1
    assert "ne suffisent pas" in refused.output
