"""The web on its own (distributed mode): it reaches the four APIs over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citela_common.settings import Settings, get_settings
from citela_platform.cli import app as cli
from citela_platform.embedded import create_embedded_app
from citela_web.app import create_web_app
from citela_web.settings import WebSettings
from tests.feedback.support import free_port
from tests.support.live_server import live_server


@pytest.fixture
def apis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The platform's APIs on a real socket, with one tenant; yields their base URL."""
    monkeypatch.setenv("CITELA_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    created = CliRunner().invoke(
        cli,
        [
            "tenant-create", "senlis", "--name", "Ville de Senlis",
            "--siren", "216006126", "--territory", "60612",
        ],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    get_settings.cache_clear()
    with live_server(create_embedded_app(Settings(data_dir=tmp_path / "var"))) as url:
        yield url


def test_the_standalone_web_calls_the_apis_over_http(apis: str, tmp_path: Path) -> None:
    settings = WebSettings(
        data_dir=tmp_path / "web",
        web_catalogue_url=f"{apis}/catalogue",
        web_feedback_url=f"{apis}/feedback",
        web_analytics_url=f"{apis}/analytics",
        web_ingest_url=f"{apis}/ingest",
    )
    with TestClient(create_web_app(settings)) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert "Ville de Senlis" in home.text  # read from the feedback API, over the socket
        missing = client.get("/c/inconnue/")
        assert missing.status_code == 404
        assert '<html lang="fr">' in missing.text
        dashboard = client.get("/tableau-de-bord/senlis/", follow_redirects=False)
        assert dashboard.status_code == 303  # not signed in: to the sign-in page
        assert client.get("/healthz").json() == {"status": "ok", "service": "web"}


def test_the_web_says_so_when_the_apis_do_not_answer(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = WebSettings(
        data_dir=tmp_path / "web",
        web_catalogue_url=f"{closed}/catalogue",
        web_feedback_url=f"{closed}/feedback",
        web_analytics_url=f"{closed}/analytics",
        web_ingest_url=f"{closed}/ingest",
    )
    with TestClient(create_web_app(settings)) as client:
        page = client.get("/c/senlis/")
        assert page.status_code == 503
        assert "Le service ne répond pas pour le moment" in page.text
