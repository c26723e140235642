"""Answers collected earlier (an offline kiosk in a town hall, a paper survey) and uploaded
later by a partner app: dated when they were given, in the events and in the analytics trends.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.feedback.support import FeedbackPlatform, fields, problem

PARIS = ZoneInfo("Europe/Paris")
MAIRIE = "service-public:mairie-pau"
CCAS = "service-public:ccas-pau"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def weeks_ago(weeks: int) -> datetime:
    """Wednesday noon, French time, ``weeks`` weeks before this one: well inside that week."""
    today = datetime.now(PARIS).date()
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks)
    return datetime(monday.year, monday.month, monday.day, 12, tzinfo=PARIS) + timedelta(days=2)


def batch(platform: FeedbackPlatform, headers: dict[str, str], items: list[dict[str, Any]]) -> Any:
    r = platform.client.post(
        platform.url("/feedback/batch"), json={"items": items}, headers=headers
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_a_partner_batch_of_answers_collected_over_past_weeks_fills_the_weekly_trends(
    platform: FeedbackPlatform,
) -> None:
    kiosk = platform.partner("feedback:write", "feedback:read")
    # The kiosk of the town hall was offline three weeks: two answers a week, uploaded today.
    scores = {3: (2, 2), 2: (3, 4), 1: (5, 5)}
    items: list[dict[str, Any]] = [
        {
            "entry_id": MAIRIE,
            "user_ref": f"borne-{weeks}-{n}",
            "satisfaction": s,
            "importance": 4,
            "collected_at": (weeks_ago(weeks) + timedelta(hours=n)).isoformat(),
        }
        for weeks, pair in scores.items()
        for n, s in enumerate(pair)
    ]
    before = datetime.now(UTC)
    done = batch(platform, kiosk, items)
    assert (done["accepted"], done["rejected"]) == (6, 0)

    events = platform.published.wait(6)
    dated = sorted(at(e.data["submitted_at"]) for e in events)
    assert dated == sorted(at(i["collected_at"]) for i in items)
    assert {e.data["channel"] for e in events} == {"partner"}

    first = platform.client.get(
        platform.url(f"/feedback/{done['results'][0]['feedback_id']}"), headers=kiosk
    ).json()
    assert at(first["submitted_at"]) == at(items[0]["collected_at"])
    assert at(first["created_at"]) >= before, "the time it was received is kept"
    [version] = platform.client.get(
        platform.url(f"/feedback/{first['id']}/history"), headers=kiosk
    ).json()
    assert at(version["submitted_at"]) == at(items[0]["collected_at"])
    assert at(version["received_at"]) >= before

    analyst = platform.staff("analyst")
    trends_url = f"/analytics/v1/tenants/{platform.tenant}/trends"
    deadline = time.monotonic() + 60
    while True:  # analytics counts the answers once it has consumed their events
        r = platform.client.get(trends_url, params={"weeks": 4}, headers=analyst)
        assert r.status_code == 200, r.text
        series = {s["key"]: s for s in r.json()["series"]}
        points = series.get(MAIRIE, {}).get("points", [])
        if (points and points[-1]["n"] == 6) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    mondays = [(weeks_ago(w) - timedelta(days=2)).date().isoformat() for w in (3, 2, 1)]
    assert r.json()["weeks"][1:] == mondays
    # One point per week from the first answer on, each over every answer up to that week.
    assert [(p["week_start"], p["n"]) for p in points] == list(zip(mondays, [2, 4, 6], strict=True))


def test_a_citizen_may_not_date_an_answer(platform: FeedbackPlatform) -> None:
    _, me = platform.citizen()
    refused = problem(platform.post(me, collected_at=weeks_ago(2).isoformat()), 422)
    assert fields(refused) == {"body.collected_at": "forbidden"}
    assert refused["errors"][0]["reason"] == "only partner apps may date an answer"
    assert platform.feedback_rows() == []


def test_answers_dated_in_the_future_or_more_than_a_year_ago_are_refused_field_by_field(
    platform: FeedbackPlatform,
) -> None:
    partner = platform.partner("feedback:write")
    now = datetime.now(UTC)
    future = problem(
        platform.post(
            partner, user_ref="borne-1", collected_at=(now + timedelta(hours=1)).isoformat()
        ),
        422,
    )
    assert fields(future) == {"body.collected_at": "in_future"}
    too_old = problem(
        platform.post(
            partner, user_ref="borne-1", collected_at=(now - timedelta(days=366)).isoformat()
        ),
        422,
    )
    assert fields(too_old) == {"body.collected_at": "too_old"}
    naive = problem(
        platform.post(partner, user_ref="borne-1", collected_at="2026-10-14T10:30:00"), 422
    )
    assert "body.collected_at" in fields(naive), "a date without its time zone is ambiguous"
    assert platform.feedback_rows() == []

    # A partner's clock a minute ahead is tolerated; so is an answer of almost a year ago.
    skewed = platform.post(
        partner, user_ref="borne-2", collected_at=(now + timedelta(minutes=1)).isoformat()
    )
    assert skewed.status_code == 201, skewed.text
    done = batch(
        platform,
        partner,
        [
            {
                "entry_id": MAIRIE,
                "user_ref": "papier-1",
                "satisfaction": 3,
                "importance": 3,
                "collected_at": (now + timedelta(days=2)).isoformat(),
            },
            {
                "entry_id": CCAS,
                "user_ref": "papier-2",
                "satisfaction": 3,
                "importance": 3,
                "collected_at": (now - timedelta(days=400)).isoformat(),
            },
            {
                "entry_id": CCAS,
                "user_ref": "papier-3",
                "satisfaction": 3,
                "importance": 3,
                "collected_at": (now - timedelta(days=360)).isoformat(),
            },
        ],
    )
    assert [
        (x["status"], [(e["field"], e["code"]) for e in x["errors"]]) for x in done["results"]
    ] == [
        ("rejected", [("body.items.0.collected_at", "in_future")]),
        ("rejected", [("body.items.1.collected_at", "too_old")]),
        ("accepted", []),
    ]
    assert len(platform.feedback_rows()) == 2


def test_an_answer_collected_before_the_current_one_does_not_replace_it(
    platform: FeedbackPlatform,
) -> None:
    partner = platform.partner("feedback:write", "feedback:read")
    recent = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    first = platform.post(
        partner,
        user_ref="usager-7",
        satisfaction=4,
        comment="Accueil agréable.",
        collected_at=recent,
    )
    assert first.status_code == 201, first.text
    fid = first.json()["id"]

    older = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    stale = problem(
        platform.post(partner, user_ref="usager-7", satisfaction=1, collected_at=older), 409
    )
    assert stale["type"].endswith("/newer-feedback-exists")
    assert fields(stale) == {"body.collected_at": "older_than_current"}
    kept = platform.client.get(platform.url(f"/feedback/{fid}"), headers=partner).json()
    assert (kept["satisfaction"], kept["revision"]) == (4, 1)
    assert at(kept["submitted_at"]) == at(recent)

    # In a batch: rejected with that reason, even behind a newer answer of the same batch.
    newer = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    done = batch(
        platform,
        partner,
        [
            {
                "entry_id": MAIRIE,
                "user_ref": "usager-7",
                "satisfaction": 2,
                "importance": 5,
                "collected_at": older,
            },
            {
                "entry_id": MAIRIE,
                "user_ref": "usager-7",
                "satisfaction": 5,
                "importance": 5,
                "collected_at": newer,
            },
            {
                "entry_id": MAIRIE,
                "user_ref": "usager-7",
                "satisfaction": 3,
                "importance": 5,
                "collected_at": recent,
            },
        ],
    )
    assert [(x["status"], x["outcome"]) for x in done["results"]] == [
        ("rejected", None),
        ("accepted", "revised"),
        ("rejected", None),
    ]
    assert {e["code"] for x in done["results"] for e in x["errors"]} == {"older_than_current"}
    history = platform.client.get(platform.url(f"/feedback/{fid}/history"), headers=partner).json()
    assert [(h["satisfaction"], at(h["submitted_at"])) for h in history] == [
        (4, at(recent)),
        (5, at(newer)),
    ]
    events = platform.published.wait(2)
    assert [at(e.data["submitted_at"]) for e in events] == [at(recent), at(newer)]

    # An answer given now (no date) always is the newest.
    now = platform.post(partner, user_ref="usager-7", satisfaction=3)
    assert now.json()["outcome"] == "revised"
    assert at(now.json()["submitted_at"]) == at(now.json()["updated_at"])


def test_without_a_date_an_answer_is_dated_when_received_and_idempotency_holds(
    platform: FeedbackPlatform,
) -> None:
    partner = platform.partner("feedback:write")
    before = datetime.now(UTC)
    plain = platform.post(partner, user_ref="usager-1")
    assert plain.status_code == 201, plain.text
    assert before <= at(plain.json()["submitted_at"]) <= datetime.now(UTC)
    [event] = platform.published.wait(1)
    assert at(event.data["submitted_at"]) == at(plain.json()["submitted_at"])

    key = {"Idempotency-Key": f"borne-{uuid.uuid4()}", **partner}
    when = weeks_ago(2).isoformat()
    sent = platform.post(key, user_ref="usager-2", collected_at=when)
    again = platform.post(key, user_ref="usager-2", collected_at=when)
    assert sent.status_code == again.status_code == 201
    assert again.json() == sent.json()
    assert again.headers["idempotent-replayed"] == "true"
    other_date = platform.post(key, user_ref="usager-2", collected_at=weeks_ago(3).isoformat())
    assert fields(problem(other_date, 422)) == {"header.Idempotency-Key": "reused"}
    assert len(platform.feedback_rows()) == 2

    doc = platform.client.get("/feedback/openapi.json").json()
    described = doc["components"]["schemas"]["FeedbackIn"]["properties"]["collected_at"]
    assert "partner apps only" in described["description"]
    assert "409" in doc["paths"]["/v1/tenants/{tenant}/feedback"]["post"]["responses"]
