"""Freshness under sustained load, end to end: a feedback POST committed → the matrix has it.

``uv run python bench/analytics_post_to_matrix.py [--mode distributed|embedded] [--rate 300]
[--seconds 120]``

distributed (default): the platform (the four services' APIs, outbox relays and consumers, in
this process under uvicorn on loopback) on PostgreSQL, Kafka and Redis as given on the
command line (``deploy/infra.sh up``; never the exported ``CITELA_*``), with a database of its
own (created, then dropped) and consumer groups of its own, positioned at the end of their
topics (no older events replayed). embedded: SQLite files in a fresh directory and the
in-process bus.

The load comes from ``wrk`` (``apt-get install -y wrk``), a separate process: a Lua script
posts single feedbacks of a partner app (each a new author, an Idempotency-Key of its own,
spread over three catalogue entries of one new tenant), paced at ``--rate`` POSTs/s over
``--connections`` connections for ``--seconds``: each connection waits its share of the
period between requests (jittered), and sends at once while its thread is behind schedule,
so the offered rate holds whatever the latency (up to the connections' capacity).

Freshness: a poller reads the tenant's answer count from the matrix sums (``MatrixCell``,
the rows the matrix API aggregates) every ``--poll-ms`` ms. A tenant's events stay in order,
so the matrix has its k-th answer once the count reaches k; the k-th answer's freshness is
from its event time (stamped in the POST's transaction, just before the commit) to the first
poll that sees it: overstated by up to one poll interval. Prints the offered and the
accepted rates, wrk's latency and errors, and freshness p50/p99 (goal: p99 < 2 s at 300/s
sustained for 2 minutes); the last line sums it up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ and tests/ as packages
from bench.feedback_intake import COMMENT, ENTRIES, prepare_tenant
from bench.modes import (
    add_mode_arguments,
    clear_environment,
    delete_groups,
    describe,
    fresh_database,
    own_groups,
    settings_for,
    start_at_end,
)
from bench.modes import run_id as new_run_id
from tests.support.live_server import live_server

from citela_analytics.models import FeedbackFact, MatrixCell
from citela_common.logging import configure_logging
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from citela_feedback.models import Feedback
from citela_platform.embedded import create_embedded_app

LUA = r"""
-- Paced POSTs of new feedbacks: one author and one Idempotency-Key per request.
local rate, connections, path, key, run = RATE, CONNECTIONS, PATH, KEY, RUN
local entries = { ENTRIES }
local threads = THREADS
local counter, sent, started = 0, 0, nil
local per_thread = rate / threads
local spacing = 1000 * connections / rate -- ms between two requests of one connection

function setup(thread)
  thread:set("id", (setup_count or 0))
  setup_count = (setup_count or 0) + 1
end

function init(args)
  math.randomseed(id * 7919 + os.time())
end

function request()
  counter = counter + 1
  local n = id * 100000000 + counter
  local body = string.format(
    '{"entry_id":"%s","satisfaction":%d,"importance":%d,"comment":"%s","user_ref":"usager-%s-%d"}',
    entries[n % #entries + 1], 1 + n % 5, 1 + (n * 3) % 5, COMMENT_TEXT, run, n)
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-API-Key"] = key,
    ["Idempotency-Key"] = run .. "-" .. n,
  }, body)
end

function delay()
  local now = os.time()
  if started == nil then started = now end
  sent = sent + 1
  if sent <= connections / threads then return math.random() * spacing end -- staggered start
  local elapsed = now - started
  if sent < elapsed * per_thread then return 0 end -- behind schedule: catch up
  if sent > (elapsed + 1) * per_thread then return spacing * 1.5 end -- ahead
  return spacing * (0.5 + math.random())
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def item(n: int, run: str) -> dict[str, Any]:
    return {
        "entry_id": ENTRIES[n % 3].entry_id,
        "satisfaction": 1 + n % 5,
        "importance": 1 + (n * 3) % 5,
        "comment": COMMENT,
        "user_ref": f"usager-{run}-warm-{n}",
    }


def lua_script(args: argparse.Namespace, path: str, key: str, run: str) -> str:
    entries = ", ".join(json.dumps(e.entry_id) for e in ENTRIES)
    return (
        LUA.replace(
            "RATE, CONNECTIONS, PATH, KEY, RUN",
            f"{args.rate}, {args.connections}, "
            f"{json.dumps(path)}, {json.dumps(key)}, {json.dumps(run)}",
        )
        .replace("{ ENTRIES }", "{ " + entries + " }")
        .replace("THREADS", str(args.threads))
        .replace("COMMENT_TEXT", json.dumps(COMMENT, ensure_ascii=False))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_mode_arguments(parser, default="distributed")
    parser.add_argument("--rate", type=float, default=300.0, help="POSTs per second offered")
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--poll-ms", type=float, default=20.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    clear_environment()
    configure_logging("WARNING", json=False)
    run = new_run_id()
    with ExitStack() as stack:
        url = None
        if args.mode == "distributed":
            url = stack.enter_context(fresh_database(args.pg_url, f"bench_p2m_{run}"))
        settings = settings_for(args, database_url=url, client_id=f"bench-p2m-{run}")
        measure(args, settings, run, stack)


def measure(args: argparse.Namespace, settings: Settings, run: str, stack: ExitStack) -> None:
    app = create_embedded_app(settings)
    runtimes: dict[str, ServiceRuntime] = app.state.runtimes
    groups = own_groups(list(runtimes.values()), run)
    if settings.kafka_bootstrap:
        start_at_end(settings.kafka_bootstrap, groups)
        stack.callback(delete_groups, settings.kafka_bootstrap, groups)  # once stopped
    base = stack.enter_context(live_server(app))
    analytics_db = runtimes["analytics"].db
    tenant = f"bench-p2m-{run}"
    key = prepare_tenant(runtimes["feedback"], tenant)
    path = f"/feedback/v1/tenants/{tenant}/feedback"
    count = select(func.sum(MatrixCell.n)).where(MatrixCell.tenant_id == tenant)

    def matrix_n() -> int:
        with analytics_db.read() as session:
            return int(session.execute(count).scalar() or 0)

    # warm-up: connections, the relay, the consumers joining their groups
    with httpx.Client(headers={"X-API-Key": key}, timeout=60.0) as warm:
        warm.post(f"{base}{path}", json=item(0, run)).raise_for_status()
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
    script = Path(tempfile.mkdtemp(prefix="citela-wrk-")) / "post.lua"
    script.write_text(lua_script(args, path, key, run))
    wrk = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in wrk.stdout.splitlines() if x.startswith("WRK_JSON "))
    stats = json.loads(line.removeprefix("WRK_JSON "))
    errors = stats["connect"] + stats["read"] + stats["write"] + stats["status"] + stats["timeout"]
    duration = stats["duration_us"] / 1e6
    # Committed, by the feedback service's own table once it stops growing: wrk does not
    # count the requests still in flight when it stops, which the service accepts all the same.
    committed = select(func.count()).select_from(Feedback).where(Feedback.tenant_id == tenant)

    def feedbacks() -> int:
        with runtimes["feedback"].db.read() as session:
            return int(session.scalar(committed) or 0) - base_n

    accepted, settle = feedbacks(), time.monotonic() + 15
    while time.monotonic() < settle:
        time.sleep(1.0)
        now = feedbacks()
        if now == accepted:
            break
        accepted = now

    # Wait for the matrix to have every accepted POST (or give up after 5 minutes).
    deadline = time.monotonic() + 300
    while len(seen) < accepted and time.monotonic() < deadline:
        time.sleep(0.1)
    done.set()
    poller.join(10)
    with analytics_db.read() as session:
        times = sorted(
            t
            for t in session.scalars(
                select(FeedbackFact.event_time).where(FeedbackFact.tenant_id == tenant)
            )
            if t is not None
        )
    times = times[base_n:]  # the warm-up's answer first
    latencies = [(s - t.timestamp()) * 1000 for t, s in zip(times, seen, strict=False)]
    print(f"mode                {args.mode}: {describe(settings)}")
    print(
        f"load                wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, "
        f"paced at {args.rate:g} POSTs/s"
    )
    sent = stats["requests"] / duration
    print(f"offered             {args.rate:g} POSTs/s (paced), wrk sent {sent:,.1f}/s")
    if sent < 0.95 * args.rate:
        print(
            f"                    below the pace: each of the {args.connections} connections "
            "waits for its answer, so the platform's latency bounds what is sent"
        )
    print(
        f"accepted            {accepted / duration:,.1f} /s ({accepted} committed in "
        f"{duration:.1f} s; wrk saw {stats['requests']} answers), "
        f"errors {errors} (status {stats['status']}, timeout {stats['timeout']}, "
        f"connect {stats['connect']}, read {stats['read']})"
    )
    print(
        f"POST latency        p50 {stats['p50_us'] / 1000:,.1f} ms, "
        f"p99 {stats['p99_us'] / 1000:,.1f} ms, max {stats['max_us'] / 1000:,.1f} ms"
    )
    with analytics_db.read() as session:
        facts = int(
            session.scalar(
                select(func.count())
                .select_from(FeedbackFact)
                .where(FeedbackFact.tenant_id == tenant, FeedbackFact.retracted_at.is_(None))
            )
            or 0
        )
    print(
        f"matrix has          {len(seen)}/{accepted} accepted answers "
        f"(analytics facts {facts - base_n}, matrix n {matrix_n() - base_n})"
    )
    if not latencies:
        print("freshness           no answer reached the matrix")
        return
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"freshness p50       {p50:,.1f} ms")
    print(f"freshness p99       {p99:,.1f} ms (goal < 2,000 ms)")
    print(f"freshness max       {max(latencies):,.1f} ms")
    fifths = [latencies[i * len(latencies) // 5 : (i + 1) * len(latencies) // 5] for i in range(5)]
    print(
        "p50 by fifth        "
        + " / ".join(f"{percentile(f, 50):,.0f}" for f in fifths if f)
        + " ms"
    )
    print(
        f"freshness_p99_ms={p99:.0f} freshness_p50_ms={p50:.0f} "
        f"offered={args.rate:g} sent={sent:.1f} accepted_per_s={accepted / duration:.1f} "
        f"seen={len(seen)}/{accepted} errors={errors}"
    )


if __name__ == "__main__":
    main()
