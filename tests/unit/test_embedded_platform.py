"""The embedded platform: one process, four services, SQLite, in-process bus."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from citela_common.settings import Mode, Settings
from citela_platform.embedded import create_embedded_app

SERVICES = ("ingest", "catalogue", "feedback", "analytics")


def test_embedded_mode_follows_from_configuration(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).mode is Mode.EMBEDDED
    assert Settings(kafka_bootstrap="127.0.0.1:9092").mode is Mode.DISTRIBUTED


def test_one_process_serves_the_four_services_with_health_and_metrics(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    with TestClient(create_embedded_app(settings)) as client:
        landing = client.get("/plateforme")
        assert landing.status_code == 200
        assert '<html lang="fr">' in landing.text
        for name in SERVICES:
            assert f'href="/{name}/docs"' in landing.text
            assert client.get(f"/{name}/healthz").json() == {"status": "ok", "service": name}
            ready = client.get(f"/{name}/readyz")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert {n: c["state"] for n, c in checks.items()} == {
                "database": "ok",
                "bus": "ok",
                "outbox": "ok",
                "consumers": "ok",
            }
            assert client.get(f"/{name}/openapi.json").json()["info"]["title"].startswith("Citéla")
            assert "citela_http_requests_total" in client.get(f"/{name}/metrics").text
        platform = client.get("/readyz")
        assert (platform.status_code, platform.json()["status"]) == (200, "ready")
        assert platform.json()["checks"]["feedback.database"]["state"] == "ok"
        assert [s["name"] for s in client.get("/v1/services").json()] == list(SERVICES)
    # each service's schema is its own SQLite file, migrated at start-up
    assert sorted(p.name for p in (tmp_path / "var").glob("citela.*.db")) == sorted(
        f"citela.{n}.db" for n in SERVICES
    )
