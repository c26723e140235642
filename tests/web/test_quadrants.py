"""The quadrants' names come from the analytics API, asked once and kept a while."""

from __future__ import annotations

import asyncio
import json

import httpx

from citela_web.api_client import Api
from citela_web.quadrants import QuadrantBook

QUADRANTS = [
    {"code": "act_first", "label": "À traiter en priorité", "action": "agir", "description": "d"},
    {"code": "keep_up", "label": "À maintenir", "action": "", "description": ""},
]


def book(answers: list[httpx.Response], ttl_s: float = 60) -> tuple[QuadrantBook, list[str]]:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return answers[min(len(asked), len(answers)) - 1]

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return QuadrantBook(Api(client, {"analytics": "http://analytics"}), ttl_s), asked


def test_the_names_are_asked_once_then_kept() -> None:
    quadrants, asked = book([httpx.Response(200, json=QUADRANTS)])

    async def twice() -> dict[str, str]:
        await quadrants.labels()
        return await quadrants.labels()

    assert asyncio.run(twice()) == {"act_first": "À traiter en priorité", "keep_up": "À maintenir"}
    assert asked == ["/v1/quadrants"]


def test_stale_names_beat_a_failing_api() -> None:
    down = httpx.Response(503, json={"title": "down"})
    quadrants, asked = book(
        [httpx.Response(200, json={"rule": "La règle.", "items": QUADRANTS}), down], ttl_s=0
    )

    async def run() -> tuple[list[str], list[str]]:
        first = [q.label for q in await quadrants.all()]
        again = [q.label for q in await quadrants.all()]
        return first, again

    first, again = asyncio.run(run())
    assert first == again == ["À traiter en priorité", "À maintenir"]
    assert len(asked) == 2  # asked again once expired, kept when the API failed
    assert quadrants.rule == "La règle."


def test_an_analytics_api_without_the_list_names_what_its_points_carry() -> None:
    missing = httpx.Response(404, content=json.dumps({"title": "Not Found"}).encode())
    quadrants, _ = book([missing])
    points: list[dict[str, str | None]] = [
        {"quadrant": "keep_up", "quadrant_label": "À maintenir"},
        {"quadrant": None, "quadrant_label": None},
    ]
    assert asyncio.run(quadrants.labels(points)) == {"keep_up": "À maintenir"}
