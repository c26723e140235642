"""Single POSTs that arrive together are written together (group commit), and each keeps its
own answer: a refusal is one request's alone, a retry with the same Idempotency-Key replays the
first answer, two answers of one author on one entry become a submission then a revision, and
every accepted feedback has its event. Both modes, many requests at once on the worker's event
loop, as uvicorn serves them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from prometheus_client import REGISTRY

from tests.feedback.support import FeedbackPlatform, fields

COMMENTS = [
    "Accueil rapide à la mairie, merci aux agents.",
    "Horaires d'ouverture trop courts le samedi.",
    "Le dossier de carte d'identité a été traité en une semaine.",
    "Personne ne répond au téléphone le matin.",
    "Très bon accueil au guichet état civil.",
    "Le parking devant la mairie est toujours plein.",
]


def _groups() -> tuple[float, float]:
    count = REGISTRY.get_sample_value("citela_feedback_group_commit_size_count") or 0.0
    total = REGISTRY.get_sample_value("citela_feedback_group_commit_size_sum") or 0.0
    return count, total


def test_requests_arriving_together_are_committed_together_each_with_its_answer(
    platform: FeedbackPlatform,
) -> None:
    key = platform.partner("feedback:write", "feedback:read")
    published = platform.published
    url = platform.url("/feedback")
    retry_key = f"avis-{uuid.uuid4()}"

    requests: list[tuple[dict[str, Any], dict[str, str]]] = []
    for n in range(18):  # eighteen users of the partner app, each a new feedback
        body = {
            "entry_id": "service-public:mairie-pau" if n % 2 else "service-public:ccas-pau",
            "satisfaction": 1 + n % 5,
            "importance": 5 - n % 5,
            "user_ref": f"usager-{n}",
            "comment": COMMENTS[n % len(COMMENTS)],
        }
        requests.append((body, {**key, "Idempotency-Key": f"avis-{uuid.uuid4()}"}))
    # The same request sent twice at once (a partner's retry): one feedback, one answer.
    twice = {
        "entry_id": "service-public:mairie-pau",
        "satisfaction": 2,
        "importance": 4,
        "user_ref": "usager-retry",
        "comment": "Attente de quarante minutes au guichet.",
    }
    requests += [(twice, {**key, "Idempotency-Key": retry_key})] * 2
    # Refused: an entry the catalogue does not hold.
    requests.append(
        (
            {
                "entry_id": "service-public:inconnue",
                "satisfaction": 3,
                "importance": 3,
                "user_ref": "usager-perdu",
            },
            key,
        )
    )
    # One author's two answers on one entry: a submission and a revision, in either order.
    for satisfaction in (1, 4):
        requests.append(
            (
                {
                    "entry_id": "service-public:ccas-pau",
                    "satisfaction": satisfaction,
                    "importance": 5,
                    "user_ref": "usager-double",
                },
                key,
            )
        )

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=platform.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(
                *(client.post(url, json=body, headers=headers) for body, headers in requests)
            )

    before = _groups()
    answers = asyncio.run(send_all())
    after = _groups()

    fresh = answers[:18]
    assert [a.status_code for a in fresh] == [201] * 18, [a.text for a in fresh]
    assert len({a.json()["id"] for a in fresh}) == 18
    first, second = answers[18], answers[19]
    assert {first.status_code, second.status_code} == {201}
    assert first.json()["id"] == second.json()["id"]
    assert [a.headers.get("Idempotent-Replayed") for a in (first, second)].count("true") == 1
    refused = answers[20]
    assert refused.status_code == 422, refused.text
    assert fields(refused.json()) == {"body.entry_id": "unknown_entry"}
    double = answers[21:]
    assert sorted(a.json()["outcome"] for a in double) == ["revised", "submitted"]
    assert len({a.json()["id"] for a in double}) == 1

    rows = platform.feedback_rows()
    assert len(rows) == 18 + 1 + 1
    revised = next(r for r in rows if r.partner_user_ref == "usager-double")
    assert revised.revision == 2
    events = published.wait(18 + 1 + 2)
    assert len(events) == 18 + 1 + 2
    assert len({e.id for e in events}) == len(events)

    # Written in groups: fewer transactions than requests.
    groups, requests_grouped = after[0] - before[0], after[1] - before[1]
    assert requests_grouped == len(requests)
    assert groups < len(requests)


def test_a_burst_over_the_rate_limit_is_counted_request_by_request(
    platform: FeedbackPlatform,
) -> None:
    key = platform.partner("feedback:write", rate_limit=5)
    url = platform.url("/feedback")
    bodies = [
        {
            "entry_id": "service-public:mairie-pau",
            "satisfaction": 3,
            "importance": 4,
            "user_ref": f"habitant-{n}",
            "comment": "Délais raisonnables pour le permis de construire.",
        }
        for n in range(12)
    ]

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=platform.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(client.post(url, json=b, headers=key) for b in bodies))

    answers = asyncio.run(send_all())
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 5 + [429] * 7, [a.text for a in answers]
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["type"].endswith("rate-limited")
    assert len(platform.feedback_rows()) == 5
