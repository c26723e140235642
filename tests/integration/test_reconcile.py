"""`citela analytics reconcile` on the distributed stack (Kafka, PostgreSQL): answers lost on
purpose are reported as écarts per entry, and `--repair` has the feedback service publish them
again, after which the matrix equals the feedback service's counts.

The platform runs for real (its consumers on Kafka, its API on a socket); the command asks the
feedback API over HTTP, with an operator token minted from the same settings."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from citela_analytics.models import FeedbackFact, MatrixCell
from citela_common.settings import get_settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback.settings import FeedbackSettings
from citela_platform.cli import app as citela
from citela_platform.embedded import create_embedded_app
from tests.catalogue import factories as cf
from tests.feedback.support import FeedbackPlatform, smtp_server
from tests.support.live_server import live_server

MAIRIE = "service-public:mairie-pau"
CCAS = "service-public:ccas-pau"


def reconcile(feedback_url: str, tenant: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        citela,
        [
            "analytics",
            "reconcile",
            "--tenant",
            tenant,
            "--feedback-url",
            feedback_url,
            "--json",
            *extra,
        ],
    )
    assert result.exit_code in (0, 1), result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, report


def test_lost_answers_are_reported_and_repaired(
    pg_url: str,
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "CITELA_DATABASE_URL": pg_url,
        "CITELA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CITELA_REDIS_URL": redis_url,
        "CITELA_DATA_DIR": str(tmp_path / "cli"),
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with smtp_server() as (inbox, port):
        settings = FeedbackSettings(
            data_dir=tmp_path / "var",
            database_url=pg_url,
            kafka_bootstrap=kafka_bootstrap,
            redis_url=redis_url,
            smtp_host="127.0.0.1",
            smtp_port=port,
            password_hash_time_cost=1,
            password_hash_memory_kib=1024,
            password_hash_parallelism=1,
        )
        application = create_embedded_app(settings)
        with live_server(application) as base:
            fp = FeedbackPlatform(TestClient(application), settings, inbox, "distributed")
            analytics = application.state.runtimes["analytics"]
            fp.create_tenant()
            entries = [
                cf.entry("mairie-pau", "Mairie de Pau", "64445", policy_area="Citoyenneté"),
                cf.entry("ccas-pau", "CCAS de Pau", "64445", policy_area="Action sociale"),
            ]
            fp.publish(*cf.GEOGRAPHY, *entries)
            partner = fp.partner("feedback:write")
            for n in range(10):
                r = fp.post(
                    partner,
                    entry_id=MAIRIE if n < 6 else CCAS,
                    user_ref=f"usager-{n}",
                    importance=1 + n % 5,
                    satisfaction=5 - n % 5,
                )
                assert r.status_code == 201, r.text

            def matrix() -> dict[str, int]:
                with analytics.db.transaction() as session:
                    scope_to_tenant(session, fp.tenant)
                    rows = session.execute(
                        select(MatrixCell.entry_id, func.sum(MatrixCell.n))
                        .where(MatrixCell.tenant_id == fp.tenant)
                        .group_by(MatrixCell.entry_id)
                    )
                    return {e: int(n) for e, n in rows}

            deadline = time.monotonic() + 90
            while matrix() != {MAIRIE: 6, CCAS: 4}:
                assert time.monotonic() < deadline, f"matrix never reached 10: {matrix()}"
                time.sleep(0.2)
            url = f"{base}/feedback"
            code, report = reconcile(url, fp.tenant)
            assert code == 0, report
            assert report["ecarts"] == 0

            # Lose three answers of the mairie: their facts deleted, the matrix recomputed
            # from what is left (what a lost event would have left).
            with analytics.db.transaction() as session:
                scope_to_tenant(session, fp.tenant)
                lost = session.scalars(
                    select(FeedbackFact.feedback_id)
                    .where(FeedbackFact.tenant_id == fp.tenant, FeedbackFact.entry_id == MAIRIE)
                    .limit(3)
                ).all()
                session.execute(
                    delete(FeedbackFact).where(
                        FeedbackFact.tenant_id == fp.tenant, FeedbackFact.feedback_id.in_(lost)
                    )
                )
            recomputed = CliRunner().invoke(
                citela, ["analytics", "recompute", "--tenant", fp.tenant]
            )
            assert "réponses" in recomputed.output, recomputed.output
            assert matrix() == {MAIRIE: 3, CCAS: 4}

            code, report = reconcile(url, fp.tenant)
            assert code == 1
            (tenant_report,) = report["tenants"]
            assert tenant_report["feedback"] == 10
            assert tenant_report["matrix"] == 7
            assert tenant_report["ecarts"] == [{"entry_id": MAIRIE, "feedback": 6, "matrix": 3}]

            text = CliRunner().invoke(
                citela,
                ["analytics", "reconcile", "--tenant", fp.tenant, "--feedback-url", url],
            )
            assert text.exit_code == 1
            assert "3 dans" not in text.stdout
            assert "7 dans la matrice, 1 écarts" in text.stdout
            assert MAIRIE in text.stdout

            code, report = reconcile(url, fp.tenant, "--repair", "--wait-s", "90")
            assert code == 0, report
            (tenant_report,) = report["tenants"]
            assert tenant_report["republished"] == 3
            assert tenant_report["ecarts"] == []
            assert tenant_report["feedback"] == tenant_report["matrix"] == 10
            assert matrix() == {MAIRIE: 6, CCAS: 4}
    get_settings.cache_clear()
