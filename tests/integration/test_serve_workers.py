"""`citela serve --workers 2` comes up and stays up on a saturated host: no kill-restart loop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SATURATED_S = 25  # how long the requests run while busy loops take every core
SERVE = [sys.executable, "-m", "citela_platform.cli", "serve", "catalogue"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workers_of(pid: int) -> set[int]:
    """The worker processes uvicorn's supervisor ``pid`` spawned (not its resource tracker)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:  # gone meanwhile
                continue
            if b"spawn_main" in cmdline:
                found.add(int(child))
    return found


@contextmanager
def busy_loops(count: int, seconds: float) -> Iterator[None]:
    """``count`` processes spinning on a core each, for at most ``seconds``."""
    spin = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def test_two_workers_come_up_and_stay_up_while_the_host_is_saturated(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CITELA_DATA_DIR": str(tmp_path / "var"),
        "CITELA_LOG_JSON": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        # Start cold, as a host without compiled bytecode does: no .pyc written or read.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPYCACHEPREFIX": str(tmp_path / "no-pycache"),
    }
    (tmp_path / "prom").mkdir()
    for key in ("CITELA_DATABASE_URL", "CITELA_REDIS_URL"):
        env.pop(key, None)
    # Several workers are a distributed deployment: Kafka's bus (the embedded one has a
    # single owner process), consumer groups of this test's own.
    env["CITELA_KAFKA_BOOTSTRAP"] = kafka_bootstrap
    env["CITELA_CONSUMER_GROUP_SUFFIX"] = f".{tmp_path.name}"
    cores = os.cpu_count() or 2
    log = tmp_path / "serve.log"
    with busy_loops(cores, seconds=180), log.open("wb") as err:
        server = subprocess.Popen(
            [*SERVE, "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 150
            up = False
            while not up and time.monotonic() < deadline and server.poll() is None:
                try:
                    up = httpx.get(f"{base}/healthz", timeout=5).status_code == 200
                except httpx.HTTPError:
                    time.sleep(0.5)
            assert up, f"server did not start: {log.read_text()[-3000:]}"
            # Both workers spawned (uvicorn answers as soon as the first one serves).
            while time.monotonic() < deadline and len(workers_of(server.pid)) < 2:
                time.sleep(0.5)
            workers = workers_of(server.pid)
            assert len(workers) == 2, log.read_text()[-3000:]

            answered = failed = 0
            end = time.monotonic() + SATURATED_S
            while time.monotonic() < end:
                try:
                    with httpx.Client(timeout=15) as client:  # a new connection each time
                        r = client.get(f"{base}/healthz", headers={"Connection": "close"})
                    answered += r.status_code == 200
                    failed += r.status_code != 200
                except httpx.HTTPError:
                    failed += 1
            assert failed == 0, (answered, failed, log.read_text()[-3000:])
            assert answered > 0
            assert workers_of(server.pid) == workers, "no worker was killed and replaced"
            logged = log.read_text()
            assert "died" not in logged, logged[-3000:]
            assert "was not ready in time" not in logged, logged[-3000:]
            assert server.poll() is None
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
