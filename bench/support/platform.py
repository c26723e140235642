"""The platform's processes as it is deployed, started by a benchmark: ``citela serve <service>
--workers N``, ``citela run`` (embedded) and the Celery worker, each a process of its own.

Every process gets the benchmark's settings as ``CITELA_*`` variables and nothing else of
ours (the caller's ``CITELA_*`` are dropped), runs from an empty directory (no ``.env`` is
read), logs to a file of its own, and is stopped (SIGTERM to its process group, then SIGKILL)
when the benchmark leaves the ``started`` block.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from citela_common.settings import Settings

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The variables a platform process gets: ``settings`` as ``CITELA_*`` plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CITELA_")}
    values = {
        "CITELA_DATA_DIR": str(settings.data_dir),
        "CITELA_LOG_LEVEL": settings.log_level,
        "CITELA_LOG_JSON": "false",
        "CITELA_KAFKA_CLIENT_ID": settings.kafka_client_id,
        "CITELA_CONSUMER_GROUP_SUFFIX": settings.consumer_group_suffix,
    }
    for name, value in (
        ("CITELA_DATABASE_URL", settings.database_url),
        ("CITELA_KAFKA_BOOTSTRAP", settings.kafka_bootstrap),
        ("CITELA_REDIS_URL", settings.redis_url),
    ):
        if value:
            values[name] = value
    env.update(values)
    env.update(extra)
    return env


def serve_command(service: str, port: int, workers: int = 1) -> list[str]:
    """``citela serve <service>``, as the deployment runs it."""
    return [
        str(BIN / "citela"),
        "serve",
        service,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def run_command(port: int) -> list[str]:
    """``citela run``: the embedded platform, one process."""
    return [str(BIN / "citela"), "run", "--host", "127.0.0.1", "--port", str(port)]


def celery_command(concurrency: int = 1) -> list[str]:
    """The platform's Celery worker (every service's queue, all tasks in one process), no beat."""
    return [
        str(BIN / "celery"),
        "-A",
        "citela_platform.celery_app",
        "worker",
        "--loglevel=WARNING",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
    ]


@contextmanager
def started(
    name: str,
    command: Sequence[str],
    env: dict[str, str],
    workdir: Path,
    *,
    health_url: str | None = None,
    timeout_s: float = 180,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running in ``workdir`` (its output in ``workdir/<name>.log``), up once
    ``health_url`` answers 200 (or at once without one); stopped on exit."""
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while health_url is not None:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: {tail(log_path)}")
            try:
                if httpx.get(health_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {tail(log_path)}")
            time.sleep(0.3)
        yield process
    finally:
        stop(process)
        if process.returncode not in (0, -signal.SIGTERM):
            print(f"{name} stopped with {process.returncode}: {tail(log_path)}")


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def forget_tasks(redis_url: str, marker: str, queue: str = "celery") -> int:
    """Drop the Celery messages left in ``queue`` whose arguments mention ``marker`` (a run's
    tenant): tasks still waiting for their countdown when the worker stopped go back to the
    queue, and the next worker on this broker would run them. Returns how many went."""
    import redis

    client = redis.Redis.from_url(redis_url)
    dropped = 0
    try:
        for raw in client.lrange(queue, 0, -1):
            try:
                headers = json.loads(raw).get("headers") or {}
            except ValueError:
                continue
            if marker in str(headers.get("argsrepr", "")):
                dropped += int(client.lrem(queue, 1, raw))
    finally:
        client.close()
    return dropped


def cpu_seconds(group: int) -> float:
    """CPU time (user + system) of the live processes of process group ``group`` (a process
    ``started`` leads its own group: its uvicorn or Celery workers are in it), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
