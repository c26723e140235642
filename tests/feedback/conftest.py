"""Fixtures of the feedback tests: a real SMTP server and the platform in both modes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citela_feedback.settings import FeedbackSettings
from citela_platform.embedded import create_embedded_app
from tests.catalogue import factories as cf
from tests.feedback.support import FeedbackPlatform, Inbox, smtp_server

PAU_ENTRIES = [
    cf.entry("mairie-pau", "Mairie de Pau", "64445"),
    cf.entry("mediatheque-lons", "Médiathèque de Lons", "64348", policy_area="Culture"),
    cf.entry("ccas-pau", "CCAS de Pau", "64445", policy_area="Action sociale"),
    cf.entry("mairie-arudy", "Mairie d'Arudy", "64024"),  # outside the agglomeration
]


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def feedback_settings(tmp_path: Path, smtp_port: int, **extra: object) -> FeedbackSettings:
    return FeedbackSettings(
        data_dir=tmp_path / "var",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        # cheap hashes in tests; production keeps the RFC 9106 defaults
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["embedded", "distributed"])
def platform(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: tuple[Inbox, int]
) -> Iterator[FeedbackPlatform]:
    inbox, port = smtp
    extra: dict[str, object] = {}
    if request.param == "distributed":
        extra = {
            "database_url": request.getfixturevalue("pg_url"),
            "kafka_bootstrap": request.getfixturevalue("kafka_bootstrap"),
            "redis_url": request.getfixturevalue("redis_url"),
            "kafka_client_id": f"test-feedback-{uuid.uuid4().hex[:6]}",
        }
    settings = feedback_settings(tmp_path, port, **extra)
    with TestClient(create_embedded_app(settings)) as client:
        p = FeedbackPlatform(client, settings, inbox, request.param)
        p.create_tenant()
        p.publish(*cf.GEOGRAPHY, *PAU_ENTRIES)
        try:
            yield p
        finally:
            p.published.close()
