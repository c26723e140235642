"""Freshness under load, end to end: a feedback POST answered → the analytics matrix has it.

``uv run python bench/analytics_post_to_matrix.py [--mode embedded|distributed] [--rate 50]``

embedded (default): the embedded platform (four services, in-process bus, SQLite) under uvicorn
on loopback, in this process. distributed: the same app on Kafka + PostgreSQL + Redis
(``deploy/infra.sh up``; URLs from ``deploy/infra.sh env``), a fresh tenant code per run.
A partner app posts single feedbacks (one new author each, spread over three catalogue
entries of one tenant) at ``--rate`` POSTs/s for ``--seconds``, open loop, from a pool of
client threads. A poller reads the tenant's answer count from the matrix sums
(``MatrixCell``, the rows the matrix API aggregates) every ``--poll-ms`` ms. A tenant's
events stay in order, so the k-th accepted POST (by the time its response arrived) is in the
matrix once the count reaches k; its latency is from that response to the first poll that
sees it (overstated by up to one poll interval).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ and tests/ as packages
from bench.feedback_intake import free_port, item, setup_tenant

from citela_analytics.models import MatrixCell
from citela_common.logging import configure_logging
from citela_common.settings import Settings
from citela_platform.embedded import create_embedded_app


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def settings_for(args: argparse.Namespace, run_id: str) -> Settings:
    extra: dict[str, Any] = {}
    if args.outbox_poll_s is not None:
        extra["outbox_poll_interval_s"] = args.outbox_poll_s
    if args.mode == "distributed":
        extra.update(
            database_url=os.environ.get(
                "CITELA_DATABASE_URL", "postgresql+psycopg://citela:citela@127.0.0.1:5432/citela"
            ),
            kafka_bootstrap=os.environ.get("CITELA_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            redis_url=os.environ.get("CITELA_REDIS_URL", "redis://127.0.0.1:6379/0"),
            kafka_client_id=f"bench-p2m-{run_id}",
        )
    return Settings(data_dir=Path(mkdtemp()), log_level="WARNING", **extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["embedded", "distributed"], default="embedded")
    parser.add_argument("--rate", type=float, default=50.0, help="POSTs per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16, help="client threads")
    parser.add_argument("--poll-ms", type=float, default=5.0)
    parser.add_argument(
        "--outbox-poll-s", type=float, default=None, help="outbox relay poll (Settings default)"
    )
    args = parser.parse_args()
    configure_logging("WARNING", json=False)
    run_id = uuid.uuid4().hex[:8]
    settings = settings_for(args, run_id)
    app = create_embedded_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    runtimes = app.state.runtimes
    analytics_db = runtimes["analytics"].db
    tenant = f"bench-p2m-{run_id}"
    key = setup_tenant(runtimes["feedback"], tenant)
    url = f"http://127.0.0.1:{port}/feedback/v1/tenants/{tenant}/feedback"

    stmt = select(func.sum(MatrixCell.n)).where(MatrixCell.tenant_id == tenant)

    def matrix_n() -> int:
        with analytics_db.transaction() as session:
            return int(session.execute(stmt).scalar() or 0)

    # warm-up: connections, the relay, the consumers joining their groups
    with httpx.Client(headers={"X-API-Key": key}, timeout=60.0) as warm:
        warm.post(url, json=item(10**8)).raise_for_status()
    deadline = time.monotonic() + 120
    while matrix_n() < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up feedback never reached the matrix")
        time.sleep(0.05)
    base_n = matrix_n()

    answered: list[float] = []  # perf_counter when each accepted POST's response arrived
    failures: list[str] = []
    seen: list[float] = []  # seen[k]: first poll where the matrix had base_n + k + 1 answers
    lock = threading.Lock()
    done = threading.Event()
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(headers={"X-API-Key": key}, timeout=120.0)
        return local.client  # type: ignore[no-any-return]

    def post(n: int) -> None:
        try:
            r = client().post(url, json=item(n))
        except httpx.HTTPError as e:
            with lock:
                failures.append(repr(e))
            return
        now = time.perf_counter()
        with lock:
            if r.status_code == 201:
                answered.append(now)
            else:
                failures.append(f"{r.status_code} {r.text[:200]}")

    def poll() -> None:
        while True:
            n = matrix_n() - base_n
            now = time.perf_counter()
            while len(seen) < n:
                seen.append(now)
            if done.is_set() and len(seen) >= len(answered):
                return
            time.sleep(args.poll_ms / 1000)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    total = int(args.rate * args.seconds)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        for n in range(total):
            pause = started + n / args.rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(post, n)
        sending = time.perf_counter() - started
    posting = time.perf_counter() - started
    done.set()
    poller.join(timeout=300)
    caught_up = time.perf_counter() - started
    server.should_exit = True
    thread.join(30)

    latencies = [(s - a) * 1000 for a, s in zip(sorted(answered), seen, strict=False)]
    engine = analytics_db.engine.dialect.name
    print(
        f"mode                {args.mode} ({engine}), outbox poll "
        f"{settings.outbox_poll_interval_s}s, matrix poll {args.poll_ms:g} ms"
    )
    print(f"posts sent          {total} ({args.clients} client threads)")
    print(f"posts accepted      {len(answered)} (failed {len(failures)})")
    print(f"offered rate        {total / sending:,.1f} POSTs/s (target {args.rate:g})")
    print(f"achieved rate       {len(answered) / posting:,.1f} accepted/s (until the last answer)")
    print(
        f"matrix caught up    {caught_up:,.1f} s after the first POST "
        f"({len(seen)}/{len(answered)} seen)"
    )
    if failures:
        print(f"first failure       {failures[0]}")
    if latencies:
        print(f"latency p50         {percentile(latencies, 50):,.1f} ms")
        print(f"latency p99         {percentile(latencies, 99):,.1f} ms")
        print(f"latency mean        {statistics.fmean(latencies):,.1f} ms")
        print(f"latency max         {max(latencies):,.1f} ms")
        fifths = [
            latencies[i * len(latencies) // 5 : (i + 1) * len(latencies) // 5] for i in range(5)
        ]
        print(
            "p50 by fifth        "
            + " / ".join(f"{percentile(f, 50):,.0f}" for f in fifths if f)
            + " ms"
        )


if __name__ == "__main__":
    main()
