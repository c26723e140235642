"""The operator's commands: tenant, staff and API key, then the key works over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citela_common.settings import Settings, get_settings
from citela_platform.cli import app
from citela_platform.embedded import create_embedded_app


def test_an_operator_creates_a_tenant_staff_and_an_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "CITELA_DATA_DIR": str(tmp_path / "var"),
        "CITELA_PASSWORD_HASH_TIME_COST": "1",
        "CITELA_PASSWORD_HASH_MEMORY_KIB": "1024",
        "CITELA_PASSWORD_HASH_PARALLELISM": "1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("CITELA_DATABASE_URL", "CITELA_KAFKA_BOOTSTRAP", "CITELA_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(
            app,
            [
                "tenant-create",
                "agglo-pau",
                "--name",
                "CA Pau Béarn Pyrénées",
                "--siren",
                "200067254",
                "--territory",
                "200067254",
            ],
        )
        assert created.exit_code == 0, created.output
        again = runner.invoke(
            app,
            [
                "tenant-create",
                "agglo-pau",
                "--name",
                "Pau",
                "--siren",
                "200067254",
                "--territory",
                "64445",
            ],
        )
        assert again.exit_code == 2
        assert "already exists" in again.output
        staff = runner.invoke(
            app,
            [
                "staff-add",
                "admin@pau.fr",
                "--tenant",
                "agglo-pau",
                "--role",
                "admin",
                "--password",
                "un mot de passe solide",
            ],
        )
        assert staff.exit_code == 0, staff.output
        app_id = runner.invoke(app, ["partner-app-create", "Appli de Pau", "--tenant", "agglo-pau"])
        assert app_id.exit_code == 0, app_id.output
        key = runner.invoke(
            app,
            [
                "api-key-create",
                "--app",
                "Appli de Pau",
                "--tenant",
                "agglo-pau",
                "--scope",
                "feedback:read",
            ],
        )
        assert key.exit_code == 0, key.output
        plaintext = key.stdout.strip().splitlines()[-1]
        assert plaintext.startswith("ctl_")
        listed = runner.invoke(app, ["tenant-list"])
        assert "agglo-pau" in listed.stdout

        with TestClient(create_embedded_app(Settings(data_dir=tmp_path / "var"))) as client:
            r = client.get(
                "/feedback/v1/tenants/agglo-pau/feedback", headers={"X-API-Key": plaintext}
            )
            assert r.status_code == 200, r.text
            token = client.post(
                "/feedback/v1/auth/token",
                json={"email": "admin@pau.fr", "password": "un mot de passe solide"},
            ).json()["access_token"]
            me = client.get("/feedback/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
            assert me["roles"] == {"agglo-pau": ["admin"]}
        prefix = plaintext.split("_")[1]
        revoked = runner.invoke(app, ["api-key-revoke", prefix])
        assert revoked.exit_code == 0, revoked.output
        with TestClient(create_embedded_app(Settings(data_dir=tmp_path / "var"))) as client:
            r = client.get(
                "/feedback/v1/tenants/agglo-pau/feedback", headers={"X-API-Key": plaintext}
            )
            assert r.status_code == 401
    finally:
        get_settings.cache_clear()
