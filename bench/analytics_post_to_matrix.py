"""Freshness under sustained load, end to end: a feedback POST answered 2xx → the matrix has it.

``uv run --no-sync python bench/analytics_post_to_matrix.py [--mode distributed|embedded]
[--rate 300] [--seconds 120]``

The platform runs as it is deployed, each part a process of its own started by the benchmark
(``bench/support/platform.py``), with the benchmark's settings and nothing of the caller's
``CITELA_*``:

- distributed (default): ``citela serve feedback --workers 2``, ``citela serve analytics`` and
  the Celery worker (which scores the comments the analytics consumer asks it to), on the
  PostgreSQL, Kafka and Redis given on the command line (``deploy/infra.sh up``), with a
  database of its own (created, then dropped) and consumer groups of its own:
  ``CITELA_CONSUMER_GROUP_SUFFIX=.bench-<run>``, groups placed at the end of their topics
  before the services start (no older event replayed), forgotten at the end;
- embedded: ``citela run``, one process on SQLite files in a fresh directory.

Load: ``wrk`` (a separate process; Debian's wrk has no ``-R``) paced by its Lua ``delay()``:
each wrk thread holds a schedule of ``rate / threads`` requests per second on a millisecond
clock, and each request waits for its slot (at once when behind), so the offered rate holds
whatever the latency as long as ``--connections`` suffice. Each request is a new feedback of
a partner app (a new author and Idempotency-Key, over three catalogue entries of a new tenant).

Anchor, same run, same wrk pacing: the bare FastAPI + pydantic endpoint of the same body
(``bench/support/bare_feedback.py``, same workers) for ``--anchor-seconds``: what the
generator and the machine deliver at this rate with no platform behind.

Freshness: a poller reads the tenant's answer count from the matrix sums (``MatrixCell``, the
rows the matrix API aggregates) every ``--poll-ms`` ms. A tenant's events stay in order, so
the matrix has its k-th answer once the count reaches k; the k-th answer's freshness runs from
its event time (stamped by the feedback service in the POST's transaction, just before its
commit and its 2xx) to the first poll that sees it: overstated by up to one poll interval and
by the commit and the answer. Accepted: the feedback rows the service committed (wrk does not
count the requests in flight when it stops). The last line sums it up.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ and tests/ as packages
from bench.feedback_intake import ENTRIES, item, lua, prepare_tenant, server
from bench.modes import (
    add_mode_arguments,
    clear_environment,
    delete_groups,
    describe,
    fresh_database,
    group_suffix,
    settings_for,
    start_at_end,
)
from bench.modes import run_id as new_run_id
from bench.support import platform, wrk

from citela_analytics.models import SCHEMA as ANALYTICS_SCHEMA
from citela_analytics.models import CommentScore, FeedbackFact, MatrixCell, ProcessedEvent
from citela_analytics.service import FACTS
from citela_analytics.service import build_runtime as build_analytics
from citela_common.bus import create_bus
from citela_common.bus.memory import InProcessBus
from citela_common.db import Database
from citela_common.logging import configure_logging
from citela_common.settings import Settings
from citela_feedback.models import Feedback, Outbox
from citela_feedback.service import build_runtime as build_feedback

# wrk's pace: a schedule per wrk thread on a millisecond clock (LuaJIT's ffi: os.time() has
# a one-second grain). Each call claims the thread's next slot and waits until it is due.
PACE = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } citela_timeval;
int gettimeofday(citela_timeval *tv, void *tz);
]]
local tv = ffi.new("citela_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end
local interval = __INTERVAL__ -- ms between two slots of one wrk thread
local next_slot = nil

function delay()
  local now = now_ms()
  if next_slot == nil then next_slot = now + math.random() * interval end
  local due = next_slot
  next_slot = next_slot + interval
  if due <= now then return 0 end
  return math.floor(due - now)
end
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def paced(script: str, rate: float, threads: int) -> str:
    return script + PACE.replace("__INTERVAL__", repr(1000.0 * threads / rate))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_mode_arguments(parser, default="distributed")
    parser.add_argument("--rate", type=float, default=300.0, help="POSTs per second offered")
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--anchor-seconds", type=int, default=15, help="0: no anchor")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="feedback workers (distributed)")
    parser.add_argument("--celery", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--poll-ms", type=float, default=20.0)
    args = parser.parse_args()
    wrk.executable()
    # Stopped (timeout, Ctrl-C): unwind, so the services' processes and the database go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    clear_environment()
    configure_logging("WARNING", json=False)
    run = new_run_id()
    with ExitStack() as stack:
        url = None
        if args.mode == "distributed":
            url = stack.enter_context(fresh_database(args.pg_url, f"bench_p2m_{run}"))
        settings = settings_for(
            args,
            database_url=url,
            client_id=f"bench-p2m-{run}",
            consumer_group_suffix=group_suffix(run) if args.mode == "distributed" else "",
        )
        measure(args, settings, run, stack)


def measure(args: argparse.Namespace, settings: Settings, run: str, stack: ExitStack) -> None:
    load_before = os.getloadavg()
    tenant = f"bench-p2m-{run}"
    # Schemas and the tenant first, from here: the services' processes then start on them.
    feedback = build_feedback(settings, InProcessBus())
    feedback.migrate()
    key = prepare_tenant(feedback, tenant)
    analytics = build_analytics(settings, InProcessBus())
    analytics.migrate()
    analytics.db.dispose()
    groups: list[tuple[str, list[str]]] = []
    if settings.kafka_bootstrap:
        groups = [*feedback.consumer_groups(), *analytics.consumer_groups()]
        bus = create_bus(settings)
        bus.ensure_topics(t for _g, topics in groups for t in topics)
        bus.close()
        start_at_end(settings.kafka_bootstrap, groups)
        stack.callback(delete_groups, settings.kafka_bootstrap, groups)  # once stopped
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="citela-p2m-")))
    base_path = f"/v1/tenants/{tenant}/feedback"
    # Embedded, the services are mounted under one app: /feedback/v1/...
    path = base_path if settings.kafka_bootstrap else f"/feedback{base_path}"

    # The anchor: the bare endpoint, same pacing, same workers.
    bare: wrk.WrkResult | None = None
    workers = args.workers if settings.kafka_bootstrap else 1
    if args.anchor_seconds > 0:
        port = platform.free_port()
        with server(
            "bench.support.bare_feedback:app", port, workers, platform.environment(settings)
        ):
            bare = wrk.run(
                f"http://127.0.0.1:{port}{base_path}",
                paced(lua(base_path, key, run), args.rate, args.threads),
                seconds=args.anchor_seconds,
                connections=args.connections,
                threads=args.threads,
                args=("bare",),
            )

    if settings.redis_url:  # runs once the platform has stopped
        stack.callback(platform.forget_tasks, settings.redis_url, tenant)
    started, processes = start_platform(args, settings, workdir, stack)
    target = f"{started}{path}"
    facts_db = Database(settings.resolved_database_url, ANALYTICS_SCHEMA)
    stack.callback(facts_db.dispose)
    count = select(func.sum(MatrixCell.n)).where(MatrixCell.tenant_id == tenant)

    def matrix_n() -> int:
        with facts_db.read() as session:
            return int(session.execute(count).scalar() or 0)

    # Warm-up: connections, the relay, the consumers joining their groups.
    with httpx.Client(headers={"X-API-Key": key}, timeout=60.0) as client:
        client.post(target, json=item(0) | {"user_ref": f"usager-{run}-warm"}).raise_for_status()
    deadline = time.monotonic() + 120
    while matrix_n() < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up feedback never reached the matrix")
        time.sleep(0.05)
    base_n = matrix_n()

    seen: list[float] = []  # seen[k]: wall time of the first poll with base_n + k + 1 answers
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            n = matrix_n() - base_n
            now = time.time()
            while len(seen) < n:
                seen.append(now)
            time.sleep(args.poll_ms / 1000)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    cpu_before = {name: platform.cpu_seconds(p.pid) for name, p in processes.items()}
    project = wrk.run(
        target,
        paced(lua(path, key, run), args.rate, args.threads),
        seconds=args.seconds,
        connections=args.connections,
        threads=args.threads,
        args=("p2m",),
    )
    load_during = os.getloadavg()
    cpu = {n: platform.cpu_seconds(p.pid) - cpu_before[n] for n, p in processes.items()}
    committed = select(func.count()).select_from(Feedback).where(Feedback.tenant_id == tenant)

    def feedbacks() -> int:
        with feedback.db.read() as session:
            return int(session.scalar(committed) or 0) - base_n

    accepted, settle = feedbacks(), time.monotonic() + 15
    while time.monotonic() < settle:
        time.sleep(1.0)
        now = feedbacks()
        if now == accepted:
            break
        accepted = now
    deadline = time.monotonic() + 300  # the matrix has every accepted POST, or we give up
    while len(seen) < accepted and time.monotonic() < deadline:
        time.sleep(0.1)
    done.set()
    poller.join(10)
    scored = scores_after(facts_db, tenant, base_n + accepted, seconds=60)
    with facts_db.read() as session:
        times = sorted(
            t
            for t in session.scalars(
                select(FeedbackFact.event_time).where(FeedbackFact.tenant_id == tenant)
            )
            if t is not None
        )
        facts = int(
            session.scalar(
                select(func.count())
                .select_from(FeedbackFact)
                .where(FeedbackFact.tenant_id == tenant, FeedbackFact.retracted_at.is_(None))
            )
            or 0
        )
    stages = stage_times(feedback.db, facts_db, tenant)
    feedback.db.dispose()
    times = times[base_n:]  # the warm-up's answer first
    latencies = [(s - t.timestamp()) * 1000 for t, s in zip(times, seen, strict=False)]
    report(args, settings, bare, project, accepted, seen, facts - base_n, latencies)
    print(
        f"comments scored     {scored[0] - base_n}/{accepted} "
        f"({'the Celery worker' if settings.kafka_bootstrap else 'in process'}), "
        f"{scored[1]:.1f} s after the matrix had them all (sentiment: off the matrix's path)"
    )
    for label, values in stages.items():
        if values:
            print(
                f"{label:<19} p50 {percentile(values, 50):,.1f} ms, "
                f"p99 {percentile(values, 99):,.1f} ms"
            )
    print(
        f"CPU during the load {', '.join(f'{n} {s / project.seconds:.0%}' for n, s in cpu.items())}"
        " of one core"
    )
    print(
        f"load average        {load_before[0]:.2f} before, {load_during[0]:.2f} at the end of "
        f"the load, {os.getloadavg()[0]:.2f} now ({os.cpu_count()} CPUs)"
    )
    summary(args, bare, project, accepted, len(seen), latencies)


def scores_after(
    facts_db: Database, tenant: str, expected: int, seconds: float
) -> tuple[int, float]:
    """(comment scores of ``tenant`` stored, seconds waited): until ``expected`` or timeout."""
    stmt = select(func.count()).select_from(CommentScore).where(CommentScore.tenant_id == tenant)
    started = time.monotonic()
    while True:
        with facts_db.read() as session:
            n = int(session.scalar(stmt) or 0)
        waited = time.monotonic() - started
        if n >= expected or waited > seconds:
            return n, waited
        time.sleep(0.5)


def stage_times(feedback_db: Database, facts_db: Database, tenant: str) -> dict[str, list[float]]:
    """Where each event's time went: from its outbox row (committed) to its relay's bus
    acknowledgement (``sent_at``, Kafka's when distributed), then to the analytics batch that
    applied it (``processed_at``, stamped as the batch begins)."""
    with feedback_db.read() as session:
        rows = session.execute(
            select(Outbox.event_id, Outbox.created_at, Outbox.sent_at).where(
                Outbox.tenant == tenant
            )
        ).all()
    with facts_db.read() as session:
        applied = dict(
            session.execute(
                select(ProcessedEvent.event_id, ProcessedEvent.processed_at).where(
                    ProcessedEvent.consumer == FACTS
                )
            ).all()
        )
    relayed, consumed = [], []
    for event_id, created, sent in rows:
        if sent is not None:
            relayed.append((sent - created).total_seconds() * 1000)
            if event_id in applied:
                consumed.append((applied[event_id] - sent).total_seconds() * 1000)
    return {"commit -> relayed": relayed, "relayed -> analytics": consumed}


def start_platform(
    args: argparse.Namespace, settings: Settings, workdir: Path, stack: ExitStack
) -> tuple[str, dict[str, subprocess.Popen[bytes]]]:
    """The platform's processes, up; returns the feedback API's base URL and the processes."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    if not settings.kafka_bootstrap:
        port = platform.free_port()
        processes["citela run"] = stack.enter_context(
            platform.started(
                "citela-run",
                platform.run_command(port),
                platform.environment(settings),
                workdir,
                health_url=f"http://127.0.0.1:{port}/feedback/healthz",
            )
        )
        return f"http://127.0.0.1:{port}", processes
    if args.celery:
        processes["celery"] = stack.enter_context(
            platform.started(
                "celery", platform.celery_command(), platform.environment(settings), workdir
            )
        )
    port = platform.free_port()
    processes["analytics"] = stack.enter_context(
        platform.started(
            "analytics",
            platform.serve_command("analytics", port),
            platform.environment(settings),
            workdir,
            health_url=f"http://127.0.0.1:{port}/healthz",
        )
    )
    port = platform.free_port()
    metrics = workdir / "feedback-metrics"
    metrics.mkdir()
    processes["feedback"] = stack.enter_context(
        platform.started(
            "feedback",
            platform.serve_command("feedback", port, args.workers),
            platform.environment(settings, PROMETHEUS_MULTIPROC_DIR=str(metrics)),
            workdir,
            health_url=f"http://127.0.0.1:{port}/healthz",
        )
    )
    return f"http://127.0.0.1:{port}", processes


def report(
    args: argparse.Namespace,
    settings: Settings,
    bare: wrk.WrkResult | None,
    project: wrk.WrkResult,
    accepted: int,
    seen: list[float],
    facts: int,
    latencies: list[float],
) -> None:
    processes = (
        f"citela serve feedback --workers {args.workers}, citela serve analytics"
        + (", Celery worker" if args.celery else "")
        if settings.kafka_bootstrap
        else "citela run (one process)"
    )
    print(f"mode                {args.mode}: {describe(settings)}; {processes}")
    print(
        f"load                wrk -t{args.threads} -c{args.connections}, paced at "
        f"{args.rate:g} POSTs/s, {args.seconds} s ({len(ENTRIES)} entries, new author each)"
    )
    if bare is not None:
        print(
            f"anchor (bare)       sent {bare.requests / bare.seconds:,.1f}/s, "
            f"accepted {bare.rate:,.1f}/s over {bare.seconds:.1f} s, p50 {bare.p50_ms:.1f} ms, "
            f"p99 {bare.p99_ms:.1f} ms, errors {bare.errors}"
        )
    sent = project.requests / project.seconds
    print(f"offered             {args.rate:g} POSTs/s; wrk got {sent:,.1f} answers/s")
    if sent < 0.95 * args.rate:
        print(
            f"                    below the pace: with {args.connections} connections each "
            "waiting for its answer, the platform's latency bounds what is sent"
        )
    print(
        f"accepted            {accepted / project.seconds:,.1f}/s ({accepted} committed in "
        f"{project.seconds:.1f} s; wrk saw {project.ok} 2xx), errors {project.errors}"
    )
    print(
        f"POST latency        p50 {project.p50_ms:,.1f} ms, p90 {project.p90_ms:,.1f} ms, "
        f"p99 {project.p99_ms:,.1f} ms, max {project.max_ms:,.1f} ms"
    )
    print(f"matrix has          {len(seen)}/{accepted} accepted answers (analytics facts {facts})")
    if not latencies:
        print("freshness           no answer reached the matrix")
        return
    p50, p90, p99 = (percentile(latencies, p) for p in (50, 90, 99))
    print(
        f"freshness           p50 {p50:,.1f} ms, p90 {p90:,.1f} ms, p99 {p99:,.1f} ms "
        f"(goal < 2,000 ms), max {max(latencies):,.1f} ms"
    )
    fifths = [latencies[i * len(latencies) // 5 : (i + 1) * len(latencies) // 5] for i in range(5)]
    print(
        "p50 by fifth        "
        + " / ".join(f"{percentile(f, 50):,.0f}" for f in fifths if f)
        + " ms"
    )


def summary(
    args: argparse.Namespace,
    bare: wrk.WrkResult | None,
    project: wrk.WrkResult,
    accepted: int,
    seen: int,
    latencies: list[float],
) -> None:
    p50 = percentile(latencies, 50) if latencies else float("nan")
    p99 = percentile(latencies, 99) if latencies else float("nan")
    rate = accepted / project.seconds
    ratio = f"ratio={rate / bare.rate:.3f} bare={bare.rate:.1f} " if bare and bare.rate else ""
    print(
        f"{ratio}freshness_p99_ms={p99:.0f} freshness_p50_ms={p50:.0f} offered={args.rate:g} "
        f"accepted_per_s={rate:.1f} seen={seen}/{accepted} errors={project.errors}"
    )


if __name__ == "__main__":
    main()
