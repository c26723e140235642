"""Every problem the APIs can answer has a French sentence for the people who read the pages."""

from __future__ import annotations

import re
from pathlib import Path

from citela_web.api_client import ApiError
from citela_web.messages import SLUG_MESSAGES, STATUS_MESSAGES, problem_message

SERVICES = Path(__file__).resolve().parents[2] / "services"


def test_every_slug_the_services_raise_has_a_french_message() -> None:
    slugs = {
        match
        for source in SERVICES.glob("*/src/**/*.py")
        for match in re.findall(r'slug="([a-z-]+)"', source.read_text(encoding="utf-8"))
    }
    assert len(slugs) > 20  # the scan finds the problems (it would pass on nothing otherwise)
    missing = sorted(slugs - SLUG_MESSAGES.keys())
    assert not missing, f"no French message for {missing}: add them to citela_web.messages"


def test_an_unknown_slug_falls_back_on_its_status() -> None:
    for status, message in STATUS_MESSAGES.items():
        assert problem_message(ApiError(status, "x", slug="nouveau-probleme")) == message
    assert problem_message(ApiError(418, "x")).startswith("Une erreur inattendue")
