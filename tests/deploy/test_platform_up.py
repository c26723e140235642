"""`make up` for real: ``deploy/platform.sh up`` brings the whole distributed platform up in
a private folder on ports of its own (its own PostgreSQL, Redis and Kafka: the shared servers
and their data are never touched), traffic goes through it, ``status`` shows every process
RUNNING and every Prometheus target up, Prometheus' HTTP API has scraped the feedback counted,
and ``down`` stops it all; the folder is then purged.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from citela_common.bus import create_bus
from citela_common.events.models import CATALOGUE_TOPIC
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback import partners, tenants
from citela_feedback.service import build_runtime
from tests.catalogue import factories as cf
from tests.feedback.conftest import PAU_ENTRIES

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ROOT / "deploy" / "platform.sh"
INFRA = ROOT / "deploy" / "infra.sh"
PROGRAMS = (
    "ingest",
    "catalogue",
    "feedback",
    "analytics",
    "web",
    "ingest-worker",
    "analytics-worker",
    "platform-worker",
    "beat",
    "queue-metrics",
    "prometheus",
)
ENTRIES = ["service-public:mairie-pau", "service-public:mediatheque-lons"]
UP_TIMEOUT_S = 480  # Kafka ~15-30 s, then a dozen Python processes importing on a busy host
# up, traffic, status, Prometheus, down: 5-6 min here with a load average above 10
pytestmark = pytest.mark.timeout(UP_TIMEOUT_S + 300)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_block(size: int) -> int:
    """The first of ``size`` consecutive free ports."""
    for _ in range(200):
        first = random.randrange(20_000, 30_000)
        if all(port_free(first + i) for i in range(size)):
            return first
    raise AssertionError("no block of free ports")


@dataclass
class Platform:
    env: dict[str, str]
    folder: Path
    ports: dict[str, int]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PLATFORM), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def settings(self) -> Settings:
        values: dict[str, Any] = {}
        for line in (self.folder / "platform" / "env").read_text().splitlines():
            key, _, value = line.partition("=")
            values[key.removeprefix("CITELA_").lower()] = value
        values.pop("log_json", None)
        return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    folder = Path(tempfile.mkdtemp(prefix="citela-up-")) / "instance"
    base = free_block(6)
    infra = free_block(5)
    ports = {
        "ingest": base,
        "catalogue": base + 1,
        "feedback": base + 2,
        "analytics": base + 3,
        "web": base + 4,
        "queue-metrics": base + 5,
        "postgres": infra,
        "redis": infra + 1,
        "kafka": infra + 2,
        "controller": infra + 3,
        "prometheus": infra + 4,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITELA_")}
    env.update(
        CITELA_INFRA_DIR=str(folder),
        CITELA_PG_PORT=str(ports["postgres"]),
        CITELA_REDIS_PORT=str(ports["redis"]),
        CITELA_KAFKA_PORT=str(ports["kafka"]),
        CITELA_KAFKA_CONTROLLER_PORT=str(ports["controller"]),
        CITELA_PLATFORM_PORT=str(base),
        CITELA_PROMETHEUS_PORT=str(ports["prometheus"]),
        CITELA_PROMETHEUS_SCRAPE_INTERVAL="2s",
        CITELA_PLATFORM_WAIT_S=str(UP_TIMEOUT_S - 60),
    )
    started = time.monotonic()
    platform = Platform(env, folder, ports)
    try:
        up = platform.run("up", timeout=UP_TIMEOUT_S)
        print(f"platform.sh up: {time.monotonic() - started:.1f} s")
        assert up.returncode == 0, up.stderr[-4000:] + logs_tail(folder)
        yield platform
    finally:
        down = platform.run("down", timeout=180)
        subprocess.run(
            [str(INFRA), "purge"], env=env, capture_output=True, timeout=120, check=False
        )
        shutil.rmtree(folder.parent, ignore_errors=True)
        assert down.returncode == 0, down.stderr[-2000:]


def logs_tail(folder: Path) -> str:
    logs = folder / "platform" / "logs"
    parts = []
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        parts.append(f"\n--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:]))
    return "".join(parts)


def prometheus(platform: Platform, query: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{platform.url('prometheus')}/api/v1/query", params={"query": query}, timeout=10
    )
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def wait_for(what: str, check: Any, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"still not {what} after {timeout_s} s"
        time.sleep(1)


def post_traffic(platform: Platform) -> int:
    """A tenant, its entries (catalogue events), a partner key, then a few feedbacks."""
    tenant = f"pau-{uuid.uuid4().hex[:6]}"
    settings = platform.settings()
    runtime = build_runtime(settings, create_bus(settings))
    try:
        with runtime.db.transaction() as session:
            scope_to_tenant(session, tenant)
            tenants.create(
                session,
                code=tenant,
                name="Communauté d'agglomération Pau Béarn Pyrénées",
                siren="200067254",
                territory_codes=["200067254"],
            )
            app = partners.create_app(session, tenant=tenant, name="Appli Pau Mobilités")
            key = partners.create_key(session, app, scopes=["feedback:write"], tenants=[tenant]).key
        runtime.bus.publish_many(
            (CATALOGUE_TOPIC, cf.event(d, tenant)) for d in [*cf.GEOGRAPHY, *PAU_ENTRIES]
        )
    finally:
        runtime.bus.close()
        runtime.db.dispose()
    comments = [
        "Accueil très aimable, mais l'attente au guichet reste longue.",
        "Horaires du samedi bien pratiques.",
        "Difficile de trouver une place pour se garer.",
        "Personnel compétent et à l'écoute.",
    ]
    url = f"{platform.url('feedback')}/v1/tenants/{tenant}/feedback"
    accepted = 0
    with httpx.Client(headers={"X-API-Key": key}, timeout=15) as client:
        for n, comment in enumerate(comments):
            body = {
                "entry_id": ENTRIES[n % 2],
                "satisfaction": 2 + n % 4,
                "importance": 5 - n % 3,
                "comment": comment,
                "user_ref": f"usager-{n}",
            }
            # the feedback service knows the entries once it has consumed their events
            answer = wait_for(
                "accepted",
                lambda body=body: (
                    r
                    if (
                        r := client.post(
                            url, json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
                        )
                    ).status_code
                    == 201
                    else None
                ),
            )
            assert answer.json()["id"]
            accepted += 1
    return accepted


def test_make_up_runs_the_platform_watched_by_prometheus(platform: Platform) -> None:
    accepted = post_traffic(platform)
    assert accepted == 4

    status = wait_for("all up", lambda: (s := platform.run("status")).returncode == 0 and s)
    for program in PROGRAMS:
        line = next((ln for ln in status.stdout.splitlines() if ln.startswith(program + " ")), "")
        assert "RUNNING" in line, f"{program}: {line!r}\n{status.stdout}"
    assert status.stdout.count(" up ") >= 7, status.stdout

    ups = wait_for(
        "every target scraped",
        lambda: (r := prometheus(platform, "up")) and len(r) >= 7 and r,
    )
    assert {s["metric"]["instance"] for s in ups} >= {
        "ingest",
        "catalogue",
        "feedback",
        "analytics",
        "web",
        "queue-metrics",
    }
    assert all(s["value"][1] == "1" for s in ups), ups

    counted = wait_for(
        "feedback counted by Prometheus",
        lambda: [
            s
            for s in prometheus(platform, "sum(citela_feedback_accepted_total)")
            if float(s["value"][1]) >= accepted
        ],
    )
    assert float(counted[0]["value"][1]) >= accepted
    # the answers went through the outbox, Kafka and the analytics consumers
    wait_for(
        "feedback events consumed by analytics",
        lambda: [
            s
            for s in prometheus(
                platform,
                'sum(citela_bus_events_consumed_total{topic="citela.feedback", outcome="ok",'
                ' instance="analytics"})',
            )
            if float(s["value"][1]) >= accepted
        ],
    )
    queues = prometheus(platform, "citela_celery_broker_up")
    assert queues
    assert queues[0]["value"][1] == "1"
