"""Feedback intake, end to end: accepted feedback/s over HTTP into Kafka, single vs batch.

Runs the feedback service distributed (PostgreSQL, Kafka, Redis from ``deploy/infra.sh up``)
under uvicorn on loopback, and a partner app posting through its API key:
- single: one feedback per POST (with an Idempotency-Key), ``--concurrency`` clients;
- batch:  ``--batch-size`` feedbacks per POST to /feedback/batch, two clients.
For each: HTTP latency p50/p99 per request, accepted feedback/s as the API answers, and end to
end — from the first request to the last event read back from the ``citela.feedback`` topic
(outbox, relay, broker acks included).

``uv run python bench/feedback_intake.py`` (figures from one run on one machine).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import httpx
import uvicorn
from kafka import KafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the catalogue test factories
from tests.catalogue import factories as cf

from citela_common.events.models import FEEDBACK_TOPIC
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback import partners, tenants
from citela_feedback.readmodel import apply_event
from citela_platform.standalone import create_app

ENTRIES = [
    cf.entry("mairie-pau", "Mairie de Pau", "64445"),
    cf.entry("mediatheque-lons", "Médiathèque de Lons", "64348"),
    cf.entry("ccas-pau", "CCAS de Pau", "64445", policy_area="Action sociale"),
]
COMMENT = "Accueil aimable mais attente trop longue au guichet, surtout le samedi matin."


@dataclass
class Result:
    label: str
    accepted: int
    requests: int
    http_seconds: float
    e2e_seconds: float
    latencies: list[float]

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return (
            f"{self.label:<26}{self.accepted:>9}{self.requests:>9}"
            f"{self.accepted / self.http_seconds:>12,.0f}{self.accepted / self.e2e_seconds:>12,.0f}"
            f"{p50:>10.1f}{p99:>10.1f}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tail:
    """Reads the feedback topic from its current end; notes when each tenant's events land."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        parts = [
            TopicPartition(FEEDBACK_TOPIC, p)
            for p in sorted(self.consumer.partitions_for_topic(FEEDBACK_TOPIC) or [])
        ]
        self.consumer.assign(parts)
        for tp, offset in self.consumer.end_offsets(parts).items():
            self.consumer.seek(tp, offset)
        self.counts: dict[str, int] = {}
        self.last_at: dict[str, float] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self.consumer.poll(timeout_ms=200).values():
                now = time.perf_counter()
                for r in records:
                    tenant = dict(r.headers or []).get("ce_tenant", b"").decode()
                    self.counts[tenant] = self.counts.get(tenant, 0) + 1
                    self.last_at[tenant] = now

    def wait(self, tenant: str, count: int, timeout_s: float = 300) -> float:
        deadline = time.monotonic() + timeout_s
        while self.counts.get(tenant, 0) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.counts.get(tenant, 0) < count:
            raise RuntimeError(f"{tenant}: {self.counts.get(tenant, 0)}/{count} events on Kafka")
        return self.last_at[tenant]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.consumer.close()


def setup_tenant(runtime: Any, code: str) -> str:
    with runtime.db.transaction() as session:
        scope_to_tenant(session, code)
        tenants.create(
            session, code=code, name="Bench", siren="200067254", territory_codes=["200067254"]
        )
        app = partners.create_app(session, tenant=code, name="Bench", rate_limit_per_minute=10**6)
        key = partners.create_key(session, app, scopes=["feedback:write"], tenants=[code]).key
    # The read model learns the catalogue straight from the events (the projection's own code),
    # not through the shared consumer group: this measures intake, not the projection.
    for event in [cf.event(d, code) for d in [*cf.GEOGRAPHY, *ENTRIES]]:
        with runtime.db.transaction() as s:
            apply_event(s, event)
    return key


def item(n: int) -> dict[str, Any]:
    return {
        "entry_id": ENTRIES[n % 3].entry_id,
        "satisfaction": 1 + n % 5,
        "importance": 1 + (n * 3) % 5,
        "comment": COMMENT,
        "user_ref": f"usager-{n}",
    }


def run(
    label: str,
    base: str,
    tenant: str,
    key: str,
    tail: Tail,
    calls: list[Callable[[httpx.Client], int]],
    concurrency: int,
) -> Result:
    latencies: list[float] = []
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120.0)
        return local.client  # type: ignore[no-any-return]

    def one(call: Callable[[httpx.Client], int]) -> int:
        started = time.perf_counter()
        accepted = call(client())
        latencies.append(time.perf_counter() - started)
        return accepted

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        accepted = sum(pool.map(one, calls))
    http_done = time.perf_counter()
    last = tail.wait(tenant, accepted)
    return Result(label, accepted, len(calls), http_done - t0, max(last, http_done) - t0, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--singles", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    settings = Settings(
        data_dir=Path(mkdtemp()),
        database_url=os.environ.get(
            "CITELA_DATABASE_URL", "postgresql+psycopg://citela:citela@127.0.0.1:5432/citela"
        ),
        kafka_bootstrap=os.environ.get("CITELA_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        redis_url=os.environ.get("CITELA_REDIS_URL", "redis://127.0.0.1:6379/0"),
        outbox_poll_interval_s=0.05,
        log_level="WARNING",
    )
    app = create_app("feedback", settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    runtime = app.state.runtime
    base = f"http://127.0.0.1:{port}"
    run_id = uuid.uuid4().hex[:6]
    single_tenant, batch_tenant = f"bench-s-{run_id}", f"bench-b-{run_id}"
    single_key = setup_tenant(runtime, single_tenant)
    batch_key = setup_tenant(runtime, batch_tenant)
    tail = Tail(settings.kafka_bootstrap or "")

    def single_call(n: int) -> Callable[[httpx.Client], int]:
        def call(client: httpx.Client) -> int:
            r = client.post(
                f"/v1/tenants/{single_tenant}/feedback",
                json=item(n),
                headers={"Idempotency-Key": f"{run_id}-{n}"},
            )
            r.raise_for_status()
            return 1

        return call

    def batch_call(b: int) -> Callable[[httpx.Client], int]:
        items = [item(b * args.batch_size + i) for i in range(args.batch_size)]

        def call(client: httpx.Client) -> int:
            r = client.post(f"/v1/tenants/{batch_tenant}/feedback/batch", json={"items": items})
            r.raise_for_status()
            return int(r.json()["accepted"])

        return call

    # warm-up: connections, prepared statements, producer metadata
    warm = httpx.Client(base_url=base, headers={"X-API-Key": single_key})
    warm.post(f"/v1/tenants/{single_tenant}/feedback", json=item(10**8)).raise_for_status()
    tail.wait(single_tenant, 1)
    tail.counts[single_tenant] = 0

    single = run(
        f"single x{args.concurrency} clients",
        base,
        single_tenant,
        single_key,
        tail,
        [single_call(n) for n in range(args.singles)],
        args.concurrency,
    )
    batch = run(
        f"batch of {args.batch_size} x2 clients",
        base,
        batch_tenant,
        batch_key,
        tail,
        [batch_call(b) for b in range(args.batches)],
        2,
    )
    tail.close()
    server.should_exit = True
    thread.join(10)
    print(
        "feedback service on uvicorn (1 process), PostgreSQL + Kafka + Redis on loopback, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'path':<26}{'accepted':>9}{'requests':>9}{'HTTP fb/s':>12}{'e2e fb/s':>12}"
        f"{'p50 ms':>10}{'p99 ms':>10}"
    )
    print(single.row())
    print(batch.row())
    print("p50/p99: latency of one HTTP request (a batch request carries the whole batch);")
    print("e2e: accepted feedback / time from the first request to the last event read on Kafka.")


if __name__ == "__main__":
    main()
