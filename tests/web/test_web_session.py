"""The web session at the HTTP boundary: tokens in cookies, refresh, flash, unreachable APIs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from citela_common.auth import TokenService, TokenType
from citela_feedback.settings import FeedbackSettings
from citela_platform.embedded import create_embedded_app
from citela_web.api_client import Api, ApiError
from citela_web.filters import french_date, french_number, french_percent
from citela_web.messages import problem_message
from citela_web.session import ACCESS_COOKIE, REFRESH_COOKIE
from tests.feedback.support import FeedbackPlatform, smtp_server


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[FeedbackPlatform]:
    with smtp_server() as (inbox, port):
        settings = FeedbackSettings(
            data_dir=tmp_path / "var",
            smtp_host="127.0.0.1",
            smtp_port=port,
            password_hash_time_cost=1,
            password_hash_memory_kib=1024,
            password_hash_parallelism=1,
        )
        with TestClient(create_embedded_app(settings)) as client:
            yield FeedbackPlatform(client, settings, inbox, "embedded")


def _tokens(platform: FeedbackPlatform) -> dict[str, str]:
    email_address = platform.register("camille")
    platform.confirm(email_address)
    r = platform.client.post(
        "/feedback/v1/auth/token",
        json={"email": email_address, "password": "un mot de passe solide"},
    )
    assert r.status_code == 200, r.text
    body: dict[str, str] = r.json()
    return body


def test_an_expired_session_is_refreshed_once_then_refused(platform: FeedbackPlatform) -> None:
    pair = _tokens(platform)
    claims = TokenService(platform.settings).decode(pair["access_token"], TokenType.ACCESS)
    expired = (
        TokenService(platform.settings)
        .issue(claims["sub"], TokenType.ACCESS, timedelta(seconds=-60), roles={}, op=False)
        .token
    )
    client = platform.client
    client.cookies.set(ACCESS_COOKIE, expired)
    client.cookies.set(REFRESH_COOKIE, pair["refresh_token"])

    page = client.get("/")
    assert page.status_code == 200
    assert "Mon compte" in page.text
    assert "Se connecter" not in page.text
    set_cookies = dict(
        h.split(";", 1)[0].split("=", 1) for h in page.headers.get_list("set-cookie")
    )
    assert set_cookies[ACCESS_COOKIE] not in ("", expired)
    assert set_cookies[REFRESH_COOKIE] not in ("", pair["refresh_token"])  # used once, replaced

    # The old refresh token was spent: replaying it signs the visitor out, cookies cleared.
    client.cookies.clear()
    client.cookies.set(ACCESS_COOKIE, expired)
    client.cookies.set(REFRESH_COOKIE, pair["refresh_token"])
    page = client.get("/")
    assert "Se connecter" in page.text
    assert "Mon compte" not in page.text
    cleared = [h for h in page.headers.get_list("set-cookie") if h.startswith(ACCESS_COOKIE)]
    assert cleared
    assert "Max-Age=0" in cleared[0]


def test_pages_are_never_cached_and_carry_a_csrf_cookie(platform: FeedbackPlatform) -> None:
    page = platform.client.get("/")
    assert page.headers["cache-control"] == "no-store"
    csrf = [h for h in page.headers.get_list("set-cookie") if h.startswith("citela_csrf=")]
    assert csrf
    assert "SameSite=Lax" in csrf[0]
    css = platform.client.get("/static/citela.css")
    assert css.status_code == 200
    assert "immutable" in css.headers["cache-control"]


def test_a_forged_flash_message_is_not_shown(platform: FeedbackPlatform) -> None:
    platform.client.cookies.set(
        "citela_flash", '{"m": "Votre compte a ete pirate", "k": "error"}|0000'
    )
    page = platform.client.get("/")
    assert page.status_code == 200
    assert "pirate" not in page.text


def test_an_unknown_page_is_a_french_404(platform: FeedbackPlatform) -> None:
    page = platform.client.get("/cette-page-n-existe-pas")
    assert page.status_code == 404
    assert "Page introuvable" in page.text
    assert '<html lang="fr">' in page.text


def test_an_api_that_does_not_answer_is_a_clear_french_message() -> None:
    async def call() -> ApiError:
        client = httpx.AsyncClient(timeout=2)
        # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        api = Api(client, {"catalogue": "http://127.0.0.1:9"})
        try:
            await api.get("catalogue", "/v1/tenants/x/entries")
        except ApiError as exc:
            return exc
        finally:
            await client.aclose()
        raise AssertionError("no error")

    error = asyncio.run(call())
    assert error.status == 503
    assert problem_message(error).startswith("Le service ne répond pas")


def test_french_formats() -> None:
    assert french_date("2026-12-01") == "1er décembre 2026"
    assert french_date("2026-11-28T10:00:00Z", weekday=True) == "samedi 28 novembre 2026"
    assert french_number(3.456) == "3,5"
    assert french_number(12345, 0) == "12\u202f345"
    assert french_percent(0.423) == "42\u00a0%"
    assert french_number(None) == "—"
