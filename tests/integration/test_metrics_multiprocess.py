"""/metrics adds up the requests of every worker process (prometheus_client multiprocess mode)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_aggregate_two_uvicorn_workers(tmp_path: Path, kafka_bootstrap: str) -> None:
    port = free_port()
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "CITELA_DATA_DIR": str(tmp_path / "var"),
        "CITELA_LOG_JSON": "true",
    }
    for key in ("CITELA_DATABASE_URL", "CITELA_REDIS_URL"):
        env.pop(key, None)
    # Several workers are a distributed deployment: Kafka's bus (the embedded one has a
    # single owner process), consumer groups of this test's own.
    env["CITELA_KAFKA_BOOTSTRAP"] = kafka_bootstrap
    env["CITELA_CONSUMER_GROUP_SUFFIX"] = f".{tmp_path.name}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "citela_platform.cli",
            "serve",
            "catalogue",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            server.terminate()
            raise AssertionError(f"server did not start: {server.communicate(timeout=10)[1]!r}")
        for _ in range(60):  # new connections each time: both workers get some
            with httpx.Client() as client:
                r = client.get(f"{base}/healthz", headers={"Connection": "close"})
                assert r.status_code == 200
        text = httpx.get(f"{base}/metrics").text
        pids = {p.name.split("_")[-1] for p in multiproc.glob("*.db")}
        assert len(pids) >= 2, "two worker processes wrote metrics"
        counted = re.search(
            r'citela_http_requests_total\{method="GET",route="/healthz",service="catalogue",'
            r'status="200"\} (\d+(?:\.\d+)?)',
            text,
        )
        assert counted is not None, text[:2000]
        assert float(counted.group(1)) >= 61  # the 60 above plus at least the first probe
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
