"""The embedded platform loses nothing when it is stopped, or killed, in the middle of a load.

``citela run`` (no Kafka: the four services, their relays and consumers, and the durable
in-process bus, in one process) under a steady retrying partner load; then a clean stop
(SIGTERM) or a kill -9 while events are in flight, and a restart. Once drained: API 2xx =
feedback rows = distinct events in the bus's log = answers in the matrix, no dead letter,
no comment unscored. The recovery time (restart -> counts equal) is printed.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.distributed_support import RetryingLoad, Tenant, tail
from tests.faults.embedded_support import (
    EmbeddedPlatform,
    Probe,
    analytics_db,
    prepare,
    wait_catalogue,
    wait_drained,
)

RATE = 200.0  # POSTs per second, each retried until its 2xx
BEFORE_S = 4.0  # load before the fault
AFTER_S = 2.0  # load after the restart, before it pauses for the count
DRAIN_S = 45.0  # how long the counts may take to agree after the restart


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tenant]:
    """A data directory with the tenant, its key and its catalogue (in the bus's log): each
    test copies it, so each fault starts from the same place."""
    data_dir = tmp_path_factory.mktemp("embedded-seed") / "var"
    return data_dir, prepare(data_dir)


@pytest.fixture
def probe(seeded: tuple[Path, Tenant], tmp_path: Path) -> Iterator[Probe]:
    data_dir = tmp_path / "var"
    shutil.copytree(seeded[0], data_dir)
    platform = EmbeddedPlatform(data_dir)
    platform.start()
    load = RetryingLoad(f"{platform.url}/feedback", rate=RATE, threads=16)
    load.target(seeded[1])
    facts = analytics_db(data_dir)
    try:
        wait_catalogue(data_dir)
        yield Probe(platform, seeded[1], load, facts)
    finally:
        load.close()
        platform.close()
        facts.dispose()


@pytest.mark.timeout(180)  # two starts of the platform (seconds each), the load, the drain
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "kill-9"])
def test_nothing_is_lost_across_a_stop_or_a_kill_in_the_middle_of_the_load(
    probe: Probe, sig: signal.Signals
) -> None:
    platform, load = probe.platform, probe.load
    load.resume()
    time.sleep(BEFORE_S)  # the steady load the fault lands in
    posted = load.stats.posts
    assert posted >= 50, f"only {posted} POSTs before the fault"
    down = time.monotonic()
    status = platform.signal(sig)
    stopped_s = time.monotonic() - down
    restart = time.monotonic()
    ready_s = platform.start()
    pending = platform.pending_at_start()
    time.sleep(AFTER_S)
    load.pause(timeout_s=60)
    counts, recovery = wait_drained(probe, restart, DRAIN_S)
    rate = load.stats.posts / (time.monotonic() - down + BEFORE_S)
    print(
        f"\nembedded {sig.name}: exit {status} after {stopped_s:.1f} s, ready again in "
        f"{ready_s:.1f} s with {pending} records pending in the bus's log, "
        "recovery (restart -> counts equal) "
        + (f"{recovery:.1f} s" if recovery is not None else "NOT RECOVERED")
        + f"; 2xx {counts.accepted}, rows {counts.rows}, bus events {counts.events} "
        f"(+{counts.duplicates} duplicate records), matrix {counts.matrix}, "
        f"DLQ {counts.dead_letters}, unscored {counts.unscored}; {rate:.0f} POST/s; "
        f"retries {dict(load.stats.retries)}"
    )
    assert not load.stats.refused, load.stats.refused[:3]
    assert recovery is not None, f"not drained: {counts}\n{tail(platform.log_path)}"
    assert counts.accepted > posted, "the load went on after the restart"
    assert counts.rows == counts.events == counts.matrix == counts.accepted
    assert counts.dead_letters == 0
    assert counts.unscored == 0
    if sig is signal.SIGTERM:  # uvicorn ends by raising the signal again, once shut down
        assert "Application shutdown complete" in platform.log_path.read_text(errors="replace")
