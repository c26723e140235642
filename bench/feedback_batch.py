"""Batch feedback intake against a bare psycopg ``executemany`` of the same rows.

One run, distributed (PostgreSQL + Kafka + Redis, a database of its own), back to back:
1. the anchor: psycopg ``executemany`` of the rows the service stores for each feedback
   (25 values, as ``feedback.feedbacks``) into a table of the same width with no index
   (``CREATE TABLE … (LIKE feedback.feedbacks)``), one transaction per batch, on as many
   connections (threads) as the service has workers;
2. the feedback service as ``citela serve feedback --workers 2`` runs it: partner apps post
   ``POST /v1/tenants/{t}/feedback/batch`` of ``--batch-size`` feedbacks (new authors each,
   varied realistic comments), from as many clients as workers, over HTTP with httpx (few large
   requests: the bodies are encoded before the clock starts); each 200 means the batch is
   committed with its outbox events.
Then it checks that every stored feedback reached the ``citela.feedback`` topic.

The last line: ``ratio=<project/bare> project=<feedback/s> bare=<rows/s> errors=<count>``.

``uv run --no-sync python bench/feedback_batch.py --batches 20 --batch-size 1000``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ and tests/ as packages
from bench.feedback_intake import (
    ENTRIES,
    events_on_kafka,
    prepare_tenant,
    server,
    service_env,
    stored,
    topic_ends,
)
from bench.modes import (
    add_mode_arguments,
    clear_environment,
    delete_groups,
    describe,
    fresh_database,
    own_groups,
    run_id,
    settings_for,
    start_at_end,
)
from bench.support.platform import free_port

from citela_common.bus.memory import InProcessBus
from citela_feedback.intake import FEEDBACK_COLUMNS
from citela_feedback.service import build_runtime

COMMENTS = [
    "Accueil aimable mais attente trop longue au guichet, surtout le samedi matin.",
    "Personnel très à l'écoute, démarche réglée en dix minutes. Merci !",
    "Impossible de joindre le service par téléphone, personne ne rappelle.",
    "Horaires d'ouverture peu pratiques pour les personnes qui travaillent.",
    "Locaux propres et bien indiqués, l'agent m'a aidé à remplir le formulaire.",
    "Le site internet ne fonctionne pas, j'ai dû me déplacer deux fois.",
    "Très bon accueil à la médiathèque, large choix de livres pour enfants.",
    "Trop de bruit dans la salle d'attente, on n'entend pas les appels.",
    None,
    "Rendez-vous tenu à l'heure, explications claires sur les aides possibles.",
]


def items(batch: int, size: int, run: str) -> list[dict[str, Any]]:
    out = []
    for i in range(size):
        n = batch * size + i
        comment = COMMENTS[n % len(COMMENTS)]
        item: dict[str, Any] = {
            "entry_id": ENTRIES[n % len(ENTRIES)].entry_id,
            "satisfaction": 1 + n % 5,
            "importance": 1 + (n * 3) % 5,
            "user_ref": f"usager-{run}-{n}",
        }
        if comment is not None:
            item["comment"] = f"{comment} (n° {n})" if n % 7 else comment
        out.append(item)
    return out


def anchor_rows(tenant: str, batch: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows of ``feedback.feedbacks`` the service would store for these items."""
    now = datetime.now(UTC)
    rows = []
    for it in batch:
        author = f"partner:bench:{it['user_ref']}"
        values = {
            "id": uuid.uuid4().hex,
            "tenant_id": tenant,
            "entry_id": it["entry_id"],
            "author_kind": "partner",
            "account_id": None,
            "partner_app_id": "bench",
            "partner_user_ref": it["user_ref"],
            "author_key": author,
            "current_key": uuid.uuid4().hex + uuid.uuid4().hex,
            "channel": "partner",
            "satisfaction": it["satisfaction"],
            "importance": it["importance"],
            "comment": it.get("comment"),
            "comment_redacted": it.get("comment"),
            "revision": 1,
            "moderation_status": "visible" if it.get("comment") else "none",
            "moderation_flags": json.dumps([]),
            "moderation_note": None,
            "moderated_by": None,
            "moderated_at": None,
            "submitted_at": now,
            "created_at": now,
            "updated_at": now,
            "retracted_at": None,
            "retraction_reason": None,
        }
        rows.append(tuple(values[c] for c in FEEDBACK_COLUMNS))
    return rows


def run_anchor(url: str, tenant: str, batches: list[list[dict[str, Any]]], clients: int) -> float:
    """Rows per second of psycopg executemany, one transaction per batch."""
    table = f"bare_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (LIKE feedback.feedbacks INCLUDING DEFAULTS)")
    columns = ", ".join(FEEDBACK_COLUMNS)
    marks = ", ".join(["%s"] * len(FEEDBACK_COLUMNS))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
    prepared = [anchor_rows(tenant, b) for b in batches]
    lock = threading.Lock()
    queue = list(range(len(prepared)))

    def worker() -> int:
        done = 0
        with psycopg.connect(url) as conn:
            while True:
                with lock:
                    if not queue:
                        return done
                    index = queue.pop()
                with conn.cursor() as cur:
                    cur.executemany(sql, prepared[index])
                conn.commit()
                done += len(prepared[index])

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(lambda _: worker(), range(clients)))
    seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {table}")
    return total / seconds


def run_project(
    base: str, tenant: str, key: str, bodies: list[bytes], clients: int
) -> tuple[float, int, int, list[float]]:
    """(accepted feedback/s, accepted, errors, request latencies) of the batch POSTs."""
    lock = threading.Lock()
    queue = list(range(len(bodies)))
    accepted = 0
    errors = 0
    latencies: list[float] = []

    def worker() -> None:
        nonlocal accepted, errors
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    index = queue.pop(0)
                t0 = time.perf_counter()
                try:
                    r = client.post(
                        f"/v1/tenants/{tenant}/feedback/batch",
                        content=bodies[index],
                        headers={"Idempotency-Key": f"batch-{index}-{uuid.uuid4().hex}"},
                    )
                except httpx.HTTPError:
                    with lock:
                        errors += 1
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    if r.status_code == 200:
                        accepted += int(r.json()["accepted"])
                        errors += int(r.json()["rejected"])
                    else:
                        errors += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    return accepted / seconds, accepted, errors, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_mode_arguments(parser, default="distributed")
    parser.add_argument("--batches", type=int, default=20, help="batches measured")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers, and clients")
    args = parser.parse_args()
    if args.mode != "distributed":
        raise SystemExit("the anchor is psycopg: run this benchmark with --mode distributed")
    clear_environment()
    run = run_id()
    tenant = f"bench-batch-{run}"
    with ExitStack() as stack:
        database_url = stack.enter_context(fresh_database(args.pg_url, f"bench_batch_{run}"))
        settings = settings_for(args, database_url=database_url, client_id=f"bench-batch-{run}")
        runtime = build_runtime(settings, InProcessBus())
        runtime.migrate()
        key = prepare_tenant(runtime, tenant)
        groups = own_groups([runtime], run)
        start_at_end(args.kafka, groups)
        starts = topic_ends(args.kafka)
        warm = [items(10**6 + w, args.batch_size, run) for w in range(args.workers)]
        measured = [items(b, args.batch_size, run) for b in range(args.batches)]

        pg = make_url(database_url).set(drivername="postgresql")
        bare = run_anchor(pg.render_as_string(hide_password=False), tenant, measured, args.workers)

        metrics_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="citela-metrics-"))
        env = service_env(settings, run, args.workers, metrics_dir)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with server("bench.support.feedback_server:create", port, args.workers, env, factory=True):
            encode = [json.dumps({"items": b}, ensure_ascii=False).encode() for b in warm]
            run_project(base, tenant, key, encode, args.workers)
            bodies = [json.dumps({"items": b}, ensure_ascii=False).encode() for b in measured]
            rate, accepted, errors, latencies = run_project(base, tenant, key, bodies, args.workers)
            count, staged, _unsent = stored(runtime, tenant)
            delivered = events_on_kafka(args.kafka, starts, tenant, staged, timeout_s=180)
        delete_groups(args.kafka, groups)
        runtime.db.dispose()

    lat = sorted(latencies)
    p50 = lat[len(lat) // 2] * 1000 if lat else 0.0
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0
    undelivered = max(0, staged - delivered)
    print(
        f"feedback batch intake, distributed ({describe(settings)}), {args.workers} worker(s) "
        f"and clients, {args.batches} batches of {args.batch_size},"
    )
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"bare psycopg executemany  {bare:>10,.0f} rows/s (table as wide as feedback.feedbacks)")
    print(
        f"feedback service (httpx)  {rate:>10,.0f} feedback/s  ({accepted} accepted, "
        f"request p50 {p50:.0f} ms, p99 {p99:.0f} ms)"
    )
    print(f"events: {delivered} of {staged} staged events read back from Kafka ({count} feedback)")
    ratio = rate / bare if bare else 0.0
    print(f"ratio={ratio:.3f} project={rate:.0f} bare={bare:.0f} errors={errors + undelivered}")


if __name__ == "__main__":
    main()
