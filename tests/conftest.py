"""Shared fixtures: the real infrastructure (started by deploy/infra.sh) and test stacks.

Tests marked ``infra`` need Kafka, PostgreSQL and Redis. They never skip: when the servers
are missing they fail and say how to start them, so CI cannot pass without them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The servers of deploy/infra.sh, on the ports it was given (CITELA_*_PORT), unless the
# CITELA_TEST_* URLs point elsewhere.
KAFKA = os.environ.get(
    "CITELA_TEST_KAFKA_BOOTSTRAP", f"127.0.0.1:{os.environ.get('CITELA_KAFKA_PORT', '9092')}"
)
PG_URL = os.environ.get(
    "CITELA_TEST_DATABASE_URL",
    f"postgresql+psycopg://citela:citela@127.0.0.1:{os.environ.get('CITELA_PG_PORT', '5432')}"
    "/citela_test",
)
REDIS_URL = os.environ.get(
    "CITELA_TEST_REDIS_URL", f"redis://127.0.0.1:{os.environ.get('CITELA_REDIS_PORT', '6379')}/15"
)


def _answers(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def require(what: str, hostport: str) -> None:
    if not _answers(hostport):
        pytest.fail(
            f"{what} does not answer on {hostport}: run `deploy/infra.sh up` first "
            "(`make test` does it)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    require("Kafka", KAFKA)
    return KAFKA


@pytest.fixture(scope="session")
def pg_url() -> str:
    require("PostgreSQL", "127.0.0.1:" + PG_URL.rsplit(":", 1)[1].split("/")[0])
    return PG_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    require("Redis", REDIS_URL.split("//")[1].rsplit("/", 1)[0])
    return REDIS_URL


@pytest.fixture
def topic() -> str:
    """A fresh topic name, so tests never see each other's events."""
    return f"test.{uuid.uuid4().hex[:12]}"


def infra_script(*args: str, timeout: float = 180) -> None:
    subprocess.run(
        [str(ROOT / "deploy" / "infra.sh"), *args], check=True, timeout=timeout, cwd=ROOT
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'citela.db'}"


@pytest.fixture(autouse=True, scope="session")
def _no_ambient_platform_urls() -> Iterator[None]:
    """Each test picks its mode explicitly: URLs exported in the shell must not switch it."""
    names = ("CITELA_DATABASE_URL", "CITELA_KAFKA_BOOTSTRAP", "CITELA_REDIS_URL")
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    yield
    os.environ.update(saved)
