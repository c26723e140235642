"""A Celery worker configured by citela_common.tasks lives through a Redis restart with tasks
in flight: it reconnects by itself, runs what is sent afterwards, logs no AttributeError, and
every task sent before is either done or still held by the (persistent) broker for redelivery.

Its own Redis: ``deploy/infra.sh`` on a private folder and port (never the shared server).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.deploy import celery_probe

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "infra.sh"
pytestmark = pytest.mark.timeout(240)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], object], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"still not {what} after {timeout_s} s"
        time.sleep(0.2)


def infra(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(INFRA), *args], env=env, check=True, capture_output=True, timeout=60)


@pytest.fixture
def private_redis() -> Iterator[tuple[dict[str, str], str]]:
    folder = Path(tempfile.mkdtemp(prefix="citela-celery-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITELA_")}
    env.update(CITELA_INFRA_DIR=str(folder / "instance"), CITELA_REDIS_PORT=str(port))
    infra(env, "start", "redis")
    try:
        yield env, f"redis://127.0.0.1:{port}/0"
    finally:
        subprocess.run([str(INFRA), "purge"], env=env, capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_worker_survives_a_redis_restart_with_tasks_in_flight(
    private_redis: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, url = private_redis
    done = tmp_path / "done"
    done.mkdir()
    log = tmp_path / "worker.log"
    worker_env = {**env, "CITELA_REDIS_URL": url, "CITELA_PROBE_DIR": str(done)}
    worker_env["PYTHONPATH"] = str(ROOT)
    celery = str(Path(sys.executable).with_name("celery"))
    with log.open("w") as out:
        worker = subprocess.Popen(
            [
                celery,
                "-A",
                "tests.deploy.celery_probe",
                "worker",
                f"--queues={celery_probe.QUEUE}",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = redis.Redis.from_url(url)
    sender = celery_probe.app
    sender.conf.broker_url = url
    sender.conf.task_always_eager = False  # this process only sends
    try:
        wait_for("ready", lambda: " ready." in log.read_text(), 90)
        before = [f"avant-{n}" for n in range(6)]
        for name in before:
            sender.send_task(celery_probe.TASK, args=[name, 2.0])
        wait_for("tasks in flight", lambda: client.hlen("unacked") > 0, 30)
        infra(env, "restart", "redis")
        after = [f"après-{n}" for n in range(3)]
        for name in after:
            sender.send_task(celery_probe.TASK, args=[name, 0.1])
        wait_for(
            "the tasks sent after the restart done",
            lambda: all((done / n).exists() for n in after),
            90,
        )
        assert worker.poll() is None, "the worker died"
        text = log.read_text()
        assert "AttributeError" not in text, text[-3000:]
        assert "Unrecoverable error" not in text
        # every task sent before: done, or held by the broker (waiting or unacknowledged)
        wait_for("the queue drained", lambda: client.llen(celery_probe.QUEUE) == 0, 60)
        finished = {n for n in before if (done / n).exists()}
        held = client.hlen("unacked")
        assert len(finished) + held >= len(before), (finished, held)
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        client.close()
