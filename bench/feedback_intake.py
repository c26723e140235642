"""Single feedback POST under wrk: the feedback service against a bare FastAPI endpoint.

What a partner app does: ``POST /v1/tenants/{t}/feedback`` with its ``X-API-Key`` and an
``Idempotency-Key``, one feedback per request; wrk's Lua gives each request its own
Idempotency-Key and ``user_ref`` (every request is a new feedback, a new event).

One run, back to back, the same wrk settings and the same body:
1. the anchor: a bare FastAPI + pydantic endpoint validating the same body
   (``bench/support/bare_feedback.py``), under uvicorn with the same number of workers;
2. the feedback service as ``citela serve feedback`` runs it (uvicorn, ``--workers 2``
   distributed on PostgreSQL + Kafka + Redis; 1 worker embedded on SQLite files in a temporary
   directory and the in-process bus), saturated with ``--connections``;
3. the service again at half its saturated rate: Debian's wrk has no ``-R`` (that is wrk2), so
   each connection waits ``connections / (rate / 2)`` seconds between an answer and its next
   request (wrk's ``delay()``); the offered rate is thus at most half the saturated one.

Then it checks that every feedback stored reached the ``citela.feedback`` topic (distributed:
distinct event ids of the run's tenant read back from Kafka) or was relayed (embedded: no unsent
outbox row left). Errors: answers other than 2xx, socket errors and timeouts, plus stored
feedback whose event was not delivered.

The last line: ``ratio=<project/bare> project=<req/s> bare=<req/s> p99_ms=<project p99 at half
rate> errors=<count>``.

``uv run --no-sync python bench/feedback_intake.py --mode distributed --seconds 15``
(``--mode`` is what runs, whatever ``CITELA_*`` variables say; distributed takes the
``deploy/infra.sh`` servers, or ``--pg-url/--kafka/--redis-url``, and a database of its own).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ and tests/ as packages
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
from bench.support import wrk
from bench.support.platform import environment, free_port
from tests.catalogue import factories as cf

from citela_common.bus.memory import InProcessBus
from citela_common.events.models import FEEDBACK_TOPIC
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback import partners, tenants
from citela_feedback.models import Feedback, Outbox
from citela_feedback.readmodel import apply_batch
from citela_feedback.service import build_runtime

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = [
    cf.entry("mairie-pau", "Mairie de Pau", "64445"),
    cf.entry("mediatheque-lons", "Médiathèque de Lons", "64348"),
    cf.entry("ccas-pau", "CCAS de Pau", "64445", policy_area="Action sociale"),
]
COMMENT = "Accueil aimable mais attente trop longue au guichet, surtout le samedi matin."


def item(n: int) -> dict[str, Any]:
    return {
        "entry_id": ENTRIES[n % 3].entry_id,
        "satisfaction": 1 + n % 5,
        "importance": 1 + (n * 3) % 5,
        "comment": COMMENT,
        "user_ref": f"usager-{n}",
    }


def prepare_tenant(runtime: Any, code: str) -> str:
    """A tenant of the Pau agglomeration, a partner key for it and its catalogue read model;
    returns the key."""
    with runtime.db.transaction() as session:
        scope_to_tenant(session, code)
        tenants.create(
            session, code=code, name="Bench", siren="200067254", territory_codes=["200067254"]
        )
        app = partners.create_app(session, tenant=code, name="Bench", rate_limit_per_minute=10**7)
        key = partners.create_key(session, app, scopes=["feedback:write"], tenants=[code]).key
    # The read model learns the catalogue straight from the events (the projection's own code),
    # not through a consumer group: this measures intake, not the projection.
    with runtime.db.transaction() as session:
        apply_batch(session, [cf.event(d, code) for d in [*cf.GEOGRAPHY, *ENTRIES]])
    return key


def lua(path: str, api_key: str, run: str) -> str:
    """wrk's requests: a new Idempotency-Key and user_ref each, the same body otherwise."""
    template = json.dumps(
        {
            "entry_id": "@E@",
            "satisfaction": "@S@",
            "importance": "@I@",
            "comment": COMMENT,
            "user_ref": "@R@",
        },
        ensure_ascii=False,
    )
    template = template.replace("%", "%%")
    for mark, spec in (('"@E@"', '"%s"'), ('"@S@"', "%d"), ('"@I@"', "%d"), ('"@R@"', '"%s"')):
        template = template.replace(mark, spec)
    entries = ", ".join(f'"{e.entry_id}"' for e in ENTRIES)
    return f"""
local entries = {{{entries}}}
local body = [==[{template}]==]
local n = 0
local prefix = ""

function on_init(args)
  prefix = "{run}-" .. (args[1] or "") .. "-" .. thread_id
end

function request()
  n = n + 1
  local ref = prefix .. "-" .. n
  return wrk.format("POST", "{path}", {{
    ["Content-Type"] = "application/json",
    ["X-API-Key"] = "{api_key}",
    ["Idempotency-Key"] = ref,
  }}, string.format(body, entries[n % 3 + 1], 1 + n % 5, 1 + (n * 3) % 5, ref))
end
"""


@contextmanager
def server(
    target: str, port: int, workers: int, env: dict[str, str], *, factory: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """uvicorn serving ``target`` on 127.0.0.1:``port``; stopped (SIGTERM) on exit."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        *(["--factory"] if factory else []),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        # As citela serve: a worker slow to start on a busy host is not killed and replaced.
        "--timeout-worker-healthcheck",
        "60",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{target} exited with {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target} did not start")
            time.sleep(0.3)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def service_env(settings: Settings, run: str, workers: int, metrics_dir: str) -> dict[str, str]:
    """The server's environment: this run's settings, nothing else of ours."""
    extra = {"CITELA_LOG_LEVEL": "WARNING", "BENCH_RUN_ID": run}
    if workers > 1:  # as in production: the workers' metrics in one folder
        extra["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    return environment(settings, **extra)


def topic_ends(bootstrap: str) -> dict[Any, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [
            TopicPartition(FEEDBACK_TOPIC, p)
            for p in sorted(consumer.partitions_for_topic(FEEDBACK_TOPIC) or [])
        ]
        return dict(consumer.end_offsets(parts))
    finally:
        consumer.close()


def events_on_kafka(
    bootstrap: str, starts: dict[Any, int], tenant: str, expected: int, timeout_s: float
) -> int:
    """Distinct event ids of ``tenant`` on the feedback topic after ``starts``, read until
    ``expected`` are seen or ``timeout_s`` passes."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    seen: set[bytes] = set()
    try:
        consumer.assign(list(starts))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while len(seen) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                for r in records:
                    headers = dict(r.headers or [])
                    if headers.get("ce_tenant", b"").decode() == tenant:
                        seen.add(headers.get("ce_id", b""))
    finally:
        consumer.close()
    return len(seen)


def stored(runtime: Any, tenant: str) -> tuple[int, int, int]:
    """(feedback of ``tenant`` stored, events staged in its outbox, of which not yet relayed)."""
    with runtime.db.read() as session:
        feedback = session.scalar(
            select(func.count()).select_from(Feedback).where(Feedback.tenant_id == tenant)
        )
        staged = session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.tenant == tenant)
        )
        unsent = session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.tenant == tenant, Outbox.sent_at.is_(None))
        )
    return int(feedback or 0), int(staged or 0), int(unsent or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_mode_arguments(parser, default="distributed")
    parser.add_argument("--seconds", type=int, default=15, help="length of each measure")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--workers", type=int, default=None, help="uvicorn workers (2 distributed, 1 embedded)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before measures")
    args = parser.parse_args()
    clear_environment()
    wrk.executable()
    workers = args.workers or (2 if args.mode == "distributed" else 1)
    run = run_id()
    tenant = f"bench-intake-{run}"
    path = f"/v1/tenants/{tenant}/feedback"

    with ExitStack() as stack:
        database_url = None
        if args.mode == "distributed":
            database_url = stack.enter_context(fresh_database(args.pg_url, f"bench_intake_{run}"))
        settings = settings_for(args, database_url=database_url, client_id=f"bench-intake-{run}")
        runtime = build_runtime(settings, InProcessBus())  # migrations and setup, not served
        runtime.migrate()
        api_key = prepare_tenant(runtime, tenant)
        script = lua(path, api_key, run)
        starts: dict[Any, int] = {}
        groups: list[tuple[str, list[str]]] = []
        if args.mode == "distributed":
            # The served workers' consumers take groups of this run, placed at the topics' end.
            groups = own_groups([runtime], run)
            start_at_end(args.kafka, groups)
            starts = topic_ends(args.kafka)
        metrics_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="citela-metrics-"))
        env = service_env(settings, run, workers, metrics_dir)

        def load(port: int, label: str, **kw: Any) -> wrk.WrkResult:
            result = wrk.run(
                f"http://127.0.0.1:{port}{path}",
                script,
                seconds=kw.pop("seconds", args.seconds),
                connections=kw.pop("connections", args.connections),
                threads=args.threads,
                args=(label,),
                **kw,
            )
            return result

        port = free_port()
        with server("bench.support.bare_feedback:app", port, workers, env):
            load(port, "warm", seconds=args.warmup)
            bare = load(port, "bare")
        port = free_port()
        with server("bench.support.feedback_server:create", port, workers, env, factory=True):
            load(port, "warm", seconds=args.warmup)
            project = load(port, "sat")
            target = project.rate / 2
            pace_ms = round(args.connections * 1000 / target) if target > 0 else 1000
            half = load(port, "half", pace_ms=pace_ms)
            count, staged, unsent = stored(runtime, tenant)
            if args.mode == "distributed":
                delivered = events_on_kafka(args.kafka, starts, tenant, staged, timeout_s=120)
                check = f"{delivered} of {staged} staged events read back from Kafka"
            else:
                deadline = time.monotonic() + 60
                while unsent and time.monotonic() < deadline:
                    time.sleep(0.5)
                    count, staged, unsent = stored(runtime, tenant)
                delivered = staged - unsent
                check = f"{delivered} of {staged} staged events relayed by the outbox"
            check += f" ({count} feedback stored)"
        if groups:
            delete_groups(args.kafka, groups)
        runtime.db.dispose()

    undelivered = max(0, staged - delivered)
    errors = project.errors + half.errors + undelivered
    print(f"feedback intake, single POST, {args.mode} ({describe(settings)}), {workers} worker(s),")
    print(
        f"wrk {args.threads} threads x {args.connections} connections, {args.seconds} s each, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"bare FastAPI + pydantic  {bare.summary()}")
    print(f"feedback service         {project.summary()}")
    print(
        f"service at <= half rate  {half.summary()}  (each connection paced {pace_ms} ms "
        f"between requests, target {target:,.0f} req/s)"
    )
    print(f"events: {check}; {project.ok + half.ok} accepted in the measures")
    ratio = project.rate / bare.rate if bare.rate else 0.0
    print(
        f"ratio={ratio:.3f} project={project.rate:.0f} bare={bare.rate:.0f} "
        f"p99_ms={half.p99_ms:.1f} errors={errors}"
    )


if __name__ == "__main__":
    main()
