"""The synthesis API at its HTTP boundary, in both modes, fed only by events on the bus.

Feedback and catalogue events are published as the feedback and catalogue services publish
them; nothing is written into another service's tables.
"""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from citela_analytics import jobs
from citela_analytics.models import CommentScore, FeedbackFact, Outbox
from citela_common.auth import Role
from citela_common.events.models import CommentScored
from tests.analytics import factories as f
from tests.analytics.conftest import Platform
from tests.analytics.reference import reference_matrix
from tests.analytics.test_matrix import AREAS, SHAPES

NEGATIVE = [
    "Le temps d'attente au guichet est beaucoup trop long.",
    "Temps d'attente interminable, jamais vu ça.",
    "Les horaires d'ouverture sont trop restreints pour ceux qui travaillent.",
    "Horaires d'ouverture ridicules, fermé le samedi matin.",
    "Impossible de joindre l'accueil, injoignable au téléphone.",
    "Encore un temps d'attente énorme et des horaires d'ouverture trop courts.",
]
POSITIVE = [
    "Personnel aimable et bassins propres.",
    "Merci aux maîtres-nageurs, accueil chaleureux.",
    "Bassins propres, personnel aimable, parfait.",
    "Cours de natation super pour les enfants, merci.",
]


def dataset(seed: int = 7) -> tuple[list[Any], pd.DataFrame]:
    """Events (catalogue, submissions, revisions, retractions) and the final answers."""
    rng = random.Random(seed)
    events: list[Any] = [f.entry(k, title, area) for k, (title, area) in AREAS.items()]
    final: dict[str, dict[str, Any]] = {}
    for key, (imps, sats, n) in SHAPES.items():
        for i in range(n):
            fb = f.fid()
            imp, sat = rng.choice(imps), rng.choice(sats)
            comment = None
            if key == "accueil":
                comment = NEGATIVE[i % len(NEGATIVE)]
            elif key == "piscine":
                comment = POSITIVE[i % len(POSITIVE)]
            events.append(f.submitted(fb, key, imp, sat, comment))
            final[fb] = {"entry": key, "importance": imp, "satisfaction": sat}
    ids = list(final)
    for fb in ids[:5]:  # five first posts revised
        imp, sat = rng.randint(1, 5), rng.randint(1, 5)
        events.append(f.revised(fb, final[fb]["entry"], imp, sat, "Finalement ça va."))
        final[fb].update(importance=imp, satisfaction=sat)
    for fb in ids[45:48]:  # three retracted
        events.append(f.retracted(fb, final[fb]["entry"]))
        del final[fb]
    frame = pd.DataFrame(
        [
            {
                "entry": f"service-public:{a['entry']}",
                "label": AREAS[a["entry"]][0],
                "area": AREAS[a["entry"]][1],
                "importance": a["importance"],
                "satisfaction": a["satisfaction"],
            }
            for a in final.values()
        ]
    )
    return events, frame


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=1e-9, abs=1e-12)


def check_against_reference(body: dict[str, Any], ref: dict[Any, Any]) -> None:
    cross = ref[("crosshairs", "")]
    assert close(body["crosshairs"]["importance"], cross["importance"])
    assert close(body["crosshairs"]["satisfaction"], cross["satisfaction"])
    assert close(body["crosshairs"]["grand_means"]["importance"], cross["grand_importance"])
    assert body["crosshairs"]["midpoint"] == {"importance": 3.0, "satisfaction": 3.0}
    points = body["services"] + body["areas"]
    assert {(p["scope"], p["key"]) for p in points} == {k for k in ref if k[0] != "crosshairs"}
    for p in points:
        r = ref[(p["scope"], p["key"])]
        assert p["n"] == r["n"], p["key"]
        for axis in ("importance", "satisfaction", "gap"):
            for figure in ("mean", "sd", "ci_low", "ci_high"):
                assert close(p[axis][figure], r[axis][figure]), (p["key"], axis, figure)
        assert p["quadrant"] == r["quadrant"], p["key"]
        assert p["status"] == r["status"], p["key"]
        assert p["straddled"] == r["straddled"], p["key"]
        assert p["priority"] == r["priority"], p["key"]


def test_matrix_and_priorities_match_an_independent_computation(platform: Platform) -> None:
    events, frame = dataset()
    platform.publish(*events)
    body = platform.get("/matrix")
    check_against_reference(body, reference_matrix(frame, mode="grand_means"))
    assert body["settings"] == {
        "crosshair_mode": "grand_means",
        "min_answers": 10,
        "confidence": 0.95,
    }
    statuses = {p["status"] for p in body["services"]}
    assert statuses == {"clear", "uncertain", "not_enough_answers"}
    midpoint = platform.get("/matrix", crosshair="midpoint")
    check_against_reference(midpoint, reference_matrix(frame, mode="midpoint"))

    prio = platform.get("/priorities")
    assert [p["priority"] for p in prio["items"]] == list(range(1, len(prio["items"]) + 1))
    assert prio["items"][0]["quadrant"] == "act_first"
    assert [p["key"] for p in prio["not_enough_answers"]] == ["service-public:kiosque"]
    areas = platform.get("/priorities", scope="area")
    assert {p["key"] for p in areas["items"] + areas["not_enough_answers"]} == {
        a for _t, a in AREAS.values()
    }

    # the incremental sums agree with an exact recomputation from the facts
    r = platform.client.post(
        platform.base + "/recompute", headers=platform.headers(platform.admin_token)
    )
    assert r.status_code == 200, r.text
    assert r.json()["drifted_cells"] == 0
    assert r.json()["answers"] == len(frame)


def test_a_duplicate_event_changes_nothing(platform: Platform) -> None:
    platform.publish(f.entry("mairie", "Mairie de Pau", "Administration"))
    first = platform.publish(
        *(f.submitted(f.fid(), "mairie", 5, 2, "Trop d'attente") for _ in range(3))
    )
    before = platform.get("/matrix")
    platform.wait_scores(3)
    platform.send(first[0], first[1])  # redelivered as they were, same ids
    after = platform.get("/matrix")
    assert after == before
    assert before["services"][0]["n"] == 3
    assert platform.scores() == 3


def test_revision_replaces_and_retraction_removes_the_comment(platform: Platform) -> None:
    platform.publish(f.entry("mairie", "Mairie de Pau", "Administration"))
    fb = f.fid()
    platform.publish(f.submitted(fb, "mairie", 5, 1, "Guichet fermé, impossible d'entrer."))
    platform.wait_scores(1)
    platform.publish(f.revised(fb, "mairie", 4, 4, "Personnel aimable, merci."))
    point = platform.get("/matrix")["services"][0]
    assert (point["n"], point["importance"]["mean"], point["satisfaction"]["mean"]) == (1, 4, 4)
    platform.wait_scores(2)  # the new revision is scored in turn
    detail = platform.get("/services/service-public:mairie")
    assert [q["text"] for q in detail["explanation"]["quotes"]["positive"]] == [
        "Personnel aimable, merci."
    ]
    stale = f.revised(fb, "mairie", 1, 1, "ancienne version", revision=2)
    platform.publish(stale)  # a late copy of an older revision: ignored
    assert platform.get("/matrix")["services"][0]["satisfaction"]["mean"] == 4

    platform.publish(f.retracted(fb, "mairie"))
    assert platform.get("/matrix")["services"] == []
    with platform.runtime.db.transaction() as s:
        fact = s.get(FeedbackFact, (platform.tenant, fb))
        assert fact is not None
        assert fact.comment is None
        assert fact.importance is None
        scores = select(CommentScore).where(
            CommentScore.tenant_id == platform.tenant, CommentScore.feedback_id == fb
        )  # this tenant's: feedback ids repeat across test runs in the shared database
        assert s.scalars(scores).all() == []
    r = platform.client.get(
        platform.base + "/services/service-public:mairie", headers=platform.headers()
    )
    assert r.status_code == 200
    assert r.json()["explanation"]["comments"] == 0
    # a revision arriving after the retraction does not bring it back
    platform.publish(f.revised(fb, "mairie", 5, 5, "revenu ?", revision=3))
    assert platform.get("/matrix")["services"] == []


def test_a_service_detail_explains_its_gap(platform: Platform, backend: f.KeywordBackend) -> None:
    events, _frame = dataset(11)
    platform.publish(*events)
    platform.wait_all_scored(backend)
    detail = platform.get("/services/service-public:accueil")
    assert detail["point"]["label"] == "Accueil de la mairie"
    ex = detail["explanation"]
    assert ex["sentiment"]["negative"] >= 30
    assert ex["sentiment"]["unscored"] == 0
    negative = [t["phrase"] for t in ex["themes"]["negative"]]
    assert "temps d'attente" in negative
    assert "horaires d'ouverture" in negative
    stop_words = {"le", "la", "les", "de", "des", "du", "et", "est", "trop", "un", "une"}
    assert not any(p in stop_words for p in negative)
    quotes = [q["text"] for q in ex["quotes"]["negative"]]
    assert quotes
    assert all(q in NEGATIVE for q in quotes)
    assert len(set(quotes)) == len(quotes)
    pool = platform.get("/services/service-public:piscine")["explanation"]
    positive = [t["phrase"] for t in pool["themes"]["positive"]]
    assert {"personnel aimable", "bassins propres"} & set(positive), positive
    area = platform.get("/areas/Administration")
    assert {s["key"] for s in area["services"]} == {
        "service-public:accueil",
        "service-public:etat-civil",
    }
    assert area["point"]["n"] == sum(s["n"] for s in area["services"])
    assert "temps d'attente" in [t["phrase"] for t in area["explanation"]["themes"]["negative"]]
    r = platform.client.get(
        platform.base + "/services/service-public:nulle-part", headers=platform.headers()
    )
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_tenant_settings_by_admins_change_the_matrix(platform: Platform) -> None:
    platform.publish(f.entry("mairie", "Mairie de Pau", "Administration"))
    platform.publish(*(f.submitted(f.fid(), "mairie", 4, 4) for _ in range(5)))
    assert platform.get("/settings") == {
        "crosshair_mode": "grand_means",
        "min_answers": 10,
        "default": True,
        "updated_at": None,
        "updated_by": None,
    }
    assert platform.get("/matrix")["services"][0]["status"] == "not_enough_answers"
    body = {"crosshair_mode": "midpoint", "min_answers": 5}
    r = platform.client.put(platform.base + "/settings", json=body, headers=platform.headers())
    assert r.status_code == 403, "analysts read; admins change settings"
    r = platform.client.put(
        platform.base + "/settings", json=body, headers=platform.headers(platform.admin_token)
    )
    assert r.status_code == 200, r.text
    assert r.json()["default"] is False
    assert r.json()["updated_by"] == "staff-analyst"
    m = platform.get("/matrix")
    assert m["crosshairs"]["mode"] == "midpoint"
    assert (m["crosshairs"]["importance"], m["crosshairs"]["satisfaction"]) == (3.0, 3.0)
    assert m["services"][0]["quadrant"] == "keep_up"
    bad = platform.client.put(
        platform.base + "/settings",
        json={"crosshair_mode": "median", "min_answers": 1},
        headers=platform.headers(platform.admin_token),
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "body.crosshair_mode",
        "body.min_answers",
    }


def test_staff_only_and_one_tenant_at_a_time(platform: Platform) -> None:
    url = platform.base + "/matrix"
    assert platform.client.get(url).status_code == 401
    other = f.staff_token(platform.settings, "autre-collectivite", Role.ADMIN)
    r = platform.client.get(url, headers=platform.headers(other))
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    moderator = f.staff_token(platform.settings, platform.tenant, Role.MODERATOR)
    assert platform.client.get(url, headers=platform.headers(moderator)).status_code == 403
    assert platform.client.get(url, headers={"X-API-Key": "ctl_abcdefabcdef_x"}).status_code == 401
    assert platform.client.get(url, headers=platform.headers("forged")).status_code == 401
    # another tenant's answers never show
    platform.publish(f.entry("mairie", "Mairie", "Administration"), tenant="voisine")
    platform.publish(f.submitted(f.fid(), "mairie", 5, 1), tenant="voisine")
    assert platform.get("/matrix")["services"] == []


def test_period_territory_and_catalogue_changes(platform: Platform) -> None:
    platform.publish(
        f.entry("mairie", "Mairie de Pau", "Administration"),
        f.entry("mairie-lons", "Mairie de Lons", "Administration", commune="64348"),
    )
    day = f.NOW
    platform.publish(
        *(f.submitted(f.fid(), "mairie", 5, 2, at=day) for _ in range(3)),
        *(f.submitted(f.fid(), "mairie", 3, 3, at=day + timedelta(days=10)) for _ in range(2)),
        f.submitted(f.fid(), "mairie-lons", 2, 5, at=day),
    )
    first = platform.get("/matrix", **{"from": "2026-11-01", "to": "2026-11-20"})
    assert {p["key"]: p["n"] for p in first["services"]} == {
        "service-public:mairie": 3,
        "service-public:mairie-lons": 1,
    }
    assert first["period"] == {"from": "2026-11-01", "to": "2026-11-20"}
    later = platform.get("/matrix", **{"from": "2026-11-21"})
    assert [p["n"] for p in later["services"]] == [2]
    lons = platform.get("/matrix", territory="64348")
    assert [p["key"] for p in lons["services"]] == ["service-public:mairie-lons"]
    assert lons["crosshairs"]["answers"] == 1
    r = platform.client.get(
        platform.base + "/matrix",
        params={"from": "2026-11-21", "to": "2026-11-01"},
        headers=platform.headers(),
    )
    assert r.status_code == 422
    # the catalogue reclassifies a service: its answers follow it to its new area
    platform.publish(f.entry("mairie-lons", "Mairie de Lons", "Citoyenneté", version=2))
    areas = {p["key"]: p["n"] for p in platform.get("/matrix")["areas"]}
    assert areas == {"Administration": 5, "Citoyenneté": 1}
    platform.publish(f.entry("mairie-lons", "Ancien titre", "Sport", version=1))  # older: ignored
    assert {p["key"] for p in platform.get("/matrix")["areas"]} == {"Administration", "Citoyenneté"}


def test_csv_export(platform: Platform) -> None:
    events, _frame = dataset(3)
    platform.publish(*events)
    r = platform.client.get(platform.base + "/export.csv", headers=platform.headers())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    matrix = platform.get("/matrix")
    assert len(rows) == len(matrix["services"]) + len(matrix["areas"])
    by_key = {(row["scope"], row["key"]): row for row in rows}
    for p in matrix["services"] + matrix["areas"]:
        row = by_key[(p["scope"], p["key"])]
        assert int(row["n"]) == p["n"]
        assert float(row["gap_mean"]) == pytest.approx(p["gap"]["mean"], abs=1e-6)
        assert row["quadrant"] == (p["quadrant"] or "")
        assert row["priority"] == (str(p["priority"]) if p["priority"] else "")


def test_the_synthesis_report(platform: Platform, backend: f.KeywordBackend) -> None:
    events, _frame = dataset(5)
    platform.publish(*events)
    platform.wait_all_scored(backend)
    r = platform.client.post(
        platform.base + "/reports", json={"from": "2026-01-01"}, headers=platform.headers()
    )
    assert r.status_code == 202, r.text
    status_url = r.headers["location"]
    assert status_url == r.json()["status_url"]
    status = platform.client.get(status_url, headers=platform.headers()).json()
    assert status["status"] == "done"
    assert status["period"]["from"] == "2026-01-01"
    page = platform.client.get(status["content_url"], headers=platform.headers())
    assert page.status_code == 200
    content = page.json()
    assert content["tenant"] == platform.tenant
    assert content["matrix"]["period"]["from"] == "2026-01-01"
    services = content["matrix"]["services"]
    assert "Accueil de la mairie" in {p["label"] for p in services}
    first = next(p for p in services if p["priority"] == 1)
    assert first["quadrant"] == "act_first"
    explained = {e["key"]: e["explanation"] for e in content["explained"]}
    assert first["key"] in explained
    phrases = {t["phrase"] for e in explained.values() for t in e["themes"]["negative"]}
    assert "temps d'attente" in phrases
    missing = platform.client.get(platform.base + "/reports/0000", headers=platform.headers())
    assert missing.status_code == 404


def test_weekly_trends(platform: Platform) -> None:
    now = datetime.now(UTC)
    platform.publish(f.entry("mairie", "Mairie de Pau", "Administration"))
    platform.publish(
        *(f.submitted(f.fid(), "mairie", 5, 1, at=now - timedelta(days=20)) for _ in range(10)),
        *(f.submitted(f.fid(), "mairie", 5, 4, at=now - timedelta(days=9)) for _ in range(10)),
    )
    trends = platform.get("/trends", weeks=4)
    assert len(trends["weeks"]) == 4
    (series,) = trends["series"]
    assert series["key"] == "service-public:mairie"
    ns = [p["n"] for p in series["points"]]
    assert ns == sorted(ns)
    assert ns[-1] == 20
    assert ns[0] >= 10
    assert series["points"][0]["satisfaction"] == 1.0
    assert series["points"][-1]["satisfaction"] == 2.5
    assert all(p["backfilled"] for p in series["points"])
    r = platform.client.post(
        platform.base + "/snapshots", headers=platform.headers(platform.admin_token)
    )
    assert r.status_code == 200
    again = platform.get("/trends", weeks=4)
    assert again["series"][0]["points"][-1]["backfilled"] is False


def test_every_figure_is_defined_in_the_openapi(platform: Platform) -> None:
    spec = platform.client.get("/analytics/openapi.json").json()
    point = spec["components"]["schemas"]["PointOut"]["properties"]
    for name in ("n", "importance", "satisfaction", "gap", "quadrant", "status", "priority"):
        assert point[name].get("description"), name
    assert "t(0.975, n − 1)" in point["importance"]["description"]
    assert "paired" in point["gap"]["description"]
    crosshairs = spec["components"]["schemas"]["CrosshairsOut"]["properties"]
    assert "grand means" in crosshairs["mode"]["description"]
    paths = spec["paths"]
    for path in (
        "/v1/tenants/{tenant}/matrix",
        "/v1/tenants/{tenant}/priorities",
        "/v1/tenants/{tenant}/services/{entry_id}",
        "/v1/tenants/{tenant}/trends",
        "/v1/tenants/{tenant}/export.csv",
        "/v1/tenants/{tenant}/reports",
        "/v1/tenants/{tenant}/settings",
    ):
        assert path in paths, path


def test_scores_are_published_once_per_revision_and_model(platform: Platform) -> None:
    platform.publish(f.entry("mairie", "Mairie de Pau", "Administration"))
    fbs = [f.fid() for _ in range(4)]
    platform.publish(*(f.submitted(fb, "mairie", 5, 2, "Temps d'attente trop long") for fb in fbs))
    platform.wait_scores(4)
    with platform.runtime.db.transaction() as s:
        published = s.scalars(
            select(Outbox).where(
                Outbox.tenant == platform.tenant, Outbox.event_type == CommentScored.event_type
            )
        ).all()
    assert sorted(o.envelope["data"]["feedback_id"] for o in published) == sorted(fbs)
    assert {o.envelope["data"]["model_version"] for o in published} == {"1"}
    detail = platform.get("/services/service-public:mairie")
    assert detail["explanation"]["sentiment"]["negative"] == 4


def test_a_score_is_written_once_by_the_scorer_and_reaches_the_views(platform: Platform) -> None:
    """No self-echo: once its ``comment.scored`` events are relayed, analytics stores nothing
    more; a second scoring run neither stores nor publishes again; the views show the score."""
    platform.publish(f.entry("mairie", "Mairie de Pau", "Administration"))
    fbs = [f.fid() for _ in range(3)]
    platform.publish(*(f.submitted(fb, "mairie", 5, 2, "Temps d'attente trop long") for fb in fbs))
    platform.wait_scores(3)
    deadline = time.monotonic() + 30
    while True:  # the relay publishes the events on the analytics topic
        with platform.runtime.db.transaction() as s:
            unsent = s.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.tenant == platform.tenant, Outbox.sent_at.is_(None))
            )
        if not unsent:
            break
        assert time.monotonic() < deadline, f"{unsent} events never relayed"
        time.sleep(0.05)
    time.sleep(0.3)  # a consumer of its own topic would have had the time to write
    assert jobs.score(platform.runtime, platform.tenant)["scored"] == 0
    with platform.runtime.db.transaction() as s:
        rows = s.execute(
            select(CommentScore.feedback_id, CommentScore.revision).where(
                CommentScore.tenant_id == platform.tenant
            )
        ).all()
        published = s.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.tenant == platform.tenant, Outbox.event_type == CommentScored.event_type)
        )
    assert sorted(rows) == sorted((fb, 1) for fb in fbs)
    assert published == 3
    detail = platform.get("/services/service-public:mairie")
    assert detail["explanation"]["sentiment"]["negative"] == 3
    matrix = platform.get("/matrix")
    assert [p["n"] for p in matrix["services"]] == [3]


def test_the_quadrants_are_public_and_name_every_point(platform: Platform) -> None:
    """One place for the rule and its French names: GET /v1/quadrants (no token), and the
    points' code and label are the same words."""
    r = platform.client.get("/analytics/v1/quadrants")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [q["code"] for q in body["items"]] == [
        "act_first",
        "keep_up",
        "secondary",
        "over_investment",
    ]
    names = {q["code"]: q["label"] for q in body["items"]}
    assert names["act_first"] == "À traiter en priorité"
    assert all(q["action"] and q["description"] for q in body["items"])
    assert "supérieure ou égale" in body["rule"]
    platform.publish(f.entry("mairie", "Mairie de Pau", "Administration"))
    platform.publish(f.entry("piscine", "Piscine", "Sport"))
    platform.publish(
        *(f.submitted(f.fid(), "mairie", 5, 2, None) for _ in range(10)),
        *(f.submitted(f.fid(), "piscine", 2, 5, None) for _ in range(10)),
    )
    points = platform.get("/matrix")["services"]
    assert {p["quadrant"] for p in points} == {"act_first", "over_investment"}
    for p in points:
        assert p["quadrant_label"] == names[p["quadrant"]]
    spec = platform.client.get("/analytics/openapi.json").json()
    assert "/v1/quadrants" in spec["paths"]


def test_metrics_of_the_analytics_service(platform: Platform) -> None:
    platform.publish(f.entry("mairie", "Mairie de Pau", "Administration"))
    platform.publish(*(f.submitted(f.fid(), "mairie", 5, 2, "Trop d'attente") for _ in range(2)))
    platform.wait_scores(2)
    platform.publish(f.submitted(f.fid(), "mairie", 4, 4, "Personnel aimable, merci."))
    platform.wait_scores(3)
    platform.client.post(
        platform.base + "/recompute", headers=platform.headers(platform.admin_token)
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the lag gauge is set after each poll
        text = platform.client.get("/analytics/metrics").text
        if 'group="analytics-catalogue"' in text:
            break
        time.sleep(0.2)
    assert 'citela_analytics_comments_scored_total{backend="test-keywords"}' in text
    assert "citela_analytics_scoring_delay_seconds_count" in text
    assert "citela_analytics_scoring_batch_duration_seconds_count" in text
    assert "citela_analytics_matrix_update_delay_seconds_count" in text
    assert "citela_analytics_recompute_duration_seconds_count" in text
    for group in ("analytics-facts", "analytics-catalogue"):
        assert f'group="{group}"' in text, group
    assert 'group="analytics-scores"' not in text  # the scorer's write is the only one
