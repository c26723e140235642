"""/readyz tells the truth fast, and an outage answers 503 + Retry-After, never 500.

The four services run as real processes (``python -m citela_<service>``), each pointed at:
- Kafka on a port where nothing listens (down from the start: a service starts without it);
- a PRIVATE Redis started here (``redis-server`` on a free port), killed to take Redis down;
- the shared PostgreSQL through a TCP forwarder of this test, stopped to take PostgreSQL down
  (new connections refused, open ones dropped: what a stopped server does to its clients).
The shared servers are never touched. Each probe of /readyz must answer in under 100 ms with
the right verdict: the database required (503), Kafka and Redis reported (200 "degraded").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from citela_catalogue.service import build_runtime as build_catalogue
from citela_common.bus.memory import InProcessBus
from citela_common.cache import RedisCache
from citela_common.events import CloudEvent
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback import partners, tenants
from citela_feedback.service import build_runtime as build_feedback
from citela_platform.embedded import create_embedded_app
from tests.catalogue import factories as cf
from tests.support.live_server import live_server

pytestmark = pytest.mark.infra

SERVICES = ("feedback", "catalogue", "analytics", "ingest")
READYZ_BUDGET_S = 0.1
ROOT = Path(__file__).resolve().parents[2]
SHARED_PORTS = {5432, 6379, 9092, 9093}


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in SHARED_PORTS:
            return port


class TcpForwarder:
    """127.0.0.1:<port> forwarded to ``target``; ``stop()`` refuses new connections and drops
    the open ones, ``start()`` takes them again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> None:
        self._call(self._start())

    def stop(self) -> None:
        self._call(self._stop())

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _listens(self.port), 10, "the private Redis")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.1)


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class World:
    services: dict[str, Service]
    redis: PrivateRedis
    postgres: TcpForwarder
    tenant: str
    api_key: str
    entry_id: str


# One client for the probes: creating one (its TLS context) costs tens of milliseconds.
PROBES = httpx.Client(timeout=5)


def readyz(base: str) -> tuple[httpx.Response, float]:
    """One probe of /readyz and how long it took, as a load balancer's probe would see it."""
    started = time.perf_counter()
    response = PROBES.get(f"{base}/readyz")
    return response, time.perf_counter() - started


def states(response: httpx.Response) -> dict[str, str]:
    return {name: check["state"] for name, check in response.json()["checks"].items()}


def seed(settings: Settings, tenant: str) -> tuple[str, str]:
    """A tenant with a partner key and one entry known to the feedback and catalogue
    services, written straight to their tables (Kafka is down for this whole module)."""
    entry = cf.entry(f"mediatheque-{tenant}", "Médiathèque François-Mitterrand", "64445")
    events: list[CloudEvent] = [cf.event(d, tenant) for d in [*cf.GEOGRAPHY, entry]]
    feedback = build_feedback(settings, InProcessBus())
    catalogue = build_catalogue(settings, InProcessBus())
    try:
        feedback.migrate()
        catalogue.migrate()
        with feedback.db.transaction() as session:
            scope_to_tenant(session, tenant)
            tenants.create(
                session,
                code=tenant,
                name="Ville de Pau",
                siren="216404459",
                territory_codes=["64445"],
            )
            app = partners.create_app(
                session, tenant=tenant, name="Appli Pau", rate_limit_per_minute=600
            )
            key = partners.create_key(session, app, scopes=["feedback:write"], tenants=[tenant]).key
        for runtime in (feedback, catalogue):
            for spec in runtime.consumers:
                if spec.batch_handler is not None and "catalogue" in " ".join(spec.topics):
                    spec.batch_handler(events)
    finally:
        feedback.db.dispose()
        catalogue.db.dispose()
    return key, entry.entry_id


@pytest.fixture(scope="module")
def world(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    host, port = pg_url.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)
    postgres = TcpForwarder((host, int(port)))
    postgres.start()
    redis = PrivateRedis()
    redis.start()
    proxied = pg_url.replace(f"@{host}:{port}/", f"@127.0.0.1:{postgres.port}/")
    tenant = f"pau-{uuid.uuid4().hex[:8]}"
    api_key, entry_id = seed(Settings(database_url=pg_url), tenant)
    logs = tmp_path_factory.mktemp("readiness")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CITELA_")}
    env.update(
        CITELA_DATABASE_URL=proxied,
        CITELA_REDIS_URL=redis.url,
        CITELA_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",  # nothing listens there
        CITELA_CONSUMER_GROUP_SUFFIX=".readiness",
        CITELA_ENVIRONMENT="test",
        CITELA_LOG_JSON="false",
    )
    services: dict[str, Service] = {}
    try:
        for name in SERVICES:
            port_ = free_port()
            log = logs / f"{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", f"citela_{name}", "--port", str(port_)],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            services[name] = Service(name, port_, process, log)
        for service in services.values():

            def up(s: Service = service) -> bool:
                if s.process.poll() is not None:
                    raise AssertionError(f"{s.name} exited:\n{s.log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    return httpx.get(f"{s.base}/healthz", timeout=1).status_code == 200
                return False

            wait_for(up, 120, f"{service.name} to start")
        yield World(services, redis, postgres, tenant, api_key, entry_id)
    finally:
        for service in services.values():
            service.process.terminate()
        for service in services.values():
            try:
                service.process.wait(15)
            except subprocess.TimeoutExpired:
                service.process.kill()
        redis.kill()
        postgres.close()


def settle(world: World, name: str, check: str, state: str, timeout_s: float = 10) -> None:
    """Wait until the service's probe threads saw the change (they probe every second)."""
    base = world.services[name].base
    wait_for(lambda: states(readyz(base)[0]).get(check) == state, timeout_s, f"{name} {check}")


def assert_fast(world: World, expected: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """Each service's /readyz: its (status code, verdict) and under 100 ms, every probe."""
    bodies = {}
    for name, (code, verdict) in expected.items():
        timings = []
        for _ in range(5):
            response, took = readyz(world.services[name].base)
            timings.append(took)
        assert (response.status_code, response.json()["readiness"]) == (code, verdict), (
            name,
            response.text,
        )
        assert max(timings) < READYZ_BUDGET_S, (name, timings)
        if code == 503:
            assert response.headers["retry-after"] == "5"
            assert response.json()["title"] == "Service momentanément indisponible"
        print(f"readyz {name}: {code} {verdict}, slowest of 5: {max(timings) * 1000:.1f} ms")
        bodies[name] = response.json()
    return bodies


def post_feedback(world: World) -> httpx.Response:
    return httpx.post(
        f"{world.services['feedback'].base}/v1/tenants/{world.tenant}/feedback",
        json={
            "entry_id": world.entry_id,
            "satisfaction": 4,
            "importance": 5,
            "comment": "Accueil très aimable, horaires pratiques.",
            "user_ref": f"usager-{uuid.uuid4().hex[:6]}",
        },
        headers={"X-API-Key": world.api_key, "Idempotency-Key": uuid.uuid4().hex},
        timeout=20,
    )


def read_entries(world: World) -> httpx.Response:
    # A query of its own each time: never a body the cache already holds.
    return httpx.get(
        f"{world.services['catalogue'].base}/v1/tenants/{world.tenant}/entries",
        params={"limit": 1 + uuid.uuid4().int % 150},
        timeout=20,
    )


def test_kafka_down_the_apis_stay_ready_degraded_and_take_writes(world: World) -> None:
    for name in SERVICES:
        settle(world, name, "bus", "failing")
    bodies = assert_fast(world, {name: (200, "degraded") for name in SERVICES})
    for name in SERVICES:
        checks = bodies[name]["checks"]
        assert checks["database"]["state"] == "ok"
        assert checks["bus"]["required"] is False
        assert "Unable to bootstrap" in checks["bus"]["last_error"]
        assert checks["bus"]["since"]
    for name in ("feedback", "catalogue", "analytics"):
        assert bodies[name]["checks"]["redis"]["state"] == "ok"
    assert "redis" not in bodies["ingest"]["checks"]
    # The outbox holds the event: a 2xx, and the relay's backlog reports it.
    assert post_feedback(world).status_code == 201
    settle(world, "feedback", "outbox", "failing", timeout_s=20)
    outbox = readyz(world.services["feedback"].base)[0].json()["checks"]["outbox"]
    assert outbox["backlog"] >= 1
    assert "citela" not in (outbox["last_error"] or "") or "@" not in outbox["last_error"]


def test_redis_down_reads_and_partner_posts_still_succeed(world: World) -> None:
    assert read_entries(world).status_code == 200  # primes the cache
    world.redis.kill()
    try:
        for name in ("feedback", "catalogue", "analytics"):
            settle(world, name, "redis", "failing")
        bodies = assert_fast(world, {name: (200, "degraded") for name in SERVICES})
        assert "Connection refused" in bodies["catalogue"]["checks"]["redis"]["last_error"]
        read = read_entries(world)
        assert read.status_code == 200, read.text
        assert read.json()["items"][0]["title"] == "Médiathèque François-Mitterrand"
        posted = post_feedback(world)
        assert posted.status_code == 201, posted.text
    finally:
        world.redis.start()
    for name in ("feedback", "catalogue", "analytics"):
        settle(world, name, "redis", "ok")


def test_postgresql_down_not_ready_and_503_with_retry_after(world: World) -> None:
    world.postgres.stop()
    try:
        for name in SERVICES:
            settle(world, name, "database", "failing")
        bodies = assert_fast(world, {name: (503, "not-ready") for name in SERVICES})
        for body in bodies.values():
            error = body["checks"]["database"]["last_error"]
            assert error
            assert "citela:citela" not in error  # no credentials
        read = read_entries(world)
        posted = post_feedback(world)
        for response in (read, posted):
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "5"
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["title"] == "Service momentanément indisponible"
    finally:
        world.postgres.start()
    for name in SERVICES:
        settle(world, name, "database", "ok")
    assert post_feedback(world).status_code == 201


def test_embedded_platform_aggregate(tmp_path: Path, pg_url: str) -> None:
    """The embedded platform's /readyz: ready on its own files; on PostgreSQL through the
    forwarder, not ready once it stops, naming each service's database."""
    host, port = pg_url.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)
    postgres = TcpForwarder((host, int(port)))
    postgres.start()
    try:
        for url in (None, pg_url.replace(f"@{host}:{port}/", f"@127.0.0.1:{postgres.port}/")):
            settings = Settings(data_dir=tmp_path / "var", database_url=url)
            with live_server(create_embedded_app(settings)) as base:
                wait_for(lambda: readyz(base)[0].status_code == 200, 30, "embedded ready")
                probes = [readyz(base) for _ in range(5)]
                response = probes[-1][0]
                assert all(r.json()["readiness"] == "ready" for r, _ in probes)
                assert sorted(t for _, t in probes)[2] < READYZ_BUDGET_S, [t for _, t in probes]
                assert {f"{s}.database" for s in SERVICES} <= set(response.json()["checks"])
                if url is None:
                    continue
                postgres.stop()
                databases = {f"{s}.database" for s in SERVICES}

                def all_failing(b: str = base, names: set[str] = databases) -> bool:
                    return all(states(readyz(b)[0])[d] == "failing" for d in names)

                wait_for(all_failing, 15, "each service's database failing")
                probes = [readyz(base) for _ in range(5)]
                assert all(r.json()["readiness"] == "not-ready" for r, _ in probes)
                # In this test's own process (the GIL shared with the client): the median.
                took = sorted(t for _, t in probes)[2]
                assert took < READYZ_BUDGET_S, [t for _, t in probes]
                postgres.start()
    finally:
        postgres.close()


def test_cache_fails_open_and_redoes_a_missed_bump(tmp_path: Path) -> None:
    """Redis out of reach (its data kept, as in a network cut): the cache misses, stores
    nothing, and a tenant's bump it missed is done as soon as Redis answers again, so the
    body cached before the change is never served after it."""
    redis = PrivateRedis()
    redis.start()
    link = TcpForwarder(("127.0.0.1", redis.port))
    link.start()
    try:
        cache = RedisCache(f"redis://127.0.0.1:{link.port}/0", "citela:test-readiness")
        before = cache.generation("pau")
        cache.set(f"pau:{before}:/entries", b"ancienne liste", 300)
        link.stop()
        cache.bump("pau")  # a change committed while Redis is out of reach
        assert cache.get(f"pau:{before}:/entries") is None  # a miss, not an error
        assert cache.generation("pau") < 0  # a generation of its own: nothing kept under it
        cache.set("pau:x", b"rien", 300)  # skipped, no error
        link.start()
        assert cache.ping()  # the readiness probe's, every second
        assert cache.generation("pau") == before + 1  # the missed bump, redone
        assert cache.get(f"pau:{cache.generation('pau')}:/entries") is None
    finally:
        link.close()
        redis.kill()
