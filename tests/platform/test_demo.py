"""The demo: the Aire Cantilienne from recorded open data, generated feedback in the matrix.

One seeding (a smaller one than `citela demo`'s, for speed) on a temporary embedded platform;
every check reads it back over the platform's public HTTP APIs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citela_common.settings import Settings, get_settings
from citela_platform import demo
from citela_platform.cli import app as cli
from citela_platform.embedded import create_embedded_app

FEEDBACKS = 200
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
    assert summary.entries == 6
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
    r = client.get(f"/catalogue/v1/tenants/{T}/entries", params={"territory": "246000764"})
    assert r.status_code == 200, r.text
    titles = {e["title"] for e in r.json()["items"]}
    assert {
        "Mairie - Coye-la-Forêt",
        "Centre communal d'action sociale (CCAS) - Chantilly",
        "Communauté de communes - Aire Cantilienne",
        "Horaires des bus de l'Aire Cantilienne",
        "Chez Jeanne",
    } <= titles
    # the Oise's communes came with them: Chantilly is found by its postal code
    found = client.get(f"/catalogue/v1/tenants/{T}/territories", params={"q": "60500"})
    assert "Chantilly" in [c["name"] for c in found.json()]
    in_coye = client.get(f"/catalogue/v1/tenants/{T}/entries", params={"territory": "60172"})
    assert "Mairie - Coye-la-Forêt" in {e["title"] for e in in_coye.json()["items"]}


def test_the_matrix_fills_the_four_quadrants_and_shows_a_cell_without_enough_answers(
    client: TestClient,
) -> None:
    m = matrix(client)
    assert m["crosshairs"]["answers"] == FEEDBACKS
    area_quadrants = {p["key"]: p["quadrant"] for p in m["areas"]}
    assert area_quadrants == {
        "Action sociale": "act_first",
        "Administration locale": "keep_up",
        "Culture": "secondary",
        "Tourisme et loisirs": "over_investment",
    }
    services = {p["label"]: p for p in m["services"]}
    assert services["Centre communal d'action sociale (CCAS) - Chantilly"]["priority"] == 1
    assert {p["quadrant"] for p in m["services"]} >= {
        "act_first",
        "keep_up",
        "secondary",
        "over_investment",
    }
    few = [p for p in m["services"] if p["status"] == "not_enough_answers"]
    assert [p["label"] for p in few] == ["Horaires des bus de l'Aire Cantilienne"]
    assert few[0]["quadrant"] is None
    assert sum(1 for p in m["services"] if p["n"] >= 10) == 5


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
    one = demo.generate(entries, 300, 7)
    assert one == demo.generate(entries, 300, 7)
    assert one != demo.generate(entries, 300, 8)
    assert len(one) == 300
    ages = [i.age for i in one]
    assert min(ages) >= timedelta(minutes=10)
    assert max(ages) <= timedelta(weeks=13)
    assert max(ages) - min(ages) > timedelta(weeks=12), "spread over thirteen weeks"
    # The CCAS improves and the intercommunality slips (what `citela demo` generates):
    full = demo.generate(entries, 1500, 2026)

    def mean(match: str, older: bool) -> float:
        mine = [i for i in full if i.entry_id == entries[match]]
        half = sorted(mine, key=lambda i: i.age, reverse=older)[: len(mine) // 2]
        return sum(i.satisfaction for i in half) / len(half)

    assert mean("CCAS", older=False) - mean("CCAS", older=True) > 0.3
    assert mean("Communauté", older=True) - mean("Communauté", older=False) > 0.25
    body = one[0].json(datetime(2026, 11, 28, 9, tzinfo=UTC))
    assert (
        datetime.fromisoformat(body["collected_at"])
        == datetime(2026, 11, 28, 9, tzinfo=UTC) - one[0].age
    )
    assert len({(i.user_ref, i.entry_id) for i in one}) == 300, "one answer per person and entry"
    assert all(i.user_ref.startswith("demo-genere-") for i in one)
    with pytest.raises(ValueError, match="ne suffisent pas"):
        demo.allocate(40)


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
    refused = runner.invoke(cli, ["demo", "--no-serve", "--feedbacks", "20"])
    assert refused.exit_code == 1
    assert "ne suffisent pas" in refused.output
