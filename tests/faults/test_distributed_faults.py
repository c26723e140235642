"""Nothing lost, ever, on the distributed platform: real processes (``citela serve feedback``,
``citela serve analytics``, the Celery worker and beat) on a PRIVATE PostgreSQL, Redis and Kafka
(``deploy/infra.sh`` with a folder and ports of its own: the shared servers are never touched),
under a steady load of a partner app that retries with the same Idempotency-Key.

One fault after another, each on a commune (tenant) of its own so that each is counted alone:
the analytics consumer killed -9, the Celery worker killed -9, Redis restarted, Kafka killed -9
then restarted, PostgreSQL stopped 15 s. After each, once drained: API 2xx = feedback rows =
distinct events on ``feedback.submitted`` = answers in the matrix = answers counted by
``citela analytics reconcile``, no dead letter, no comment unscored. The recovery time (from
the fault's end to the counts all equal) is printed and written, with the counts, to
``artifacts/faults/distributed.json`` (docs/reliability.md quotes it).
"""

from __future__ import annotations

import os
import platform as host
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from citela_analytics.models import SCHEMA as ANALYTICS_SCHEMA
from citela_common.db import Database
from citela_common.settings import Settings
from tests.faults.distributed_support import (
    ANALYTICS,
    BEAT,
    CELERY,
    FEEDBACK,
    ROOT,
    Commune,
    FaultResult,
    Platform,
    PrivateInfra,
    Probe,
    RetryingLoad,
    platform_env,
    prepare_tenant,
    start_platform,
    tail,
    wait_drained,
    workdir,
    write_report,
)

pytestmark = pytest.mark.infra

REPORT = ROOT / "artifacts" / "faults" / "distributed.json"
RATE = 30.0  # POSTs per second, each retried until its 2xx
BEFORE_S = 4.0  # steady load before each fault
AFTER_S = 3.0  # and after it, before the load pauses for the count
DRAIN_S = 100.0  # how long the counts may take to agree once the fault is over
PG_STOP_S = 15.0
KAFKA_DOWN_S = 5.0
REDIS_DOWN_S = 3.0

MEDIATHEQUE = ("mediatheque-francois-mitterrand", "Médiathèque François-Mitterrand", "Culture")
PISCINE = ("piscine-municipale", "Piscine municipale", "Sports")
ETAT_CIVIL = ("mairie-etat-civil", "Mairie — service état civil", "Administration générale")
CCAS = ("ccas", "Centre communal d'action sociale", "Action sociale")


def commune(code: str, name: str, insee: str) -> Commune:
    slug = code.split("-")[-1]
    return Commune(
        code=code,
        name=name,
        insee=insee,
        entries=tuple(
            (f"{remote}-{slug}", title, area)
            for remote, title, area in (MEDIATHEQUE, PISCINE, ETAT_CIVIL, CCAS)
        ),
    )


@dataclass
class Rig:
    infra: PrivateInfra
    platform: Platform
    settings: Settings
    probe: Probe
    load: RetryingLoad
    results: list[FaultResult] = field(default_factory=list)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    root = workdir("citela-faults-")
    infra = PrivateInfra(root / "infra")
    started = time.monotonic()
    platform: Platform | None = None
    load: RetryingLoad | None = None
    facts: Database | None = None
    results: list[FaultResult] = []
    try:
        infra.up()
        data = root / "var"
        data.mkdir()
        env = platform_env(infra, data)
        platform = start_platform(infra, env)
        settings = infra.settings(data)
        facts = Database(settings.resolved_database_url, ANALYTICS_SCHEMA)
        load = RetryingLoad(platform.feedback_url, rate=RATE)
        # reconcile asks the feedback service's own counts over its API (operator token).
        cli_env = {**env, "CITELA_ANALYTICS_FEEDBACK_URL": platform.feedback_url}
        probe = Probe(platform, infra, facts, cli_env=cli_env, load=load)
        print(f"\nprivate platform up in {time.monotonic() - started:.1f} s ({root})")
        yield Rig(infra, platform, settings, probe, load, results)
    finally:
        if load is not None:
            load.close()
        if platform is not None:
            platform.stop()
            for name in (FEEDBACK, ANALYTICS, CELERY, BEAT):
                print(f"--- {name}, log tail:\n{tail(platform.log(name), 8)}")
        if facts is not None:
            facts.dispose()
        infra.purge()
        write_report(
            REPORT,
            results,
            {
                "suite": "tests/faults/test_distributed_faults.py",
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": f"{host.node()}, {os.cpu_count()} CPUs",
                "load_per_s": RATE,
                "platform": "deploy/platform.sh",
                "total_s": round(time.monotonic() - started, 1),
            },
        )
        for r in results:
            print(r.line())
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def run_fault(rig: Rig, name: str, place: Commune, fault: Callable[[], float]) -> None:
    """Load ``place``, apply ``fault`` (returns how long it lasted, once over), keep loading a
    moment, pause the load (every POST begun has its 2xx), then count until all agree."""
    tenant = prepare_tenant(rig.settings, place)
    rig.load.target(tenant)
    rig.load.resume()
    retries_before = rig.load.stats.retries.copy()
    began = time.monotonic()
    time.sleep(BEFORE_S)
    fault_s = fault()
    ended = time.monotonic()
    time.sleep(AFTER_S)
    rig.load.pause()
    loaded_s = time.monotonic() - began
    counts, recovery = wait_drained(rig.probe, tenant, ended, DRAIN_S)
    result = FaultResult(
        fault=name,
        tenant=tenant.code,
        fault_s=round(fault_s, 2),
        recovery_s=None if recovery is None else round(recovery, 2),
        counts=counts,
        retries=dict(rig.load.stats.retries - retries_before),
        load_per_s=round(counts.accepted / loaded_s, 1),
    )
    rig.results.append(result)
    print("\n" + result.line())
    write_report(REPORT, rig.results, {"partial": True})
    assert rig.load.stats.refused == [], f"POSTs refused: {rig.load.stats.refused[:5]}"
    assert counts.accepted > 0
    assert counts.drained(), f"{name}: not drained within {DRAIN_S:.0f} s: {counts}"
    assert counts.reconciled == counts.accepted, (
        f"{name}: `citela analytics reconcile` does not count {counts.accepted} answers: "
        f"{rig.probe.reconcile_output[-1500:]}"
    )


def killed(rig: Rig, name: str) -> Callable[[], float]:
    def fault() -> float:
        t0 = time.monotonic()
        old = rig.platform.kill(name)
        rig.platform.wait_restarted(name, old)
        return time.monotonic() - t0

    return fault


@pytest.mark.timeout(900)  # the private platform starts with it
def test_analytics_consumer_killed(rig: Rig) -> None:
    run_fault(
        rig,
        "analytics killed -9",
        commune("faults-pau", "Ville de Pau", "64445"),
        killed(rig, ANALYTICS),
    )


@pytest.mark.timeout(300)
def test_celery_worker_killed(rig: Rig) -> None:
    run_fault(
        rig,
        "Celery worker killed -9",
        commune("faults-lons", "Ville de Lons", "64348"),
        killed(rig, CELERY),
    )


@pytest.mark.timeout(300)
def test_redis_restarted(rig: Rig) -> None:
    def fault() -> float:
        t0 = time.monotonic()
        rig.infra.stop("redis")
        time.sleep(REDIS_DOWN_S)  # long enough for the load and the workers to notice
        rig.infra.start("redis")
        return time.monotonic() - t0

    run_fault(rig, "Redis restarted", commune("faults-billere", "Ville de Billère", "64129"), fault)


@pytest.mark.timeout(300)
def test_kafka_killed_and_restarted(rig: Rig) -> None:
    def fault() -> float:
        t0 = time.monotonic()
        pid = rig.infra.kafka_pid()
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
            time.sleep(0.05)
        time.sleep(KAFKA_DOWN_S)  # the load goes on into the outbox meanwhile
        rig.infra.start("kafka")
        return time.monotonic() - t0

    run_fault(
        rig,
        "Kafka killed -9, restarted",
        commune("faults-lescar", "Ville de Lescar", "64335"),
        fault,
    )


@pytest.mark.timeout(300)
def test_postgres_stopped_15_s(rig: Rig) -> None:
    def fault() -> float:
        t0 = time.monotonic()
        rig.infra.stop("postgres")
        time.sleep(PG_STOP_S)
        rig.infra.start("postgres")
        return time.monotonic() - t0

    run_fault(
        rig,
        "PostgreSQL stopped 15 s",
        commune("faults-jurancon", "Ville de Jurançon", "64284"),
        fault,
    )


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"
