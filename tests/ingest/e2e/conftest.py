"""A whole platform (embedded or distributed) with a helper to harvest and read the catalogue."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citela_common.settings import Settings
from citela_ingest.harvester import RunSummary
from citela_ingest.runs import Endpoints, run_harvest
from citela_platform.embedded import create_embedded_app

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "opendata"
E2E = FIXTURES / "e2e-aire-cantilienne"
OISE = FIXTURES / "geo-api" / "communes_codeDepartement_60.json"
EPCI = "246000764"  # CC de l'Aire Cantilienne


class Platform:
    def __init__(self, client: TestClient, tenant: str) -> None:
        self.client = client
        self.tenant = tenant
        app: Any = client.app
        self.ingest = app.state.runtimes["ingest"]
        self.catalogue = app.state.runtimes["catalogue"]

    def harvest(
        self,
        source: str,
        path: Path | None = None,
        *,
        territory: str = EPCI,
        grace: timedelta = timedelta(days=3),
        **kwargs: Any,
    ) -> RunSummary:
        summary = run_harvest(
            self.ingest.db,
            source,
            tenant=self.tenant,
            territory_code=territory,
            path=path,
            grace_period=grace,
            on_commit=self.ingest.relay.wake,
            **kwargs,
        )
        self.settle()
        return summary

    def settle(self, timeout_s: float = 60) -> None:
        """Wait until the ingest outbox is published and the catalogue consumer has caught up."""
        deadline = time.monotonic() + timeout_s
        while self.ingest.relay.backlog()[0] and time.monotonic() < deadline:
            self.ingest.relay.wake()
            time.sleep(0.05)
        assert self.ingest.relay.backlog()[0] == 0, "the ingest outbox was not published"
        from sqlalchemy import select

        from citela_catalogue.models import ProcessedEvent
        from citela_ingest.models import Outbox

        with self.ingest.db.transaction() as s:
            ids = set(s.scalars(select(Outbox.event_id).where(Outbox.tenant == self.tenant)))
        while time.monotonic() < deadline:
            with self.catalogue.db.transaction() as s:
                done = set(
                    s.scalars(
                        select(ProcessedEvent.event_id).where(
                            ProcessedEvent.consumer == "catalogue-projection",
                            ProcessedEvent.event_id.in_(ids),
                        )
                    )
                )
            if done == ids:
                return
            time.sleep(0.05)
        raise AssertionError(f"the catalogue did not catch up ({len(ids - done)} missing)")

    def get(self, path: str, expect: int = 200, **params: Any) -> Any:
        # `from` is a keyword in Python: pass it as from_
        params = {k.rstrip("_"): v for k, v in params.items()}
        r = self.client.get(f"/catalogue/v1/tenants/{self.tenant}{path}", params=params)
        assert r.status_code == expect, r.text
        return r.json()

    def ingest_api(self, path: str, **params: Any) -> Any:
        r = self.client.get(f"/ingest/v1/tenants/{self.tenant}{path}", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def published(self) -> int:
        """Events the ingest service has published so far."""
        from sqlalchemy import func, select

        from citela_ingest.models import Outbox

        with self.ingest.db.transaction() as s:
            return int(
                s.scalar(
                    select(func.count()).select_from(Outbox).where(Outbox.tenant == self.tenant)
                )
                or 0
            )


@pytest.fixture(params=["embedded", "distributed"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=tmp_path / "var")
    if request.param == "distributed":
        settings = Settings(
            data_dir=tmp_path / "var",
            database_url=request.getfixturevalue("pg_url"),
            kafka_bootstrap=request.getfixturevalue("kafka_bootstrap"),
            redis_url=request.getfixturevalue("redis_url"),
            kafka_client_id=f"test-{tenant}",
            outbox_poll_interval_s=0.05,
        )
    else:
        settings = Settings(data_dir=tmp_path / "var", outbox_poll_interval_s=0.05)
    with TestClient(create_embedded_app(settings)) as client:
        yield Platform(client, tenant)


@pytest.fixture
def with_oise(platform: Platform) -> Platform:
    # the Oise's communes, for its département (`--territory` is honoured: a commune outside
    # the territory asked for is skipped)
    summary = platform.harvest("territories", OISE, territory="60")
    assert summary.counts["new"] == 679
    return platform


Harvest = Callable[..., RunSummary]
_ = Endpoints
